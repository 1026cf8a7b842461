"""The baseline of one metric in one scope at one instant: what it should be, and how much it wobbles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from seamline.detect._series import SeriesSpec, series_sql, spread
from seamline.detect.metrics import DetectError, check_window, get_metric
from seamline.store.base import Store

HISTORY_MIN = 240  # trailing baseline: four hours before the window, so a two-hour incident stays a minority
MIN_POINTS = 30  # trailing buckets needed before a value is judged (the first half hour is warm-up)
HISTORY_DAYS = 8  # read this far back for the daily and weekly baselines


@dataclass(frozen=True, slots=True)
class Baseline:
    """Expected value and robust spread of a windowed metric at `at`, learnt only from earlier data."""

    metric: str
    scope: dict[str, str]
    at: datetime
    window_s: int
    expected: float | None
    spread: float | None
    points: int
    method: str | None  # "seasonal" (same time on earlier days) | "trailing" (earlier the same day) | None
    observed: float | None  # the metric over the window ending at `at`
    volume: int

    @property
    def score(self) -> float | None:
        """Deviation of the observed value from the expected one, in spreads (positive = worse)."""
        if self.expected is None or self.observed is None or not self.spread:
            return None
        sign = -1.0 if get_metric(self.metric).direction == "down" else 1.0
        return sign * (self.observed - self.expected) / self.spread

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "scope": self.scope,
            "at": self.at.isoformat(),
            "window_s": self.window_s,
            "expected": self.expected,
            "spread": self.spread,
            "points": self.points,
            "method": self.method,
            "observed": self.observed,
            "volume": self.volume,
            "score": self.score,
        }


def baseline(store: Store, metric: str, scope: Mapping[str, str], at: datetime, window_s: int = 300) -> Baseline:
    """Baseline of `metric` in `scope` for the window of `window_s` seconds ending at `at`."""
    m = get_metric(metric)
    check_window(at - timedelta(seconds=1), at)
    if window_s < 60 or window_s % 60:
        raise DetectError("window_s must be a whole number of minutes (60, 120, 300 ...)")
    spec = SeriesSpec((m,), "", dict(scope), (window_s // 60,), HISTORY_MIN, MIN_POINTS)
    # The bucket ending at `at` is the minute before it.
    minute_end = at.replace(second=0, microsecond=0)
    if minute_end < at:
        minute_end += timedelta(minutes=1)
    last = minute_end - timedelta(minutes=1)
    sql, params = series_sql(spec, at - timedelta(days=HISTORY_DAYS), last, minute_end)
    rows = store.query(sql, params).to_pylist()
    row = rows[0] if rows else None
    if row is None or row["expected"] is None:
        return Baseline(
            metric,
            dict(scope),
            at,
            window_s,
            None,
            None,
            int(row["points"] or 0) if row else 0,
            None,
            row["value"] if row else None,
            int(row["volume"]) if row else 0,
        )
    expected = float(row["expected"])
    return Baseline(
        metric,
        dict(scope),
        at,
        window_s,
        expected,
        spread(m, expected, row["mad"], int(row["volume"]), row["t_vol"]),
        int(row["points"] or 0),
        row["method"],
        float(row["value"]),
        int(row["volume"]),
    )
