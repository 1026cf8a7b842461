"""Anomaly episodes, judged the streaming way, grouped into incidents and explained.

Every metric is scored per one-minute bucket against its baseline (see `_series`). A series
opens an episode when `confirm` consecutive buckets score at least `z_open` spreads and clear
the metric's smallest meaningful change; it stays open while buckets keep scoring `z_close`
or more and closes after `calm_min` quiet minutes (hysteresis: no flapping at the edge).
Because a bucket's value only uses rows up to its end, `detected_at` is when a live system
could have raised it.

Episodes that overlap in time (within `merge_gap_min`) are one anomaly: an incident moves many
series at once (the route's failures, its flow's error rate, the page's JS errors), and a
responder wants one page, not twelve. The strongest episode names the anomaly; the others
are its `signals`. Systemic means backend and frontend signals moved together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from seamline.detect import _series
from seamline.detect.attribute import Attribution, attribute
from seamline.detect.baseline import HISTORY_DAYS, HISTORY_MIN, MIN_POINTS
from seamline.detect.metrics import METRICS, DetectError, Metric, check_window, get_metric
from seamline.store.base import Store

# (table, dimension) families scanned by default: "" is the whole shop.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("tx", ""),
    ("tx", "flow"),
    ("tx", "page"),
    ("tx", "region"),
    ("req", "service"),
    ("req", "route"),
)


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Knobs of detection; the defaults are what the accuracy benchmark measured."""

    metrics: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.detect)
    families: tuple[tuple[str, str], ...] = FAMILIES
    windows: tuple[int, ...] = (5, 10, 30)  # minutes; the shortest with enough volume is used
    history_min: int = HISTORY_MIN
    min_points: int = MIN_POINTS
    history_days: int = HISTORY_DAYS
    z_open: float = 8.0
    z_close: float = 3.0
    confirm: int = 1  # consecutive buckets at z_open before an episode opens (a metric may ask for more)
    calm_min: int = 10  # quiet minutes before an episode closes
    merge_gap_min: int = 10  # episodes this close in time are one anomaly
    min_bad: int = 3  # rate metrics: bad rows in the window before it can open
    attribute: bool = True

    def __post_init__(self) -> None:
        for name in self.metrics:
            get_metric(name)
        if self.z_close > self.z_open:
            raise DetectError("z_close must not exceed z_open")
        if self.confirm < 1 or self.calm_min < 1:
            raise DetectError("confirm and calm_min must be at least 1")
        _series.windows_for(self.windows)


@dataclass(slots=True)
class Episode:
    """One series out of its baseline."""

    metric: str
    scope: dict[str, str]
    start_min: int
    last_min: int
    detected_min: int
    observed: float
    expected: float
    score: float
    volume: int
    open: bool = True
    window_min: int = 1  # trailing window of the bucket that opened it: its data reach back this far

    @property
    def side(self) -> str:
        """frontend or backend: which half of the path the metric speaks for."""
        return METRICS[self.metric].side

    def as_signal(self) -> dict[str, Any]:
        """How the episode appears in an anomaly's `signals`."""
        return {
            "metric": self.metric,
            "scope": self.scope,
            "start": _dt(self.start_min).isoformat(),
            "detected_at": _dt(self.detected_min).isoformat(),
            "observed": round(self.observed, 4),
            "expected": round(self.expected, 4),
            "score": round(self.score, 2),
        }


