"""Conditions: turn one rule at one instant into figures and a verdict (holds or not).

The figures come from detection's public API (`measure`, `baseline`, `find_anomalies`), so
an alert and the detection benchmark read the same numbers. A rule evaluates to one
`Evaluation` per scope: one for threshold, deviation and burn-rate rules, and one per
anomalous scope for anomaly rules (a rule on `{}` pages separately for each flow that breaks).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from seamline.alerting.rules import Rule, fingerprint
from seamline.store.base import Store

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
# How far back a single check looks for anomalies that are still open.
ANOMALY_LOOKBACK = timedelta(hours=3)
_MIN_VISIBLE = timedelta(seconds=60)  # one replay step


@dataclass(slots=True)
class Evaluation:
    """A rule's figures for one scope at one instant."""

    rule: Rule
    scope: dict[str, str]
    at: datetime
    holds: bool
    value: float | None
    threshold: float | None
    volume: int
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    anomaly: Any = None  # detect.Anomaly for anomaly rules
    segment: str | None = None
    metric: str = ""

    @property
    def fingerprint(self) -> str:
        """De-duplication key of the alert this evaluation feeds."""
        return fingerprint(self.rule.name, self.scope)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (for `seamline alerts test`)."""
        return {
            "rule": self.rule.name,
            "fingerprint": self.fingerprint,
            "metric": self.metric or self.rule.metric,
            "scope": self.scope,
            "at": self.at,
            "holds": self.holds,
            "value": self.value,
            "threshold": self.threshold,
            "volume": self.volume,
            "segment": self.segment,
            "summary": self.summary,
            "details": self.details,
            "anomaly_id": getattr(self.anomaly, "anomaly_id", None),
        }


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "no data"
    if metric.endswith("_rate"):
        return f"{value:.1%}"
    if metric.endswith("_ms"):
        return f"{value:,.0f} ms"
    return f"{value:,.4g}"


def _where(scope: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(scope.items())) or "everything"


class AnomalyFeed:
    """Anomalies found once over a span, replayed as a stream: visible from their `detected_at` on."""

    def __init__(self, anomalies: Sequence[Any]) -> None:
        self.anomalies = sorted(anomalies, key=lambda a: a.detected_at)

    @classmethod
    def over(cls, store: Store, start: datetime, end: datetime) -> AnomalyFeed:
        """Detect anomalies between start and end (detection judges each bucket with data up to its end)."""
        from seamline.detect import find_anomalies

        return cls(find_anomalies(store, start, end))

    def active(self, at: datetime) -> list[Any]:
        """Anomalies already detected at `at` and not yet over.

        An episode detected when it was already (nearly) over still counts for one evaluation
        step after its detection, so a short incident cannot slip between two evaluations."""
        return [
            a
            for a in self.anomalies
            if a.detected_at <= at and (a.end is None or at < max(a.end, a.detected_at + _MIN_VISIBLE))
        ]


def _scope_matches(rule_scope: dict[str, str], scope: dict[str, str]) -> bool:
    """A rule on {flow: checkout} covers anomalies on that flow, also narrower ones ({flow, region})."""
    return all(scope.get(k) == v for k, v in rule_scope.items())


def evaluate(rule: Rule, store: Store, at: datetime, feed: AnomalyFeed | None = None) -> list[Evaluation]:
    """Evaluate one rule at `at`; anomaly rules read `feed` (detected now when not given)."""
    kind = rule.condition.type
    if kind == "anomaly":
        if feed is None:
            feed = AnomalyFeed.over(store, at - ANOMALY_LOOKBACK, at)
        return _anomaly(rule, feed, at)
    if kind == "threshold":
        return [_threshold(rule, store, at)]
    if kind == "deviation":
        return [_deviation(rule, store, at)]
    return [_burn_rate(rule, store, at)]


def _measure(
    store: Store, metric: str, scope: dict[str, str], start: datetime, end: datetime
) -> tuple[float | None, int]:
    from seamline.detect import METRICS, measure

    m = measure(store, metric, scope, start, end)
    value = None if m.value is None else float(m.value)
    if value is None and METRICS[metric].kind == "count":
        value = 0.0  # no rows is a count of zero: what a "traffic stopped" rule watches for
    return value, int(m.volume or 0)


def _threshold(rule: Rule, store: Store, at: datetime) -> Evaluation:
    cond = rule.condition
    value, volume = _measure(store, rule.metric, rule.scope, at - timedelta(seconds=rule.window_s), at)
    enough = volume >= rule.min_events
    holds = enough and value is not None and _OPS[cond.op](value, cond.value)
    summary = (
        f"{rule.metric} on {_where(rule.scope)} is {_fmt(value, rule.metric)} "
        f"({cond.op} {_fmt(cond.value, rule.metric)}) over {rule.window_s / 60:g} min, {volume:,} events"
    )
    if not enough:
        summary += f" (below min_events {rule.min_events})"
    details = {"window_s": rule.window_s, "op": cond.op, "min_events": rule.min_events}
    return Evaluation(rule, rule.scope, at, holds, value, cond.value, volume, summary, details, metric=rule.metric)


def _deviation(rule: Rule, store: Store, at: datetime) -> Evaluation:
    from seamline.detect import baseline

    cond = rule.condition
    value, volume = _measure(store, rule.metric, rule.scope, at - timedelta(seconds=rule.window_s), at)
    base = baseline(store, rule.metric, rule.scope, at, window_s=int(rule.window_s))
    expected = None if base.expected is None else float(base.expected)
    spread = float(base.spread or 0.0)
    details: dict[str, Any] = {
        "window_s": rule.window_s,
        "expected": expected,
        "spread": spread,
        "baseline_points": base.points,
        "baseline_method": base.method,
        "spreads": cond.spreads,
        "direction": cond.direction,
    }
    holds = False
    threshold = None
    if expected is not None and value is not None and volume >= rule.min_events and base.points:
        # A spread of ~0 (very steady history) would make any wobble an alert; the relative floor stops that.
        margin = max(cond.spreads * spread, abs(expected) * cond.min_change)
        upper, lower = expected + margin, expected - margin
        up, down = value > upper, value < lower
        holds = {"up": up, "down": down, "both": up or down}[cond.direction]
        threshold = lower if cond.direction == "down" or (cond.direction == "both" and value < expected) else upper
        details["score"] = (value - expected) / spread if spread > 0 else None
    summary = (
        f"{rule.metric} on {_where(rule.scope)} is {_fmt(value, rule.metric)} against a baseline of "
        f"{_fmt(expected, rule.metric)} (limit {_fmt(threshold, rule.metric)}), {volume:,} events"
    )
    if volume < rule.min_events:
        summary += f" (below min_events {rule.min_events})"
    return Evaluation(rule, rule.scope, at, holds, value, threshold, volume, summary, details, metric=rule.metric)


def _burn_rate(rule: Rule, store: Store, at: datetime) -> Evaluation:
    cond = rule.condition
    budget = 1.0 - cond.objective
    long_rate, long_volume = _measure(store, rule.metric, rule.scope, at - timedelta(seconds=cond.long_window_s), at)
    short_rate, short_volume = _measure(store, rule.metric, rule.scope, at - timedelta(seconds=cond.short_window_s), at)
    long_burn = None if long_rate is None else long_rate / budget
    short_burn = None if short_rate is None else short_rate / budget
    # Both windows must burn fast: the long one proves it matters, the short one that it is still going on.
    holds = (
        long_volume >= rule.min_events
        and long_burn is not None
        and short_burn is not None
        and long_burn >= cond.factor
        and short_burn >= cond.factor
    )
    details = {
        "objective": cond.objective,
        "long_window_s": cond.long_window_s,
        "short_window_s": cond.short_window_s,
        "long_rate": long_rate,
        "short_rate": short_rate,
        "long_burn": long_burn,
        "short_burn": short_burn,
        "short_volume": short_volume,
        "factor": cond.factor,
    }
    burn = "no data" if long_burn is None else f"{long_burn:.1f}x"
    short = "no data" if short_burn is None else f"{short_burn:.1f}x"
    summary = (
        f"{rule.metric} on {_where(rule.scope)} burns the {cond.objective:.3%} objective's budget at {burn} over "
        f"{cond.long_window_s / 60:g} min and {short} over {cond.short_window_s / 60:g} min (limit {cond.factor:g}x)"
    )
    if long_volume < rule.min_events:
        summary += f" (below min_events {rule.min_events})"
    return Evaluation(
        rule, rule.scope, at, holds, long_burn, cond.factor, long_volume, summary, details, metric=rule.metric
    )


def _anomaly(rule: Rule, feed: AnomalyFeed, at: datetime) -> list[Evaluation]:
    cond = rule.condition
    out: dict[str, Evaluation] = {}
    for a in feed.active(at):
        metric = a.metric
        if rule.metric != "*" and metric != rule.metric:
            continue
        if cond.metrics and metric not in cond.metrics:
            continue
        scope = {str(k): str(v) for k, v in (a.scope or {}).items()}
        if not _scope_matches(rule.scope, scope):
            continue
        if (a.score or 0.0) < cond.min_score or int(a.volume or 0) < rule.min_events:
            continue
        if cond.classification and a.classification != cond.classification:
            continue
        if cond.segments and a.segment not in cond.segments:
            continue
        where = a.segment + (f" ({a.service})" if a.service else "") if a.segment else "unknown segment"
        summary = (
            f"{metric} on {_where(scope)} is {_fmt(a.observed, metric)} against {_fmt(a.expected, metric)} "
            f"expected ({a.score or 0:.1f} spreads, {a.classification or 'unclassified'}); path segment: {where}"
        )
        ev = Evaluation(
            rule,
            scope,
            at,
            True,
            None if a.observed is None else float(a.observed),
            None if a.expected is None else float(a.expected),
            int(a.volume or 0),
            summary,
            {
                "score": a.score,
                "classification": a.classification,
                "service": a.service,
                "cohorts": a.cohorts,
                "signals": a.signals,
                "anomaly_start": a.start,
            },
            anomaly=a,
            segment=a.segment,
            metric=metric,
        )
        # Several metrics may break on one scope at once: one alert, led by the strongest.
        key = ev.fingerprint
        if key not in out or (a.score or 0) > (out[key].anomaly.score or 0):
            out[key] = ev
    return list(out.values())
