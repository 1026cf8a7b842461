"""Correlation speed: ~1M client events and ~3M server records correlated from scratch.

Simulates a shop with about 4M records (the simulator's own mix is ~1 client event per 3
server records), ingests it, then times `seamline correlate --full` and reports its peak
memory (the process's max RSS grows by what correlation needs; DuckDB's memory is inside
it). As the in-run reference, it times a plain DuckDB scan-and-aggregate over the same
events table. Target: <= 20 s and <= 4 GB.

Set SEAMLINE_BENCH_EVENTS to run a smaller case (e.g. 400000) while developing.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from seamline.app import App
from seamline.correlate import correlate
from seamline.settings import Settings
from seamline.simulate import simulate

EVENTS = int(os.environ.get("SEAMLINE_BENCH_EVENTS", "4000000"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        simulate(root / "sim", seed=21, events=EVENTS, duration_s=7 * 86400)
        print(f"simulated {EVENTS:,} records in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        app = App(Settings({"home": root / "home"}))
        t = time.perf_counter()
        for folder in ("client", "gateway", "services", "otlp"):
            for path in sorted((root / "sim" / folder).iterdir()):
                if path.name != "log_format.txt":
                    app.ingestor.ingest_file(path)
        app.ingestor.ingest_file(root / "sim" / "legacy" / "access.log", options={"service": "legacy"})
        app.writer.flush()
        print(f"ingested in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        counts = app.store.query(
            "SELECT count(*) FILTER (WHERE source IN ('client_events', 'segment')) AS client, "
            "count(*) FILTER (WHERE source NOT IN ('client_events', 'segment')) AS server FROM events"
        ).to_pylist()[0]
        t = time.perf_counter()
        app.store.query(
            "SELECT kind, route, count(*), avg(duration_ms), count(DISTINCT trace_id) FROM events GROUP BY ALL"
        )
        scan_s = time.perf_counter() - t
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t = time.perf_counter()
        result = correlate(app.store, full=True)
        seconds = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        app.close()
    print(f"events: {counts['client']:,} client, {counts['server']:,} server")
    print(f"correlate --full: {seconds:.1f} s (target <= 20 s); exact links {sum(result.links.values()):,}, "
          f"scored links {result.links_scored:,}, transactions {result.transactions:,}")
    print(f"peak RSS: {peak / 1e9:.2f} GB (target <= 4 GB; {rss_before / 1e9:.2f} GB before correlating)")
    print(f"reference: one DuckDB group-by scan over all events: {scan_s:.2f} s; ratio {seconds / scan_s:.0f}x")


if __name__ == "__main__":
    main()
