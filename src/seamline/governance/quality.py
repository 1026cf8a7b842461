"""The data quality report: per source and field, and over time (`seamline quality`).

For a window (the last 24 hours of data unless told otherwise) and the baseline period of
the same length just before it: per source and stored field, the share of rows without a
value, the number of distinct values, and the share of values outside the data dictionary's
range (`seamline.validate`); a field is flagged when one of these moved against the
baseline. Over the window: how far client clocks were off (clock-skew trend) and how many
client requests were joined to their server side (join-coverage trend). Schema drift
(new fields, type changes) comes from `schema_drift`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from seamline.dictionary import EVENTS, Column, Privacy
from seamline.governance.schema_drift import drift_report
from seamline.store.base import Store
from seamline.validate import CHECKED
from seamline.validate import _condition as condition

_LINEAGE = frozenset(
    {"event_id", "source", "origin", "position", "position_index", "ingest_batch_id", "schema_version"}
)
FIELDS: tuple[Column, ...] = tuple(c for c in EVENTS if c.name not in _LINEAGE)
_CHECKED = {c.name for c in CHECKED}
DEFAULT_WINDOW = timedelta(hours=24)
NULL_SHIFT = 0.10  # a null rate that moved this much (absolute) against the baseline is flagged
RANGE_SHIFT = 0.01  # likewise for the out-of-range rate
CARDINALITY_FACTOR = 3.0  # distinct values per row grew or shrank this many times


def parse_since(text: str | None, latest: datetime | None) -> datetime | None:
    """An ISO time, or a duration back from the latest data (90m, 6h, 7d); None for the default."""
    if not text:
        return None
    text = text.strip()
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[-1:].lower() in units and text[:-1].replace(".", "", 1).isdigit():
        if latest is None:
            return None
        return latest - timedelta(seconds=float(text[:-1]) * units[text[-1].lower()])
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read --since {text!r}; use an ISO time or a duration such as 6h or 7d") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _is_identifier(col: Column) -> bool:
    # Ids grow with traffic: their distinct count says nothing about drift.
    return col.privacy is Privacy.PSEUDONYMOUS or col.name.endswith("_id") or col.name in ("ts", "client_ts")


def _rate(part: float | int | None, whole: float | int | None) -> float | None:
    return None if not whole else round(float(part or 0) / float(whole), 4)


def field_quality(
    store: Store, start: datetime, end: datetime, baseline_start: datetime, source: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-source rows, per-source-and-field rows) for a window and its baseline, in one scan."""
    aggs = []
    for c in FIELDS:
        q = f'"{c.name}"'
        aggs.append(f'count({q}) AS "n:{c.name}"')
        if c.type.num_fields == 0:  # maps have no distinct count worth showing
            aggs.append(f'approx_count_distinct({q}) AS "d:{c.name}"')
        if c.name in _CHECKED:
            aggs.append(f'count_if({condition(c)})::BIGINT AS "r:{c.name}"')
    sql = (
        "SELECT source, ts >= ? AS current, count(*) AS rows, " + ", ".join(aggs) + " FROM events "
        "WHERE ts >= ? AND ts < ? AND (? IS NULL OR source = ?) GROUP BY ALL ORDER BY source"
    )
    data = store.query(sql, [start, baseline_start, end, source, source]).to_pylist()
    by: dict[str, dict[bool, dict[str, Any]]] = {}
    for r in data:
        by.setdefault(r["source"], {})[bool(r["current"])] = r
    sources, fields = [], []
    for src, periods in sorted(by.items()):
        now, base = periods.get(True, {}), periods.get(False, {})
        sources.append({"source": src, "rows": now.get("rows", 0), "baseline_rows": base.get("rows", 0)})
        for c in FIELDS:
            n_now, n_base = now.get(f"n:{c.name}", 0), base.get(f"n:{c.name}", 0)
            if not n_now and not n_base:
                continue  # a field this source never fills
            fields.append(_field_row(src, c, now, base))
    return sources, fields


