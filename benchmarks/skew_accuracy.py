"""Clock-skew accuracy and speed on a big simulated shop, against the simulator's truth.

Simulates SEAMLINE_BENCH_EVENTS records (default 4M: ~1M client events, ~3M server records,
over a week), ingests them, builds exact links and times `estimate_skew` over everything.
Then reports the error of the stored offsets vs truth (median / p90 / p99 |error|, per method,
for sessions with >= 3 exactly linked requests) beside the ingest-time estimate's error.

Then two harder cases on the same data, each from a fresh copy of the store:
- `no_ids_half`: the ids of half the sessions stripped (device carry and alignment place them);
- `no_spans`: no OTLP spans, so only whole-second access-log lines pair with client requests.

Usage: python benchmarks/skew_accuracy.py [WORKDIR]   (WORKDIR keeps the simulation and the
ingested store between runs; a temporary directory otherwise)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from seamline.app import App
from seamline.correlate.evaluate_skew import evaluate_skew
from seamline.correlate.exact import link_exact
from seamline.correlate.run import _clear, _window
from seamline.correlate.skew import estimate_skew
from seamline.settings import Settings
from seamline.simulate import raw_inputs, simulate

EVENTS = int(os.environ.get("SEAMLINE_BENCH_EVENTS", "4000000"))
CASES = {
    "all_ids": None,
    "no_ids_half": "UPDATE events SET trace_id = NULL, span_id = NULL, parent_span_id = NULL "
    "WHERE client_ts IS NOT NULL AND hash(session_id) % 2 = 0",
    "no_spans": "DELETE FROM events WHERE source = 'otlp_traces'",
}


def _prepare(root: Path) -> tuple[Path, Path]:
    sim, base = root / "sim", root / "base"
    if not (sim / "truth" / "summary.json").exists():
        t = time.perf_counter()
        simulate(sim, seed=21, events=EVENTS, duration_s=7 * 86400)
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
    return sim, base


def _case(name: str, prepare: str | None, sim: Path, base: Path, root: Path) -> dict[str, Any]:
    home = root / f"case_{name}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home)
    app = App(Settings({"home": home}))
    try:
        if prepare:
            app.store.execute(prepare)
        run_id = uuid.uuid4().hex[:16]
        with app.store.transaction() as con:
            window, _ = _window(con, True, timedelta(minutes=30))
            _clear(con, window)
            link_exact(con, window, run_id)
            t = time.perf_counter()
            stats = estimate_skew(con, window, run_id)
            seconds = time.perf_counter() - t
        report = evaluate_skew(app.store, sim / "truth")
    finally:
        app.close()
        shutil.rmtree(home, ignore_errors=True)
    return {"estimate_skew_s": round(seconds, 2), "stats": stats.as_dict(), "accuracy": report}


def main() -> None:
    """Run every case and print one JSON document."""
    keep = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        sim, base = _prepare(root)
        out = {name: _case(name, sql, sim, base, root) for name, sql in CASES.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
