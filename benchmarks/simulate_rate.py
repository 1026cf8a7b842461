"""How fast does the simulator write records, against a trivial orjson line-writing loop?

Runs `simulate` for 1M records (override with argv[1]) into a temporary directory and prints
events, seconds, events/s and peak RSS, then the rate of a loop that only writes the same
number of small orjson lines to one file, and the ratio of the two. The loop is the floor
of what any Python writer of JSON lines costs on this machine, so the ratio says how much
the simulation itself adds, independent of how fast the machine is.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

from seamline.simulate import simulate


def trivial_rate(n: int, directory: Path) -> float:
    """Records per second of a loop writing `n` small orjson lines through a buffered file."""
    start = time.perf_counter()
    with (directory / "trivial.ndjson").open("wb", buffering=1 << 20) as fh:
        for i in range(n):
            rec = {"i": i, "ts": 1793577600000.0 + i, "msg": "request finished", "status": 200}
            fh.write(orjson.dumps(rec) + b"\n")
    return n / (time.perf_counter() - start)


def main() -> None:
    """Run the benchmark and print its figures."""
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="seamline-sim-") as tmp:
        out = Path(tmp) / "out"
        start = time.perf_counter()
        summary = simulate(out, seed=7, events=target)
        seconds = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
        rate = summary.records / seconds
        reference = trivial_rate(summary.records, Path(tmp))
    print(f"events          {summary.records:,} (target {target:,})")
    print(f"seconds         {seconds:.2f}")
    print(f"events/s        {rate:,.0f}")
    print(f"peak RSS        {peak_mb:.1f} MiB")
    print(f"trivial loop    {reference:,.0f} lines/s (orjson.dumps + buffered write)")
    print(f"ratio           {reference / rate:.1f}x slower than the trivial loop")


if __name__ == "__main__":
    main()