@dataclass(slots=True)
class Anomaly:
    """A detected degradation: where, when, how far off, and where on the path it starts."""

    anomaly_id: str
    metric: str
    scope: dict[str, str]
    start: datetime
    end: datetime | None  # None while open
    detected_at: datetime
    observed: float
    expected: float
    score: float
    volume: int
    classification: str  # systemic | isolated
    segment: str | None = None  # client | network | gateway | service | database
    service: str | None = None
    cohorts: list[tuple[str, str, float, float]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `seamline detect --json` prints and the API returns)."""
        return {
            "anomaly_id": self.anomaly_id,
            "metric": self.metric,
            "unit": METRICS[self.metric].unit,
            "scope": self.scope,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "detected_at": self.detected_at.isoformat(),
            "observed": self.observed,
            "expected": self.expected,
            "score": round(self.score, 2),
            "volume": self.volume,
            "classification": self.classification,
            "segment": self.segment,
            "service": self.service,
            "cohorts": [
                {"dimension": d, "value": v, "lift": lift, "share": share} for d, v, lift, share in self.cohorts
            ],
            "signals": self.signals,
            "evidence": self.evidence,
        }

    def row(self, run_id: str) -> dict[str, Any]:
        """The `anomalies` table row."""
        return {
            "anomaly_id": self.anomaly_id,
            "metric": self.metric,
            "scope": orjson.dumps(self.scope, option=orjson.OPT_SORT_KEYS).decode(),
            "start_ts": _us(self.start),
            "end_ts": None if self.end is None else _us(self.end),
            "detected_at": _us(self.detected_at),
            "observed": self.observed,
            "expected": self.expected,
            "score": self.score,
            "volume": self.volume,
            "classification": self.classification,
            "segment": self.segment,
            "service": self.service,
            "cohorts": orjson.dumps(self.as_dict()["cohorts"]).decode(),
            "signals": orjson.dumps(self.signals).decode(),
            "detect_run_id": run_id,
        }


def _dt(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def _specs(cfg: DetectConfig) -> list[_series.SeriesSpec]:
    specs = []
    for table, dim in cfg.families:
        for per_session in (True, False):
            metrics = tuple(
                METRICS[n]
                for n in cfg.metrics
                if METRICS[n].table == table and (METRICS[n].per_session == per_session or table == "req")
            )
            if metrics and (per_session or table == "tx"):
                specs.append(_series.SeriesSpec(metrics, dim, {}, cfg.windows, cfg.history_min, cfg.min_points))
    return specs


def _episodes(
    rows: Sequence[dict[str, Any]], metric: Metric, scope: dict[str, str], cfg: DetectConfig, end_min: int
) -> list[Episode]:
    """Run the open/close state machine over one series' deviating buckets (sorted by minute)."""
    out: list[Episode] = []
    ep: Episode | None = None
    run_start = run_last = -(10**9)
    strong = 0  # consecutive buckets at z_open
    for r in rows:
        minute = int(r["minute"])
        expected = float(r["expected"])
        s = _series.spread(metric, expected, r["mad"], int(r["volume"]), r["t_vol"])
        value = float(r["value"])
        score = (value - expected) / s
        if score < cfg.z_close:
            continue
        if minute != run_last + 1:
            run_start, strong = minute, 0
        run_last = minute
        if ep is not None and minute - ep.last_min > cfg.calm_min:
            ep.open = False
            out.append(ep)
            ep = None
        if ep is not None:
            ep.last_min = minute
            if score > ep.score:
                ep.score, ep.observed, ep.volume = score, value, int(r["volume"])
            continue
        meaningful = value - expected >= metric.min_delta and value >= expected * metric.min_ratio
        if metric.kind == "rate":
            meaningful = meaningful and (r["bad"] or 0) >= cfg.min_bad
        strong = strong + 1 if (score >= cfg.z_open and meaningful) else 0
        if strong >= max(cfg.confirm, metric.confirm):
            ep = Episode(
                metric.name,
                scope,
                run_start,
                minute,
                minute + 1,
                value,
                expected,
                score,
                int(r["volume"]),
                window_min=int(r["win"]),
            )
    if ep is not None:
        ep.open = end_min - ep.last_min <= cfg.calm_min
        out.append(ep)
    return out


def _scope_of(spec: _series.SeriesSpec, key: str) -> dict[str, str]:
    return {spec.dim: key} if spec.dim else {}


