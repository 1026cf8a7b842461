"""The filters every dashboard view takes, rendered as a WHERE clause with bound parameters.

A time range is relative to the latest transaction in the store ("the last 24 hours of
data"), so a store of last month's logs opens on something, not on an empty "now"; explicit
`from`/`to` override it. User input only ever reaches SQL as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from seamline.store.base import Store

RANGES: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
# (longest span, bucket): about 50-150 points per chart.
_BUCKETS: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(hours=3), timedelta(minutes=2)),
    (timedelta(hours=8), timedelta(minutes=5)),
    (timedelta(days=2), timedelta(minutes=30)),
    (timedelta(days=8), timedelta(hours=2)),
    (timedelta(days=45), timedelta(hours=6)),
)
BUCKETS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "2m": timedelta(minutes=2),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
}
# Column of each fact table the time range applies to.
_TIME_COLUMN = {"transaction_facts": "start_ts", "request_facts": "ts", "events": "ts"}
# How far outside a transaction's start its requests may lie (for pruning the semi-join).
_SLACK = timedelta(hours=1)


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class FilterError(ValueError):
    """A filter value that cannot be used, worded for the person who typed it."""


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"cannot read time {text!r}; use ISO 8601, e.g. 2026-11-02T10:00:00Z") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not _EARLIEST <= value <= _LATEST:
        # Windows are widened by ranges and slack; near year 1 or 9999 that arithmetic overflows.
        raise FilterError(f"time {text!r} is outside {_EARLIEST.year}..{_LATEST.year}")
    return value


@dataclass(frozen=True, slots=True)
class Window:
    """The resolved time window of one view call and the bucket its series use."""

    start: datetime
    end: datetime
    bucket: timedelta

    def bucket_starts(self) -> list[datetime]:
        """Every bucket start from the window's start to its end (for gap-free series)."""
        step = self.bucket
        first = datetime.fromtimestamp((self.start.timestamp() // step.total_seconds()) * step.total_seconds(), UTC)
        out = []
        t = first
        while t <= self.end and len(out) < 5000:
            out.append(t)
            t += step
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready window."""
        return {"start": self.start, "end": self.end, "bucket_seconds": int(self.bucket.total_seconds())}


@dataclass(frozen=True, slots=True)
class Filters:
    """Time range, environment, release, feature flag (name or name:variant), segment, browser, region."""

    range: str = "24h"
    start: datetime | None = None
    end: datetime | None = None
    bucket: str | None = None
    environment: str | None = None
    release: str | None = None
    flag: str | None = None
    segment: str | None = None
    browser: str | None = None
    region: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Filters:
        """Read filters from URL query parameters (`from`/`to` for explicit times); unknown keys are ignored."""

        def text(key: str) -> str | None:
            value = params.get(key)
            value = None if value is None else str(value).strip()
            return value or None

        range_ = text("range") or "24h"
        if range_ not in RANGES:
            raise FilterError(f"range must be one of {', '.join(RANGES)}, not {range_!r}")
        bucket = text("bucket")
        if bucket is not None and bucket not in BUCKETS:
            raise FilterError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
        start = _parse_time(t) if (t := text("from")) else None
        end = _parse_time(t) if (t := text("to")) else None
        if start and end and start >= end:
            raise FilterError("`from` must be before `to`")
        return cls(
            range=range_,
            start=start,
            end=end,
            bucket=bucket,
            **{k: text(k) for k in ("environment", "release", "flag", "segment", "browser", "region")},
        )

    def to_params(self) -> dict[str, str]:
        """The filters as URL query parameters (only those set)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "range" and value == "24h"):
                continue
            key = {"start": "from", "end": "to"}.get(f.name, f.name)
            out[key] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out

    def with_(self, **changes: Any) -> Filters:
        """A copy with some filters changed."""
        return replace(self, **changes)

    def window(self, store: Store) -> Window:
        """Resolve the time range against the latest data in the store."""
        start, end = self.start, self.end
        if start is None or end is None:
            row = store.query("SELECT min(start_ts) AS lo, max(start_ts) AS hi FROM transaction_facts").to_pylist()[0]
            latest = row["hi"] or datetime.now(UTC)
            earliest = row["lo"] or latest - timedelta(hours=24)
            end = end or latest + timedelta(microseconds=1)
            span = RANGES[self.range]
            start = start or (earliest if span is None else end - span)
        span = end - start
        if self.bucket:
            bucket = BUCKETS[self.bucket]
        else:
            bucket = next((b for limit, b in _BUCKETS if span <= limit), timedelta(days=1))
        return Window(start, end, bucket)

    def flag_parts(self) -> tuple[str, str | None] | None:
        """(flag name, variant or None) of the flag filter."""
        if not self.flag:
            return None
        name, sep, variant = self.flag.partition(":")
        return name.strip(), (variant.strip() or None) if sep else None

    def where(self, table: str, window: Window, alias: str = "") -> tuple[str, list[Any]]:
        """SQL condition and its parameters selecting the filtered rows of a fact table or events."""
        p = f"{alias}." if alias else ""
        time_col = _TIME_COLUMN[table]
        clauses = [f"{p}{time_col} >= ?", f"{p}{time_col} < ?"]
        params: list[Any] = [window.start, window.end]
        for name in ("environment", "segment", "browser", "region"):
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{p}{name} = ?")
                params.append(value)
        if self.release is not None:
            # A frontend (web@...) or a backend (api@...) release: facts carry both.
            if table == "events":
                clauses.append(f"{p}release = ?")
                params.append(self.release)
            else:
                clauses.append(f"({p}release = ? OR {p}backend_release = ?)")
                params += [self.release, self.release]
        flag = self.flag_parts()
        if flag is not None:
            name, variant = flag
            condition = "feature_flags[?] = ?" if variant is not None else "feature_flags[?] IS NOT NULL"
            values: list[Any] = [name, variant] if variant is not None else [name]
            if table == "request_facts":
                # Requests carry no flags; take them from their transaction (started near them).
                clauses.append(
                    f"{p}transaction_id IN (SELECT transaction_id FROM transaction_facts "
                    f"WHERE start_ts >= ? AND start_ts < ? AND {condition})"
                )
                params += [window.start - _SLACK, window.end + _SLACK, *values]
            else:
                clauses.append(f"{p}{condition}")
                params += values
        return " AND ".join(clauses), params

    def describe(self) -> str:
        """The filters in words, for titles."""
        parts = [f"{k}={v}" for k, v in self.to_params().items()]
        return ", ".join(parts) or "last 24h"


FILTER_KEYS: tuple[str, ...] = (
    "range",
    "from",
    "to",
    "bucket",
    "environment",
    "release",
    "flag",
    "segment",
    "browser",
    "region",
)