def _field_row(source: str, c: Column, now: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    rows, base_rows = now.get("rows", 0), base.get("rows", 0)
    n, bn = now.get(f"n:{c.name}", 0), base.get(f"n:{c.name}", 0)
    row: dict[str, Any] = {
        "source": source,
        "field": c.name,
        "rows": rows,
        "null_rate": _rate(rows - n, rows),
        "cardinality": now.get(f"d:{c.name}"),
        "out_of_range": now.get(f"r:{c.name}") if c.name in _CHECKED else None,
        "out_of_range_rate": _rate(now.get(f"r:{c.name}"), n) if c.name in _CHECKED else None,
        "expected_range": c.expected_range,
        "baseline_null_rate": _rate(base_rows - bn, base_rows),
        "baseline_cardinality": base.get(f"d:{c.name}"),
        "baseline_out_of_range_rate": _rate(base.get(f"r:{c.name}"), bn) if c.name in _CHECKED else None,
    }
    row["drift"] = "; ".join(_drift(row, c, rows, base_rows))
    return row


def _drift(row: dict[str, Any], c: Column, rows: int, base_rows: int) -> list[str]:
    if not rows or not base_rows:
        return []
    out = []
    now, base = row["null_rate"] or 0.0, row["baseline_null_rate"] or 0.0
    if abs(now - base) >= NULL_SHIFT:
        out.append(f"nulls {base:.0%} -> {now:.0%}")
    if row["out_of_range_rate"] is not None and row["baseline_out_of_range_rate"] is not None:
        r_now, r_base = row["out_of_range_rate"], row["baseline_out_of_range_rate"]
        if r_now - r_base >= RANGE_SHIFT:
            out.append(f"out of range {r_base:.1%} -> {r_now:.1%}")
    d_now, d_base = row["cardinality"], row["baseline_cardinality"]
    if d_now and d_base and not _is_identifier(c) and max(d_now, d_base) >= 5:
        ratio = (d_now / rows) / (d_base / base_rows)
        if ratio >= CARDINALITY_FACTOR or ratio <= 1 / CARDINALITY_FACTOR:
            out.append(f"distinct values {d_base} -> {d_now}")
    return out


def _bucket(start: datetime, end: datetime) -> timedelta:
    span = end - start
    for limit, step in (
        (timedelta(hours=6), timedelta(minutes=15)),
        (timedelta(days=2), timedelta(hours=1)),
        (timedelta(days=14), timedelta(hours=6)),
    ):
        if span <= limit:
            return step
    return timedelta(days=1)


def _bucket_expr(column: str) -> str:
    return f"time_bucket(to_microseconds(?), {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


def clock_skew_trend(store: Store, start: datetime, end: datetime, bucket: timedelta) -> list[dict[str, Any]]:
    """Per bucket of session time: sessions with an offset estimate and how far off their clocks were."""
    step = int(bucket.total_seconds() * 1_000_000)
    data = store.query(
        f"""
        SELECT {_bucket_expr("reference_ts")} AS bucket, count(*) AS sessions,
               round(median(abs(offset_ms)), 1) AS median_abs_offset_ms,
               round(quantile_cont(abs(offset_ms), 0.95), 1) AS p95_abs_offset_ms,
               round(median(spread_ms), 2) AS median_spread_ms,
               count(*) FILTER (WHERE abs(offset_ms) > 60000) AS sessions_over_1_min
        FROM clock_offsets WHERE reference_ts >= ? AND reference_ts < ? GROUP BY ALL ORDER BY bucket
        """,
        [step, start, end],
    ).to_pylist()
    return [{**r, "bucket": r["bucket"].isoformat()} for r in data]


def join_coverage_trend(store: Store, start: datetime, end: datetime, bucket: timedelta) -> list[dict[str, Any]]:
    """Per bucket: client requests and documents, and the share joined exactly, by score, or not at all."""
    step = int(bucket.total_seconds() * 1_000_000)
    data = store.query(
        f"""
        SELECT {_bucket_expr("ts")} AS bucket, count(*) AS requests,
               count(*) FILTER (WHERE linkage = 'exact') AS exact,
               count(*) FILTER (WHERE linkage = 'scored') AS scored,
               count(*) FILTER (WHERE linkage = 'unlinked' OR linkage IS NULL) AS unlinked
        FROM request_facts WHERE layer IN ('client', 'document') AND ts >= ? AND ts < ? GROUP BY ALL ORDER BY bucket
        """,
        [step, start, end],
    ).to_pylist()
    return [
        {
            "bucket": r["bucket"].isoformat(),
            "requests": r["requests"],
            "exact_share": _rate(r["exact"], r["requests"]),
            "scored_share": _rate(r["scored"], r["requests"]),
            "unlinked_share": _rate(r["unlinked"], r["requests"]),
        }
        for r in data
    ]


def quality_report(
    store: Store,
    source: str | None = None,
    since: str | datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Per-source and per-field quality for a window against its baseline, the trends, and schema drift."""
    latest = store.query("SELECT max(ts) AS t FROM events").to_pylist()[0]["t"]
    if source is not None:
        known = [r["source"] for r in store.query("SELECT DISTINCT source FROM events").to_pylist()]
        if source not in known:
            raise ValueError(f"no events from source {source!r} (sources: {', '.join(sorted(known)) or 'none'})")
    end = until or (latest + timedelta(microseconds=1) if latest else datetime.now(UTC))
    start = since if isinstance(since, datetime) else parse_since(since, end)
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise ValueError(f"the window is empty: {start.isoformat()} is not before {end.isoformat()}")
    return {"window": {"start": start.isoformat(), "end": end.isoformat()}, **panels(store, start, end, source)}


def panels(store: Store, start: datetime, end: datetime, source: str | None = None) -> dict[str, Any]:
    """The report's parts for a window (the data quality page adds them to its view): fields, trends, drift."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    baseline_start = max(start - (end - start), epoch) if start > epoch else start
    sources, fields = field_quality(store, start, end, baseline_start, source)
    bucket = _bucket(start, end)
    drift = drift_report(store) if source is None else _drift_for(store, source)
    return {
        "baseline": {"start": baseline_start.isoformat(), "end": start.isoformat()},
        "bucket_seconds": bucket.total_seconds(),
        "sources": sources,
        "fields": fields,
        "flagged": [f for f in fields if f["drift"]],
        "clock_skew_trend": clock_skew_trend(store, start, end, bucket),
        "join_coverage_trend": join_coverage_trend(store, start, end, bucket),
        "schema_drift": {"changes": drift["changes"], "wrong_type_quarantine": drift["wrong_type_quarantine"]},
    }


def _drift_for(store: Store, source: str) -> dict[str, Any]:
    try:
        return drift_report(store, source=source)
    except ValueError:  # events from before field observations were recorded
        return {"changes": [], "wrong_type_quarantine": []}
