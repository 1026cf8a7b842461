"""Schema drift: which fields and value types each source sends, and what changed since a baseline.

Ingest records, per source, every stored column that held a value and every key of the
`attributes` map with the type its text reads as (integer, number, boolean, json, string),
in the same transaction as the rows (`observation_ops`). A field or type first seen after a
source's baseline is reported — not silently absorbed — until someone accepts it
(`seamline schema drift --accept`). The baseline of a source is what it sent during its first
`baseline` period (an hour by default), or everything before an explicit `since`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from seamline.store.base import Statement, Store

# Lineage columns every row has: their presence says nothing about the source's data.
_LINEAGE = frozenset(
    {"event_id", "source", "origin", "position", "position_index", "ingest_batch_id", "schema_version"}
)
DEFAULT_BASELINE = timedelta(hours=1)
_TYPE_SAMPLE = 16_384  # attribute values whose type is read per batch (see _observe_attributes)

_UPSERT = """
INSERT INTO field_observations (source, field, value_type, first_seen, last_seen, first_ingest_batch_id, rows)
SELECT s, f, t, now(), now(), b, n FROM (
    SELECT unnest(?::VARCHAR[]) AS s, unnest(?::VARCHAR[]) AS f, unnest(?::VARCHAR[]) AS t,
           unnest(?::VARCHAR[]) AS b, unnest(?::BIGINT[]) AS n)
ON CONFLICT (source, field, value_type) DO UPDATE
SET last_seen = excluded.last_seen, rows = field_observations.rows + excluded.rows
"""


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "number"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_map(t):
        return "map"
    return "other"


def _infer_text_types(values: pa.Array) -> pa.Array:
    """What each attribute value's text reads as; attributes are stored as text whatever was sent."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    kinds = pa.array(["string"] * len(text), pa.string())
    for name, pattern in (
        ("json", r"^[\[{]"),
        ("number", r"^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$"),
        ("integer", r"^-?\d{1,18}$"),
        ("boolean", r"^(true|false|True|False|TRUE|FALSE)$"),
    ):
        kinds = pc.if_else(pc.match_substring_regex(text, pattern), pa.scalar(name), kinds)
    return pc.if_else(pc.is_null(text), pa.scalar("string"), kinds)


def observe(events: pa.RecordBatch | pa.Table) -> list[tuple[str, str, str, str, int]]:
    """(source, field, value_type, first ingest batch, rows) for the fields present in a batch of events."""
    table = events if isinstance(events, pa.Table) else pa.Table.from_batches([events])
    if table.num_rows == 0:
        return []
    source = table.column("source").combine_chunks()
    names = [f.name for f in table.schema if f.name not in _LINEAGE and f.name != "attributes"]
    types = {f.name: _type_name(f.type) for f in table.schema}
    # Validity bitmaps summed per source: a batch from the HTTP batcher mixes sources, and
    # grouping costs one pass where filtering the whole batch per source costs one copy each.
    present = pa.table(
        {
            "source": source,
            "_batch": table.column("ingest_batch_id"),
            **{n: pc.is_valid(table.column(n)) for n in names},
        }
    )
    sums = present.group_by("source").aggregate([("_batch", "min"), *[(n, "sum") for n in names]]).to_pylist()
    out: list[tuple[str, str, str, str, int]] = []
    batch_of: dict[str, str] = {}
    for row in sums:
        batch_of[row["source"]] = row["_batch_min"] or ""
        for n in names:
            if row[f"{n}_sum"]:
                out.append((row["source"], n, types[n], batch_of[row["source"]], int(row[f"{n}_sum"])))
    if "attributes" in table.column_names:
        out.extend(_observe_attributes(source, batch_of, table.column("attributes")))
    return out


