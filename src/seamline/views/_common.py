"""Small helpers the view modules share: running queries, shaping time series, rates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from seamline.store.base import Store
from seamline.views._filters import Window

# A transaction failed when the user met an error anywhere on its path (4xx are answers, not failures).
FAILED = "(js_errors > 0 OR status_0 > 0 OR status_5xx > 0 OR server_errors > 0 OR timeouts > 0)"
NONE_LABEL = "(none)"


def rows(store: Store, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Run a read query and return its rows as dicts."""
    return store.query(sql, list(params) if params else None).to_pylist()


def rate(part: float | None, whole: float | None, digits: int = 4) -> float | None:
    """part / whole, rounded; None when there is nothing to divide by."""
    if not whole:
        return None
    return round((part or 0) / whole, digits)


def ms(value: float | None) -> float | None:
    """A duration rounded to 0.1 ms for display."""
    return None if value is None else round(float(value), 1)


def bucket_sql(window: Window, column: str) -> tuple[str, list[Any]]:
    """SQL bucketing a timestamp column into the window's buckets, with its parameter."""
    return f"time_bucket(to_microseconds(?), {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')", [
        int(window.bucket.total_seconds() * 1_000_000)
    ]


def dense(
    window: Window, points: Iterable[dict[str, Any]], key: str | None, value: str, bucket: str = "bucket"
) -> tuple[list[datetime], dict[str, list[Any]]]:
    """Series per key over every bucket of the window (None where a bucket had no data)."""
    starts = window.bucket_starts()
    index = {b: i for i, b in enumerate(starts)}
    out: dict[str, list[Any]] = {}
    for p in points:
        name = NONE_LABEL if key is not None and p[key] is None else (p[key] if key is not None else value)
        series = out.setdefault(str(name), [None] * len(starts))
        i = index.get(p[bucket])
        if i is not None:
            series[i] = p[value]
    return starts, out


def label(value: Any) -> str:
    """How a missing dimension value is shown."""
    return NONE_LABEL if value is None else str(value)


def dimension_value(column: str, value: str | None) -> tuple[str, list[Any]]:
    """A condition matching one value of a dimension, where NONE_LABEL matches a missing value."""
    if value is None:
        return "true", []
    if value == NONE_LABEL:
        return f"{column} IS NULL", []
    return f"{column} = ?", [value]
