"""Range checks from the data dictionary: values outside the expected range are counted.

Out-of-range values are reported, never dropped: a 2-hour request is suspicious, not
impossible, and the person looking at the data decides.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from seamline.dictionary import EVENTS, Column


def _outside(col: Column, values: pa.Array | pa.ChunkedArray) -> int:
    if col.allowed:
        present = values.drop_null()
        if len(present) == 0:
            return 0
        inside = pc.is_in(present, value_set=pa.array(col.allowed, type=pa.string()))
        return int(len(present) - pc.sum(inside).as_py())
    if col.minimum is None and col.maximum is None:
        return 0
    numeric = values.cast(pa.float64()) if not pa.types.is_floating(values.type) else values
    bad = pa.array([False] * len(numeric)) if len(numeric) else pa.array([], pa.bool_())
    if col.minimum is not None:
        bad = pc.or_(bad, pc.fill_null(pc.less(numeric, col.minimum), False))
    if col.maximum is not None:
        bad = pc.or_(bad, pc.fill_null(pc.greater(numeric, col.maximum), False))
    return int(pc.sum(bad).as_py() or 0)


_CHECKED = tuple(c for c in EVENTS if c.allowed or c.minimum is not None or c.maximum is not None)


def count_out_of_range(batch: pa.RecordBatch) -> dict[str, int]:
    """Per column, how many values fall outside the dictionary's expected range."""
    counts: dict[str, int] = {}
    for col in _CHECKED:
        if col.name not in batch.schema.names:
            continue
        n = _outside(col, batch.column(col.name))
        if n:
            counts[col.name] = n
    return counts