def _observe_attributes(
    source: pa.Array, batch_of: dict[str, str], column: pa.ChunkedArray
) -> list[tuple[str, str, str, str, int]]:
    if column.null_count == len(column):
        return []
    maps = column.combine_chunks()
    # A map is a list of key/value structs; its offsets (sliced with the array) delimit each row's entries.
    as_list = pa.ListArray.from_arrays(maps.offsets, maps.values)
    entries = pc.list_flatten(as_list)
    if len(entries) == 0:
        return []
    if len(batch_of) == 1:  # the usual case (file ingest): no per-entry lookup of the source
        owner = pa.repeat(pa.scalar(next(iter(batch_of)), pa.string()), len(entries))
    else:
        owner = pc.take(source, pc.list_parent_indices(as_list))
    keys = entries.field("key")
    totals = pa.table({"source": owner, "key": keys}).group_by(["source", "key"]).aggregate([([], "count_all")])
    # Reading every value's type costs more than storing it; a strided sample finds the types of
    # frequent keys, and keys the sample missed (rare ones) are read in full.
    n = len(entries)
    picked = pa.array(range(0, n, max(1, n // _TYPE_SAMPLE)), pa.int64())
    sample = pa.table(
        {"source": owner.take(picked), "key": keys.take(picked), "value": entries.field("value").take(picked)}
    )
    if len(picked) < n:
        sampled = (
            pa.table({"source": sample.column("source"), "key": sample.column("key")})
            .group_by(["source", "key"])
            .aggregate([])
        )
        missing = totals.join(sampled, ["source", "key"], join_type="left anti")
        if missing.num_rows:
            rest = pa.table({"source": owner, "key": keys, "value": entries.field("value")}).join(
                missing.select(["source", "key"]), ["source", "key"], join_type="inner"
            )
            sample = pa.concat_tables([sample, rest.select(["source", "key", "value"])])
    kinds = (
        pa.table(
            {
                "source": sample.column("source"),
                "key": sample.column("key"),
                "kind": _infer_text_types(sample.column("value")),
            }
        )
        .group_by(["source", "key", "kind"])
        .aggregate([([], "count_all")])
        .to_pylist()
    )
    total = {(t["source"], t["key"]): t["count_all"] for t in totals.to_pylist()}
    seen: dict[tuple[str, str], int] = {}
    for k in kinds:
        seen[(k["source"], k["key"])] = seen.get((k["source"], k["key"]), 0) + k["count_all"]
    out = []
    for k in kinds:
        pair = (k["source"], k["key"])
        rows = max(1, round(total[pair] * k["count_all"] / seen[pair]))  # scaled up from the sample
        out.append((k["source"], f"attributes.{k['key']}", k["kind"], batch_of.get(k["source"], ""), rows))
    return out


def observation_ops(events: pa.RecordBatch | pa.Table) -> list[Statement]:
    """The upsert that records a batch's fields, to run in the same transaction as its rows."""
    seen = observe(events)
    if not seen:
        return []
    columns = list(zip(*seen, strict=True))
    return [Statement(_UPSERT, tuple(list(c) for c in columns))]


class ObservationBuffer:
    """Field observations of many small batches (HTTP ingest), upserted together.

    The upsert costs the writer about as much as inserting a request's rows, while a stream of
    requests mostly repeats the fields already recorded. So counts are summed here and written
    with the first commit that brings a field or type this process has not recorded yet (drift
    is thus recorded in the same transaction as the rows that show it), or that comes
    `flush_seconds` after the last write, or at shutdown (`drain`). After a crash, the counts of
    at most `flush_seconds` are missing; `first_seen` is never late.
    """

    def __init__(self, flush_seconds: float = 5.0) -> None:
        self.flush_seconds = flush_seconds
        self._known: set[tuple[str, str, str]] = set()
        self._pending: dict[tuple[str, str, str], list[Any]] = {}  # key -> [first ingest batch id, rows]
        self._written = time.monotonic()

    def ops(self, events: pa.RecordBatch | pa.Table) -> list[Statement]:
        """Count a batch's fields; the upsert to commit with it when one is new or the last write is old."""
        new = False
        pending = self._pending
        for source, name, value_type, batch_id, rows in observe(events):
            key = (source, name, value_type)
            hit = pending.get(key)
            if hit is None:
                pending[key] = [batch_id, rows]
                new = new or key not in self._known
            else:
                hit[1] += rows
        if new or time.monotonic() - self._written >= self.flush_seconds:
            return self.drain()
        return []

    def drain(self) -> list[Statement]:
        """The upsert of every count not yet written (empty when there is none)."""
        self._written = time.monotonic()
        if not self._pending:
            return []
        taken, self._pending = self._pending, {}
        self._known.update(taken)
        seen = [(*key, batch_id, rows) for key, (batch_id, rows) in taken.items()]
        columns = list(zip(*seen, strict=True))
        return [Statement(_UPSERT, tuple(list(c) for c in columns))]


def _baselines(store: Store, since: datetime | None, baseline: timedelta) -> dict[str, datetime]:
    rows = store.query("SELECT source, min(first_seen) AS first FROM field_observations GROUP BY source").to_pylist()
    return {r["source"]: since if since is not None else r["first"] + baseline for r in rows}


def drift_report(
    store: Store,
    since: datetime | None = None,
    source: str | None = None,
    baseline: timedelta = DEFAULT_BASELINE,
    include_accepted: bool = False,
) -> dict[str, Any]:
    """New fields and type changes per source since its baseline, plus values quarantined for a wrong type."""
    cut = _baselines(store, since, baseline)
    if source is not None and source not in cut:
        known = ", ".join(sorted(cut)) or "none yet"
        raise ValueError(f"no fields recorded for source {source!r} (sources: {known})")
    obs = store.query(
        "SELECT source, field, value_type, first_seen, last_seen, first_ingest_batch_id, rows, accepted_at, "
        "accepted_by FROM field_observations WHERE ? IS NULL OR source = ? ORDER BY source, field, first_seen",
        [source, source],
    ).to_pylist()
    before: dict[tuple[str, str], list[str]] = {}
    for r in obs:
        if r["first_seen"] <= cut[r["source"]]:
            before.setdefault((r["source"], r["field"]), []).append(r["value_type"])
    changes = []
    for r in obs:
        if r["first_seen"] <= cut[r["source"]] or (r["accepted_at"] is not None and not include_accepted):
            continue
        previous = before.get((r["source"], r["field"]), [])
        changes.append(
            {
                "source": r["source"],
                "field": r["field"],
                "change": "type change" if previous else "new field",
                "value_type": r["value_type"],
                "previous_types": sorted(previous),
                "first_seen": r["first_seen"].isoformat(),
                "last_seen": r["last_seen"].isoformat(),
                "rows": r["rows"],
                "first_ingest_batch_id": r["first_ingest_batch_id"],
                "accepted_at": r["accepted_at"].isoformat() if r["accepted_at"] else None,
            }
        )
    earliest = min(cut.values(), default=None)
    wrong = store.query(
        "SELECT source, regexp_replace(reason, ':.*', '') || ': ' || left(split_part(reason, ':', 2), 80) AS reason, "
        "count(*) AS records, max(received_at) AS last_seen FROM quarantine "
        "WHERE reason LIKE 'wrong type%' AND reingested_at IS NULL "
        "AND received_at > coalesce(?::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ) "
        "AND (? IS NULL OR source = ?) GROUP BY ALL ORDER BY records DESC LIMIT 50",
        [earliest, source, source],
    ).to_pylist()
    for w in wrong:
        w["last_seen"] = w["last_seen"].isoformat() if w["last_seen"] else None
    return {
        "baseline": {s: t.isoformat() for s, t in sorted(cut.items()) if source is None or s == source},
        "sources": len({r["source"] for r in obs}),
        "fields_tracked": len({(r["source"], r["field"]) for r in obs}),
        "changes": changes,
        "wrong_type_quarantine": wrong,
    }


def accept(
    store: Store,
    actor: str,
    since: datetime | None = None,
    source: str | None = None,
    field: str | None = None,
    baseline: timedelta = DEFAULT_BASELINE,
) -> int:
    """Accept the reported changes (optionally of one source or field) into the baseline; returns how many."""
    pending = [
        c for c in drift_report(store, since, source, baseline)["changes"] if field is None or c["field"] == field
    ]
    if not pending:
        return 0
    keys = [(c["source"], c["field"], c["value_type"]) for c in pending]
    store.execute(
        "UPDATE field_observations SET accepted_at = now(), accepted_by = ? FROM "
        "(SELECT unnest(?::VARCHAR[]) AS s, unnest(?::VARCHAR[]) AS f, unnest(?::VARCHAR[]) AS t) AS k "
        "WHERE field_observations.source = k.s AND field_observations.field = k.f "
        "AND field_observations.value_type = k.t",
        [actor, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]],
    )
    return len(keys)
