"""Correlation speed: ~1M client events and ~3M server records correlated from scratch.

Simulates a shop with about 4M records (the simulator's own mix is ~1 client event per 3
server records), ingests it, then times `seamline correlate --full` and reports its peak
memory (the process's max RSS grows by what correlation needs; DuckDB's memory is inside
it). As the in-run reference, it times a plain DuckDB scan-and-aggregate over the same
events table, right before and right after correlating (other work on the machine slows
both alike, so the ratio is the steadier figure). It also prints the process CPU seconds
(DuckDB's threads included), which contention inflates far less than wall time, and where
the time went, phase by phase. Target: <= 20 s and <= 4 GB.

Set SEAMLINE_BENCH_EVENTS to run a smaller case (e.g. 400000) while developing.

Usage: python benchmarks/correlation_speed.py [WORKDIR]   (WORKDIR keeps the ingested store
between runs, base/seamline.duckdb; each run correlates a fresh copy of it)
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from seamline.app import App
from seamline.correlate import correlate
from seamline.settings import Settings
from seamline.simulate import raw_inputs, simulate

EVENTS = int(os.environ.get("SEAMLINE_BENCH_EVENTS", "4000000"))


def _ingested(root: Path) -> Path:
    """Simulate and ingest into root/base once; later runs with the same WORKDIR reuse it."""
    base = root / "base"
    if (base / "seamline.duckdb").exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    t = time.perf_counter()
    simulate(root / "sim", seed=21, events=EVENTS, duration_s=7 * 86400)
    print(f"simulated {EVENTS:,} records in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    app = App(Settings({"home": base}))
    t = time.perf_counter()
    for path, options in raw_inputs(root / "sim"):
        app.ingestor.ingest_file(path, options=options)
    app.writer.flush()
    app.close()
    shutil.rmtree(root / "sim", ignore_errors=True)
    print(f"ingested in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return base


def main() -> None:
    keep = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        base = _ingested(root)
        home = root / "run"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(base, home)
        app = App(Settings({"home": home}))
        counts = app.store.query(
            "SELECT count(*) FILTER (WHERE source IN ('client_events', 'segment')) AS client, "
            "count(*) FILTER (WHERE source NOT IN ('client_events', 'segment')) AS server FROM events"
        ).to_pylist()[0]
        scan_before = _reference(app)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        load = os.getloadavg()[0]
        t, cpu = time.perf_counter(), time.process_time()
        result = correlate(app.store, full=True)
        seconds, cpu_s = time.perf_counter() - t, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        scan_s = (scan_before + _reference(app)) / 2
        app.close()
        shutil.rmtree(home, ignore_errors=True)
    print(f"events: {counts['client']:,} client, {counts['server']:,} server")
    print(
        f"correlate --full: {seconds:.1f} s (target <= 20 s); exact links {sum(result.links.values()):,}, "
        f"scored links {result.links_scored:,}, transactions {result.transactions:,}"
    )
    print(f"peak RSS: {peak / 1e9:.2f} GB (target <= 4 GB; {rss_before / 1e9:.2f} GB before correlating)")
    print(f"CPU: {cpu_s:.1f} s over {seconds:.1f} s wall (2 cores; load average {load:.1f} when it started)")
    print("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.phases.items()))
    print(
        f"reference: one DuckDB group-by scan over all events: {scan_s:.2f} s (mean of before and after); "
        f"correlation = {seconds / scan_s:.0f}x the reference"
    )


def _reference(app: App) -> float:
    """Seconds of a plain scan-and-aggregate over all events: the machine's speed right now."""
    t = time.perf_counter()
    app.store.query("SELECT kind, route, count(*), avg(duration_ms), count(DISTINCT trace_id) FROM events GROUP BY ALL")
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
