"""Accuracy of exact and scored links (and of skew correction) against the simulator's truth.

The scenario of the issue: 30% of the requests that reach a server carry no ids (the legacy
widgets' XHRs, and whole devices whose SDK never sends a traceparent), device clocks off by up
to ±5 minutes, and access logs with only second-resolution $time_local plus $request_time.
One simulated day of SEAMLINE_BENCH_EVENTS records (default 1M) is ingested and correlated by
the orchestrator; then the links are judged against truth/links.ndjson.

Cases, each on a fresh copy of the ingested store:
- `scenario`: as simulated (id-less devices still get Server-Timing on their page loads);
- `dark_devices`: those devices' page views lose their ids too, so their sessions have no
  exact link at all (no session IP, skew from device history or alignment only).

Besides the run at the configured threshold, a diagnostic pass per evidence set links every
request's best candidate (threshold 0, rolled back afterwards) so the reliability table covers
the whole confidence range: with all evidence nearly every link is certain, so calibration
shows best with less (time alone, time + user agent, ...).

Usage: python benchmarks/correlation_accuracy.py [WORKDIR]   (WORKDIR keeps the simulation,
the ingested store and correlation_accuracy.json between runs; a temporary directory otherwise)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from seamline.app import App
from seamline.correlate import correlate
from seamline.correlate._window import Window
from seamline.correlate.evaluate import evaluate_connection, evaluate_links
from seamline.correlate.scored import EVIDENCE, link_scored
from seamline.settings import Settings
from seamline.simulate import DEFAULT_START, SimConfig, raw_inputs
from seamline.simulate.runner import run

EVENTS = int(os.environ.get("SEAMLINE_BENCH_EVENTS", "1000000"))
THRESHOLD = 0.9
SCENARIO = {"legacy_share": 0.18, "idless_device_share": 0.27, "max_clock_offset_ms": 300_000.0}
CASES: dict[str, str | None] = {
    "scenario": None,
    "dark_devices": (
        "UPDATE events SET trace_id = NULL, span_id = NULL, parent_span_id = NULL "
        "WHERE kind = 'page_view' AND session_id NOT IN "
        "(SELECT session_id FROM events WHERE kind = 'client_request' AND span_id IS NOT NULL)"
    ),
}
DIAGNOSTIC_EVIDENCE: dict[str, tuple[str, ...]] = {
    "all": EVIDENCE,
    "no_bytes": ("ua", "ip", "duration"),
    "time_ua": ("ua",),
    "time_only": (),
}


def _prepare(root: Path) -> tuple[Path, Path, dict[str, Any]]:
    sim, base = root / "sim", root / "base"
    if not (sim / "truth" / "summary.json").exists():
        t = time.perf_counter()
        cfg = SimConfig(seed=11, events=EVENTS, duration_s=86_400.0, start_ms=DEFAULT_START.timestamp() * 1000.0,
                        **SCENARIO)  # fmt: skip
        run(cfg, sim)
        print(f"simulated {EVENTS:,} records in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if not (base / "seamline.duckdb").exists():
        shutil.rmtree(base, ignore_errors=True)
        app = App(Settings({"home": base}))
        t = time.perf_counter()
        for path, options in raw_inputs(sim):
            app.ingestor.ingest_file(path, options=options)
        app.writer.flush()
        app.close()
        print(f"ingested in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    summary = json.loads((sim / "truth" / "summary.json").read_text())
    return sim, base, summary


def _diagnostic(app: App, truth: Path, evidence: tuple[str, ...]) -> dict[str, Any]:
    """Every best candidate linked (threshold 0) with this evidence, judged, then rolled back."""
    run_id, start, end = (
        app.store.query(
            "SELECT correlation_run_id, window_start, window_end FROM correlation_runs "
            "WHERE status = 'done' ORDER BY started_at DESC LIMIT 1"
        )
        .to_pylist()[0]
        .values()
    )
    con = app.store.cursor()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM links WHERE method = 'scored' AND correlation_run_id = ?", [run_id])
        con.execute("DELETE FROM unlinked_requests WHERE correlation_run_id = ?", [run_id])
        stats = link_scored(con, Window(_aware(start), _aware(end)), run_id, 0.0, evidence=evidence)
        report = evaluate_connection(con, truth, run_id)
    finally:
        con.execute("ROLLBACK")
        con.close()
    return {"seconds": round(stats.seconds, 2), "scored": report["scored"], "reliability": report["reliability"]}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.astimezone()


def _case(name: str, prepare: str | None, sim: Path, base: Path, root: Path) -> dict[str, Any]:
    home = root / f"case_{name}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home)
    app = App(Settings({"home": home}))
    try:
        if prepare:
            app.store.execute(prepare)
        t = time.perf_counter()
        result = correlate(app.store, full=True, match_threshold=THRESHOLD)
        seconds = time.perf_counter() - t
        out: dict[str, Any] = {"correlate_s": round(seconds, 2), "result": result.as_dict()}
        out["accuracy"] = evaluate_links(app.store, sim / "truth")
        try:
            from seamline.correlate.evaluate_skew import evaluate_skew
        except ImportError:
            out["skew"] = None
        else:
            out["skew"] = evaluate_skew(app.store, sim / "truth")
        out["diagnostic"] = {k: _diagnostic(app, sim / "truth", ev) for k, ev in DIAGNOSTIC_EVIDENCE.items()}
    finally:
        app.close()
        shutil.rmtree(home, ignore_errors=True)
    return out


def _table(rows: list[dict[str, Any]], indent: str = "    ") -> list[str]:
    lines = [f"{indent}{'confidence':<16}{'links':>8}{'mean conf':>11}{'precision':>11}"]
    lines += [
        f"{indent}{r['bin']:<16}{r['links']:>8}{r['mean_confidence']:>11.4f}{r['precision']:>11.4f}" for r in rows
    ]
    return lines


def _report(summary: dict[str, Any], cases: dict[str, Any]) -> str:
    lines = [
        f"simulated {summary['records']:,} records over {summary['duration_s'] / 3600:g} h: "
        f"{summary['links']:,} requests reached a server, {summary['legacy_share']:.1%} of them without ids; "
        f"device clocks within ±{SCENARIO['max_clock_offset_ms'] / 60000:g} min",
    ]
    for name, case in cases.items():
        acc = case["accuracy"]
        exact, scored = acc["exact"], acc["scored"]
        lines += [
            "",
            f"== {name}: correlate {case['correlate_s']} s (scored links {case['result']['links_scored']:,})",
            f"  exact links:  precision {exact['precision']}  ({exact['correct']:,}/{exact['judged']:,})",
            f"  scored links: precision {scored['precision']}  recall {scored['recall']}  "
            f"({scored['correct']:,} right of {scored['links']:,}; {scored['idless_requests']:,} id-less requests)",
            f"  missed id-less requests by reason: {scored['missed']}",
        ]
        for o in acc["by_origin"]:
            lines.append(
                f"    {o['file']:<22} precision {o['precision']}  recall {o['recall']}  "
                f"({o['scored_links']:,} links, {o['idless_requests']:,} id-less)"
            )
        lines.append(f"  reliability of the links made (threshold {THRESHOLD}):")
        lines += _table(acc["reliability"])
        for ev, diag in case["diagnostic"].items():
            s = diag["scored"]
            sure = [b for b in diag["reliability"] if b["mean_confidence"] >= THRESHOLD]
            n = sum(b["links"] for b in sure)
            right = sum(b["links"] * b["precision"] for b in sure)
            at = f"precision {right / n:.4f}, recall {right / s['idless_requests']:.4f}" if n else "no links"
            lines.append(
                f"  diagnostic, evidence={ev}, every best match linked: precision {s['precision']}; "
                f"those >= {THRESHOLD}: {at} ({diag['seconds']} s)"
            )
            lines += _table(diag["reliability"])
        skew = case.get("skew")
        if skew:
            o, i = skew["overall"], skew["ingest_time"]["overall"]
            lines.append(
                f"  skew |error| median/p90/p99 ms: {o['median_abs_ms']}/{o['p90_abs_ms']}/{o['p99_abs_ms']} "
                f"(ingest-time estimate {i['median_abs_ms']}/{i['p90_abs_ms']}/{i['p99_abs_ms']}); "
                f"methods {skew['session_share']}"
            )
    return "\n".join(lines)


def main() -> None:
    """Run every case, print the figures, and keep the full JSON beside the data."""
    keep = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        sim, base, summary = _prepare(root)
        cases = {name: _case(name, sql, sim, base, root) for name, sql in CASES.items()}
        (root / "correlation_accuracy.json").write_text(json.dumps({"summary": summary, "cases": cases}, indent=1))
        print(_report(summary, cases))


if __name__ == "__main__":
    main()
