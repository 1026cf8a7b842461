"""Peak memory while ingesting a 2 GB log file: ingest streams in bounded batches.

Builds a 2 GB NDJSON file from simulated service logs, ingests it in a child process, and
prints the child's peak RSS; as the in-run reference, the peak RSS of a child that only
imports Seamline and opens the store. Target: peak under 1 GB. To show the ingest streams,
a file of half the size is ingested too: its peak should be about the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _data import cycle_lines, largest, simulated

SIZE = int(float(os.environ.get("SEAMLINE_BENCH_GB", "2")) * 1e9)

CHILD = """
import resource, sys, time
from pathlib import Path
from seamline.app import App
from seamline.settings import Settings
app = App(Settings({"home": Path(sys.argv[1])}))
app.store
if len(sys.argv) > 2:
    t = time.perf_counter()
    r = app.ingestor.ingest_file(Path(sys.argv[2]), source="json_log")
    print(f"{r.records_read} {r.rows_stored} {time.perf_counter() - t:.1f}")
else:
    print("0 0 0")
app.close()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_child(*args: str) -> tuple[list[str], int]:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    return lines[-2].split(), int(lines[-1]) * 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim = simulated(root / "sim")
        big = root / "big.ndjson"
        t = time.perf_counter()
        source = largest(sorted((sim / "services").glob("*.ndjson")))
        n = cycle_lines([source], big, size_bytes=SIZE)
        print(f"input: {big.stat().st_size / 1e9:.2f} GB, {n:,} lines (built in {time.perf_counter() - t:.0f} s)")
        _, base_rss = run_child(str(root / "home0"))
        (read, stored, seconds), peak = run_child(str(root / "home"), str(big))
        big.unlink()
        cycle_lines([source], big, size_bytes=SIZE // 2)
        _, half_peak = run_child(str(root / "home-half"), str(big))
    print(f"ingest: {int(read):,} lines read, {int(stored):,} stored in {seconds} s")
    print(f"peak RSS while ingesting: {peak / 1e6:,.0f} MB (target < 1000 MB)")
    print(f"streaming: peak RSS on a file of half the size {half_peak / 1e6:,.0f} MB; ratio {peak / half_peak:.2f}")
    print(f"reference: peak RSS of import + open store: {base_rss / 1e6:,.0f} MB; ratio {peak / base_rss:.1f}x")


if __name__ == "__main__":
    main()
