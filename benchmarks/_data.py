"""Benchmark inputs built from the simulator's own output (so they look like real logs)."""

from __future__ import annotations

import itertools
from pathlib import Path

from seamline.simulate import simulate


def simulated(out: Path, events: int = 300_000, seed: int = 11) -> Path:
    """Run the simulator once into `out` (reused when already there)."""
    if not (out / "truth" / "summary.json").exists():
        simulate(out, seed=seed, events=events)
    return out


def cycle_lines(sources: list[Path], target: Path, lines: int | None = None, size_bytes: int | None = None) -> int:
    """Write `target` by repeating the lines of `sources` until a line count or a size is reached."""
    pool = [line for src in sources for line in src.read_bytes().splitlines(keepends=True) if line.strip()]
    if not pool:
        raise RuntimeError(f"no lines in {sources}")
    written = size = 0
    with target.open("wb") as f:
        for line in itertools.cycle(pool):
            f.write(line)
            written += 1
            size += len(line)
            if (lines is not None and written >= lines) or (size_bytes is not None and size >= size_bytes):
                break
    return written


def largest(paths: list[Path]) -> Path:
    """The biggest file of a list."""
    return max(paths, key=lambda p: p.stat().st_size)
