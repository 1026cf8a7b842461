"""Arrow schemas of the stored tables, derived from the data dictionary, and a row builder.

Sources emit plain dicts keyed by column name (only the fields they know); `rows_to_batch`
turns a list of them into one Arrow record batch in the unified schema. Building column by
column over the keys actually present keeps this fast for wide, sparse records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import pyarrow as pa

from seamline.dictionary import EVENTS, QUARANTINE, TABLES, Column

SCHEMA_VERSION = 8  # bumped together with a new migration in seamline/store/migrations


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """Arrow schema for a table's dictionary entries, in dictionary order."""
    return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in columns])


EVENTS_SCHEMA = arrow_schema(EVENTS)
QUARANTINE_SCHEMA = arrow_schema(QUARANTINE)
TABLE_SCHEMAS: dict[str, pa.Schema] = {name: arrow_schema(cols) for name, cols in TABLES.items()}
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS)


def _map_value(value: Any) -> Any:
    # Arrow map arrays take lists of (key, value) pairs; values are stored as text.
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [(str(k), v if isinstance(v, str) else _text(v)) for k, v in value.items()]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _transpose(rows: Sequence[Mapping[str, Any]]) -> dict[str, Sequence[Any]]:
    if rows and type(rows[0]) is dict and len(set(map(tuple, rows))) == 1:
        # One shape (a parser writes a record's keys in a fixed order): transpose in C.
        try:
            return dict(zip(rows[0], zip(*map(dict.values, rows), strict=True), strict=True))  # type: ignore[arg-type]
        except TypeError:  # a mapping that is not a dict among them
            pass
    # Walk only the keys each row has: sparse rows of mixed kinds pay for what they carry,
    # not for every column any row in the batch carries.
    columns: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        for key, value in row.items():
            col = columns.get(key)
            if col is None:
                col = columns[key] = [None] * i
            elif len(col) < i:
                col.extend([None] * (i - len(col)))
            col.append(value)
    n = len(rows)
    for col in columns.values():
        if len(col) < n:
            col.extend([None] * (n - len(col)))
    return columns


def rows_to_batch(rows: Sequence[Mapping[str, Any]], schema: pa.Schema = EVENTS_SCHEMA) -> pa.RecordBatch:
    """Build one record batch from dict rows; absent keys become nulls.

    Timestamps are given as integer microseconds since the epoch (UTC). Unknown keys raise
    KeyError, so a source cannot invent a column the dictionary does not describe.
    """
    n = len(rows)
    columns = _transpose(rows)
    unknown = set(columns).difference(schema.names)
    if unknown:
        raise KeyError(f"fields not in the schema: {sorted(unknown)}")
    arrays = []
    for field in schema:
        values = columns.get(field.name)
        if values is None:
            arrays.append(pa.nulls(n, type=field.type))
        elif pa.types.is_map(field.type):
            try:
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
                # Some value is not text (a number, a bool): convert the column the slow way.
                arrays.append(pa.array([_map_value(v) for v in values], type=field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_LITERAL_TYPES: dict[type, pa.DataType] = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}


@lru_cache(maxsize=4096)
def _literal(value: Any, kind: type) -> pa.Scalar:
    return pa.scalar(value, type=_LITERAL_TYPES[kind])


def lit(value: bool | int | float | str) -> pa.Scalar:
    """A typed Arrow scalar for a compute call (cached).

    Handing pyarrow.compute a bare Python value makes pyarrow infer its type, which costs tens
    of microseconds per call (it retries an optional import each time); a typed scalar does not.
    """
    return _literal(value, type(value))


def empty_batch(schema: pa.Schema = EVENTS_SCHEMA) -> pa.RecordBatch:
    """A zero-row batch in the given schema."""
    return rows_to_batch([], schema)


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema = EVENTS_SCHEMA) -> pa.RecordBatch:
    """Reorder, add missing (null) columns and cast a batch to the target schema."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            arrays.append(table.column(field.name).cast(field.type).combine_chunks())
        else:
            arrays.append(pa.nulls(table.num_rows, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
