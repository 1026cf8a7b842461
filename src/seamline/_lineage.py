"""The pipeline's row checks, and its per-row work for rows that arrive as an Arrow batch.

`check_row` is the check every row passes before storage (known kind, a timestamp in range).
For a columnar batch, `failing_checks` finds the rows it would reject and `stamp_lineage`
fills event ids and lineage columns exactly as the per-row path does for a record that
yields one row (`<origin key>:<position>:<index>` ids); `add_columnar` runs both for a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from seamline.dictionary import KINDS
from seamline.schema import EVENTS_SCHEMA, SCHEMA_VERSION, lit

if TYPE_CHECKING:
    from seamline.pipeline import _Run

KINDS_ARRAY = pa.array(KINDS, type=pa.string())
_I64 = pa.int64()
_INDEX = {name: i for i, name in enumerate(EVENTS_SCHEMA.names)}


def check_row(row: dict[str, Any], now_us: int, future_us: int, past_us: int) -> str | None:
    """Why a row cannot be stored (unknown kind, no integer timestamp, one out of range), or None."""
    kind = row.get("kind")
    if kind not in KINDS:
        return f"unknown kind {kind!r}"
    ts = row.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        return "missing or non-integer timestamp (ts)"
    ref = row.get("received_at") if isinstance(row.get("received_at"), int) else now_us
    if ts > ref + future_us:
        return f"timestamp too far in the future: {(ts - ref) / 3.6e9:.1f} h after receive time"
    if ts < ref - past_us:
        return f"timestamp too far in the past: {(ref - ts) / 8.64e10:.0f} days before receive time"
    return None


def add_columnar(
    run: _Run, batch: pa.RecordBatch, line_index: pa.Array, lines: Sequence[bytes], positions: Sequence[int]
) -> None:
    """Check a chunk parser's batch as `_Run.add` checks rows, stamp its lineage, keep it in the run."""
    if isinstance(positions, range):
        position = pc.add(line_index.cast(_I64), lit(positions.start))
    else:
        position = pa.array(positions, type=_I64).take(line_index)
    failing = failing_checks(batch, run.now_us, run.future_us, run.past_us)
    if failing is not None:  # rare: the reasons are worked out row by row, with the same words
        ts, received = batch.column("ts").cast(_I64), batch.column("received_at").cast(_I64)
        kinds, index = batch.column("kind"), batch.column("position_index")
        for i in pc.indices_nonzero(failing).to_pylist():
            row = {"kind": kinds[i].as_py(), "ts": ts[i].as_py(), "received_at": received[i].as_py()}
            problem = check_row(row, run.now_us, run.future_us, run.past_us) or "failed the row checks"
            run.quarantine(position[i].as_py(), index[i].as_py() or 0, problem, lines[line_index[i].as_py()])
        keep = pc.invert(failing)
        batch, position, line_index = batch.filter(keep), position.filter(keep), line_index.filter(keep)
    if batch.column("event_id").null_count < batch.num_rows:
        batch, position = _natural_ids(run, batch, position, line_index, lines)
    if batch.num_rows:
        run.batches.append(stamp_lineage(batch, run, position))
        run.batch_rows += batch.num_rows


def _natural_ids(
    run: _Run, batch: pa.RecordBatch, position: pa.Array, line_index: pa.Array, lines: Sequence[bytes]
) -> tuple[pa.RecordBatch, pa.Array]:
    """Rows carrying their own event id go through the duplicate check, as on the per-row path."""
    naturals = batch.column("event_id").to_pylist()
    fresh = run.ingestor.recent_ids.add_all(naturals)
    index = batch.column("position_index")
    for i, natural in enumerate(naturals):
        if natural is not None and fresh[i]:
            run.natural_ids.append(natural)
        elif natural is not None:
            reason = f"duplicate record: event id {natural} was already ingested"
            run.quarantine(position[i].as_py(), index[i].as_py() or 0, reason, lines[line_index[i].as_py()])
    mask = pa.array(fresh, type=pa.bool_())
    return batch.filter(mask), position.filter(mask)


def failing_checks(batch: pa.RecordBatch, now_us: int, future_us: int, past_us: int) -> pa.Array | None:
    """Mask of rows with an unknown kind, no timestamp, or one out of range; None when all pass."""
    kind_ok = pc.is_in(batch.column("kind"), value_set=KINDS_ARRAY)
    ts = batch.column("ts").cast(_I64)
    ref = pc.coalesce(batch.column("received_at").cast(_I64), pa.scalar(now_us, _I64))
    bad = pc.or_(
        pc.invert(pc.fill_null(kind_ok, lit(False))),
        pc.or_(pc.greater(ts, pc.add(ref, lit(future_us))), pc.less(ts, pc.subtract(ref, lit(past_us)))),
    )
    bad = pc.or_(pc.fill_null(bad, lit(False)), ts.is_null())
    return bad if bad.true_count else None


def stamp_lineage(batch: pa.RecordBatch, run: _Run, position: pa.Array) -> pa.RecordBatch:
    """Event ids, source, origin, position, index, batch id, schema version (and receive time)."""
    n = batch.num_rows
    columns = list(batch.columns)
    index = pc.fill_null(columns[_INDEX["position_index"]], pa.scalar(0, pa.int32()))
    prefix = run.id_prefix[:-1]  # the origin key; the join puts the separators back
    ids = pc.binary_join_element_wise(lit(prefix), position.cast(pa.string()), index.cast(pa.string()), lit(":"))
    natural = columns[_INDEX["event_id"]]
    columns[_INDEX["event_id"]] = ids if natural.null_count == n else pc.coalesce(natural, ids)
    columns[_INDEX["source"]] = pa.repeat(pa.scalar(run.source, pa.string()), n)
    columns[_INDEX["origin"]] = pa.repeat(pa.scalar(run.origin, pa.string()), n)
    columns[_INDEX["position"]] = position.cast(_I64)
    columns[_INDEX["position_index"]] = index.cast(pa.int32())
    columns[_INDEX["ingest_batch_id"]] = pa.repeat(pa.scalar(run.batch_id, pa.string()), n)
    columns[_INDEX["schema_version"]] = pa.repeat(pa.scalar(SCHEMA_VERSION, pa.int16()), n)
    if run.received_at_us is not None:
        received = columns[_INDEX["received_at"]]
        columns[_INDEX["received_at"]] = pc.fill_null(received, pa.scalar(run.received_at_us, received.type))
    return pa.RecordBatch.from_arrays(columns, schema=EVENTS_SCHEMA)


def concat_batches(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One batch from several of the events schema."""
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches, schema=EVENTS_SCHEMA).combine_chunks()
    done = table.to_batches()
    if len(done) == 1:
        return done[0]
    return pa.RecordBatch.from_arrays(
        [table.column(i).combine_chunks() for i in range(table.num_columns)], schema=EVENTS_SCHEMA
    )
