"""Versioned schema migrations, each with an up and a down step.

Migrations are frozen once released: a later change to the dictionary needs a new
migration, never an edit to an old one. `data_dropped` names what a down step discards, so a
downgrade can refuse to lose values unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seamline.store.migrations import (
    m0001_initial,
    m0002_clock_skew,
    m0003_correlation,
    m0004_views,
    m0005_detection,
    m0006_governance,
    m0007_schema_governance,
    m0008_waterfall_rows,
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema's history."""

    version: int
    name: str
    up: tuple[str, ...]
    down: tuple[str, ...]
    # (table, column) pairs whose values the down step discards; column None = whole table.
    data_dropped: tuple[tuple[str, str | None], ...] = field(default=())


MIGRATIONS: tuple[Migration, ...] = tuple(
    Migration(m.VERSION, m.NAME, tuple(m.UP), tuple(m.DOWN), tuple(m.DATA_DROPPED))
    for m in (
        m0001_initial,
        m0002_clock_skew,
        m0003_correlation,
        m0004_views,
        m0005_detection,
        m0006_governance,
        m0007_schema_governance,
        m0008_waterfall_rows,
    )
)
HEAD = MIGRATIONS[-1].version

assert [m.version for m in MIGRATIONS] == list(range(1, HEAD + 1)), "migrations must be numbered 1..N"