def find_episodes(
    store: Store,
    start: datetime,
    end: datetime,
    cfg: DetectConfig,
    progress: Callable[[str], None] | None = None,
) -> list[Episode]:
    """Every series' episodes in [start, end), scanned family by family."""
    load_from = start - timedelta(days=cfg.history_days)
    end_min = int(end.timestamp() // 60)
    found: list[Episode] = []
    for spec in _specs(cfg):
        if progress:
            progress(f"{spec.metrics[0].table} by {spec.dim or 'all'}")
        sql, params = _series.series_sql(spec, load_from, start, end, deviating_only=True)
        rows = store.query(sql + " ORDER BY metric, key, minute", params).to_pylist()
        series: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            series.setdefault((r["metric"], r["key"]), []).append(r)
        for (name, key), points in series.items():
            found += _episodes(points, METRICS[name], _scope_of(spec, key), cfg, end_min)
    return found


def _group(episodes: list[Episode], gap: int) -> list[list[Episode]]:
    """Episodes overlapping in time (within `gap` minutes) as groups, in time order."""
    groups: list[list[Episode]] = []
    reach = -(10**9)
    for ep in sorted(episodes, key=lambda e: e.start_min):
        if groups and ep.start_min <= reach + gap:
            groups[-1].append(ep)
            reach = max(reach, ep.last_min)
        else:
            groups.append([ep])
            reach = ep.last_min
    return groups


def _primary(group: list[Episode]) -> Episode:
    # The strongest signal, with a scoped series preferred to the whole shop's: it says where.
    return max(
        group, key=lambda e: (e.score * (1.0 if e.scope else 0.5), e.detected_min == min(g.detected_min for g in group))
    )


def _anomaly(group: list[Episode]) -> Anomaly:
    lead = _primary(group)
    start = min(e.start_min for e in group)
    detected = min(e.detected_min for e in group)
    still_open = any(e.open for e in group)
    last = max(e.last_min for e in group)
    scope = dict(lead.scope)
    flows = sorted((e for e in group if "flow" in e.scope), key=lambda e: -e.score)
    if flows and "flow" not in scope and not ({"region", "page"} & set(scope)):
        scope["flow"] = flows[0].scope["flow"]
    sides = {e.side for e in group}
    digest = hashlib.sha1(
        orjson.dumps([lead.metric, lead.scope, start], option=orjson.OPT_SORT_KEYS), usedforsecurity=False
    ).hexdigest()[:16]
    return Anomaly(
        anomaly_id=f"an-{digest}",
        metric=lead.metric,
        scope=scope,
        start=_dt(start),
        end=None if still_open else _dt(last + 1),
        detected_at=_dt(detected),
        observed=round(lead.observed, 4),
        expected=round(lead.expected, 4),
        score=round(lead.score, 2),
        volume=lead.volume,
        classification="systemic" if sides == {"frontend", "backend"} else "isolated",
        signals=[e.as_signal() for e in sorted(group, key=lambda e: -e.score)[:12]],
    )


def _explain(store: Store, anomaly: Anomaly, lead: Episode) -> None:
    # The lead episode's own window and scope: the group may reach further than the change it names.
    # A bucket's value covers its trailing window: on a quiet scope the rows behind the first
    # anomalous bucket lie up to that window before it.
    start = _dt(lead.start_min - lead.window_min + 1)
    until = _dt(lead.last_min + 1) if not lead.open else anomaly.detected_at + timedelta(minutes=15)
    attr: Attribution = attribute(store, lead.scope, start, max(until, start + timedelta(minutes=2)))
    anomaly.segment = attr.segment
    anomaly.service = attr.service
    anomaly.cohorts = attr.cohorts
    anomaly.evidence = attr.evidence


def find_anomalies(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    config: DetectConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Anomaly]:
    """Anomalies whose episodes start in [start, end), judged bucket by bucket with data up to each bucket's end."""
    check_window(start, end)
    cfg = config or DetectConfig()
    episodes = find_episodes(store, start, end, cfg, progress)
    out = []
    for group in _group(episodes, cfg.merge_gap_min):
        anomaly = _anomaly(group)
        if cfg.attribute:
            if progress:
                progress(f"attributing {anomaly.anomaly_id}")
            _explain(store, anomaly, _primary(group))
        out.append(anomaly)
    return out
