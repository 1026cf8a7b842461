"""Range checks from the data dictionary: values outside the expected range are counted.

Out-of-range values are reported, never dropped: a 2-hour request is suspicious, not
impossible, and the person looking at the data decides. The check is one SQL scan over
stored rows (per ingest run, or any filter), which costs far less than checking each
small batch on the ingest path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seamline.dictionary import EVENTS, Column
from seamline.store.base import Store

CHECKED: tuple[Column, ...] = tuple(c for c in EVENTS if c.allowed or c.minimum is not None or c.maximum is not None)


def _condition(col: Column) -> str:
    name = f'"{col.name}"'
    if col.allowed:
        values = ", ".join("'" + v.replace("'", "''") + "'" for v in col.allowed)
        return f"{name} NOT IN ({values})"
    parts = []
    if col.minimum is not None:
        parts.append(f"{name} < {col.minimum!r}")
    if col.maximum is not None:
        parts.append(f"{name} > {col.maximum!r}")
    return " OR ".join(parts)


def out_of_range_sql(table: str = "events", where: str = "true") -> str:
    """One query counting, per checked column, the values outside the dictionary range."""
    counts = ", ".join(f'count_if({_condition(c)}) AS "{c.name}"' for c in CHECKED)
    return f"SELECT {counts} FROM {table} WHERE {where}"


def count_out_of_range(store: Store, where: str = "true", params: Sequence[Any] | None = None) -> dict[str, int]:
    """Per column, how many stored values fall outside the expected range (zero counts omitted)."""
    row = store.query(out_of_range_sql(where=where), params).to_pylist()[0]
    return {name: int(n) for name, n in row.items() if n}
