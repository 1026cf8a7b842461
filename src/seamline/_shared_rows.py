"""An events batch from rows that share most of their values (one HTTP body's events).

The events of one client batch share a dozen columns (session, device, service, release,
user agent, receive time) and their lineage (source, origin, request number, ingest batch).
Copying those into every row dict, and converting each copy back into Arrow, cost more than
parsing the events; here the shared values become constant columns and only each event's
own values are converted.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from seamline.schema import EVENTS_SCHEMA, SCHEMA_VERSION, rows_to_batch
from seamline.sources._base import Rejected
from seamline.sources._framing import RawRecord

if TYPE_CHECKING:
    from seamline.pipeline import _Run

_INDEX = {name: i for i, name in enumerate(EVENTS_SCHEMA.names)}
_NAMES = frozenset(EVENTS_SCHEMA.names)
_SCALAR_CACHE = 4096


@lru_cache(maxsize=256)
def _own_type(present: frozenset[str]) -> pa.StructType:
    return pa.struct([field for field in EVENTS_SCHEMA if field.name in present])


@lru_cache(maxsize=_SCALAR_CACHE)
def _constant(name: str, value: Any) -> pa.Scalar:
    # The same session, user agent, release and lineage recur request after request.
    return pa.scalar(value, type=EVENTS_SCHEMA.field(_INDEX[name]).type)


def shared_batch(shared: dict[str, Any], rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """The batch `rows_to_batch([{**shared, **row} for row in rows])` builds, built faster.

    A row's own value wins over the shared one, as in the merge. Raises what `rows_to_batch`
    raises for a value of the wrong type or an unknown column (the caller then isolates the
    offending rows the slow way).
    """
    n = len(rows)
    present: set[str] = set().union(*rows)
    unknown = present.union(shared).difference(_NAMES)
    if unknown:
        raise KeyError(f"fields not in the schema: {sorted(unknown)}")
    arrays: list[pa.Array | None] = [None] * len(_INDEX)
    own_type = _own_type(frozenset(present))
    # One conversion of the row dicts into a struct reads every own column in C.
    own = pa.array(rows, type=own_type)
    for i in range(own_type.num_fields):
        arrays[_INDEX[own_type.field(i).name]] = own.field(i)
    for name, value in shared.items():
        i = _INDEX[name]
        if name in present:  # rare: an event overrides a batch value (its own page)
            arrays[i] = rows_to_batch([{name: row.get(name, value)} for row in rows]).column(i)
        elif value is not None:
            try:
                scalar = _constant(name, value)
            except TypeError:  # unhashable (a map): convert it uncached
                scalar = pa.scalar(value, type=EVENTS_SCHEMA.field(i).type)
            arrays[i] = pa.repeat(scalar, n)
    for i, array in enumerate(arrays):
        if array is None:
            arrays[i] = pa.nulls(n, EVENTS_SCHEMA.field(i).type)
    return pa.RecordBatch.from_arrays(arrays, schema=EVENTS_SCHEMA)


SharedParser = Callable[[bytes], tuple[dict[str, Any], list[dict[str, Any] | Rejected]]]


def add_shared(run: _Run, record: RawRecord, parse: SharedParser) -> None:
    """`run.add(record)` then `run.seal()` for a source that parses into shared and own columns.

    Every check, id, quarantine entry and count is what the per-row path gives for the same
    record; only the Arrow batch is built from the shared form.
    """
    run.result.records_read += 1
    position, data = record.position, record.data
    shared: dict[str, Any] = {}

    def parse_items() -> list[dict[str, Any] | Rejected]:
        batch_values, items = parse(data)  # type: ignore[arg-type]
        shared.update(batch_values)
        return items

    produced = run.produced(position, data, parse_items)
    if produced is None:
        return
    received = shared.get("received_at")
    rows = run.admitted(position, data, produced, received)
    if not rows:
        return
    lineage = {
        "source": run.source,
        "origin": run.origin,
        "position": position,
        "ingest_batch_id": run.batch_id,
        "schema_version": SCHEMA_VERSION,
    }
    if run.received_at_us is not None and received is None:
        lineage["received_at"] = run.received_at_us  # rows that carry their own keep it
    try:
        batch = shared_batch({**shared, **lineage}, rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError, KeyError):
        # A value of the wrong type: the per-row path finds and quarantines the offending rows.
        for row in rows:
            merged = {**shared, **row, **lineage}
            if "received_at" in row:
                merged["received_at"] = row["received_at"]
            run.rows.append(merged)
        run.seal()
        return
    run.batches.append(batch)
    run.batch_rows += batch.num_rows
