"""The health review of a period: correlation heatmaps, drift of key metrics against the period before,
and the impact of every change deployed in it (releases, feature-flag rollouts).

Drift compares each metric over [since, until) with the same length just before, overall and
per busy flow; a move of more than `DRIFT_THRESHOLD` (relative) in the bad direction is
called worse, in the good one better. Change impact reuses the views' before/after
comparisons with 95% confidence intervals (`seamline.views.releases`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from seamline.playbooks import _evidence
from seamline.playbooks._template import Chart
from seamline.playbooks.findings import FindingError, list_findings, parse_time
from seamline.store.base import Store
from seamline.views import VIEWS
from seamline.views._filters import Filters
from seamline.views.releases import flags as seen_flags
from seamline.views.releases import release_impact
from seamline.views.releases import releases as list_releases

DRIFT_THRESHOLD = 0.10
DRIFT_METRICS: tuple[tuple[str, str], ...] = (
    ("e2e_p90_ms", "end-to-end p90"),
    ("error_rate", "failed transactions"),
    ("js_error_rate", "transactions with a JS error"),
    ("failed_request_rate", "failed requests"),
    ("lcp_p75_ms", "LCP p75"),
)
_FLOWS = 6
_ALL = "(all flows)"
_OFF = ("off", "false", "control", "0", "disabled")


class ReviewError(ValueError):
    """A review period that cannot be used."""


def _verdict(direction: str, change: float | None) -> str:
    if change is None:
        return "n/a"
    if abs(change) < DRIFT_THRESHOLD:
        return "steady"
    worse = change > 0 if direction == "up" else change < 0
    return "worse" if worse else "better"


def _drift(store: Store, start: datetime, end: datetime, before: datetime, flows: list[str]) -> list[dict[str, Any]]:
    from seamline.detect import METRICS, measure

    out: list[dict[str, Any]] = []
    scopes: list[dict[str, str]] = [{}] + [{"flow": f} for f in flows]
    for metric, label in DRIFT_METRICS:
        spec = METRICS.get(metric)
        if spec is None:
            continue
        for scope in scopes if metric != "lcp_p75_ms" else [{}]:
            now = measure(store, metric, scope, start, end)
            prior = measure(store, metric, scope, before, start)
            change = _evidence.change(now.value, prior.value)
            out.append(
                {
                    "metric": metric,
                    "label": label,
                    "scope": ", ".join(f"{k}={v}" for k, v in scope.items()) or "everything",
                    "unit": spec.unit,
                    "now": now.value,
                    "before": prior.value,
                    "change": change,
                    "volume": now.volume,
                    "volume_before": prior.volume,
                    "verdict": _verdict(spec.direction, change) if min(now.volume, prior.volume) > 0 else "n/a",
                }
            )
    return out


def _coverage(store: Store, start: datetime, end: datetime, before: datetime) -> dict[str, Any]:
    def linked(a: datetime, b: datetime) -> tuple[float | None, int]:
        data = VIEWS["coverage"].call(store, {"from": a.isoformat(), "to": b.isoformat(), "limit": "1"})
        overall = data["overall"]
        if not overall.get("requests"):
            return None, 0
        return round((overall.get("exact_share") or 0) + (overall.get("scored_share") or 0), 4), overall["requests"]

    (now, n), (prior, n_before) = linked(start, end), linked(before, start)
    change = _evidence.change(now, prior)
    return {
        "metric": "join_coverage",
        "label": "client requests joined to the server",
        "scope": "everything",
        "unit": "share",
        "now": now,
        "before": prior,
        "change": change,
        "volume": n,
        "volume_before": n_before,
        "verdict": _verdict("down", change) if n and n_before else "n/a",
    }


def _releases(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    known = list_releases(store, Filters())["releases"]
    out = []
    for r in known:
        at = r["first_seen"]
        if not start <= at < end or not any(o["app"] == r["app"] and o["first_seen"] < at for o in known):
            continue  # only changes inside the period that replaced something
        half = min(timedelta(hours=3), max(timedelta(minutes=10), (end - start) / 4))
        window = Filters(start=at - half, end=at + half)
        data = release_impact(store, window, r["release"])
        overall = next((c for c in data.get("comparison", []) if c["flow"] == _ALL), None)
        out.append(
            {
                "kind": "release",
                "app": r["app"],
                "name": r["release"],
                "at": at,
                "baseline": data.get("baseline"),
                "window": {"start": at - half, "end": at + half},
                "overall": overall,
                "flows": [c for c in data.get("comparison", []) if c["flow"] != _ALL][:_FLOWS],
            }
        )
    return out


def _flags(store: Store, start: datetime, end: datetime, before: datetime) -> list[dict[str, Any]]:
    def on_share(a: datetime, b: datetime) -> dict[str, tuple[str, float]]:
        counts: dict[str, dict[str, int]] = {}
        for row in seen_flags(store, Filters(start=a, end=b)):
            counts.setdefault(row["flag"], {})[str(row["variant"])] = row["transactions"]
        out = {}
        for flag, variants in counts.items():
            on = [v for v in variants if v.lower() not in _OFF]
            if on:
                variant = max(on, key=lambda v: variants[v])
                out[flag] = (variant, round(variants[variant] / sum(variants.values()), 4))
        return out

    now, prior = on_share(start, end), on_share(before, start)
    out = []
    for flag, (variant, share) in sorted(now.items()):
        previous = prior.get(flag, (variant, 0.0))[1]
        data = VIEWS["flag_impact"].call(
            store, {"from": start.isoformat(), "to": end.isoformat(), "flag": f"{flag}:{variant}"}
        )
        overall = next((c for c in data.get("comparison", []) if c["flow"] == _ALL), None)
        out.append(
            {
                "kind": "flag",
                "name": f"{flag}={variant}",
                "on_share": share,
                "on_share_before": previous,
                "changed": abs(share - previous) >= 0.05,
                "overall": overall,
                "flows": [c for c in data.get("comparison", []) if c["flow"] != _ALL][:_FLOWS],
            }
        )
    return out


def _heatmaps(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    out = []
    for backend, frontend, title in (
        ("latency", "errors", "backend p90 vs page errors"),
        ("errors", "errors", "backend errors vs page errors"),
    ):
        data = VIEWS["heatmap"].call(
            store, {"from": start.isoformat(), "to": end.isoformat(), "backend": backend, "frontend": frontend}
        )
        pairs = [
            {"page": page, "backend": data["backends"][j], "r": r}
            for i, page in enumerate(data["pages"])
            for j, r in enumerate(data["correlation"][i])
            if r is not None and r >= 0.5
        ]
        pairs.sort(key=lambda p: -p["r"])
        spec = Chart(kind="heatmap", z="correlation", x="backends", y="pages")
        out.append(
            {
                "backend": backend,
                "frontend": frontend,
                "title": title,
                "chart": _evidence.chart(spec, data, start, (start, start), []),
                "strong_pairs": pairs[:10],
            }
        )
    return out


def review(store: Store, since: Any, until: Any = None) -> dict[str, Any]:
    """The health review of [since, until) (until defaults to the latest data) against the period before."""
    try:
        start = parse_time(since, "since")
        end = parse_time(until, "until") if until not in (None, "") else None
    except FindingError as exc:
        raise ReviewError(str(exc)) from None
    if end is None:
        latest = store.query("SELECT max(start_ts) AS hi FROM transaction_facts").to_pylist()[0]["hi"]
        end = (latest + timedelta(microseconds=1)) if latest else datetime.now(UTC)
    if end <= start:
        raise ReviewError(f"the period is empty: since {start.isoformat()} is not before until {end.isoformat()}")
    before = start - (end - start)
    flows_now = VIEWS["flows"].call(store, {"from": start.isoformat(), "to": end.isoformat()})["flows"]
    flows = [f["flow"] for f in flows_now if f["flow"] not in (None, "(none)")][:_FLOWS]
    drift = [*_drift(store, start, end, before, flows), _coverage(store, start, end, before)]
    changes = _releases(store, start, end) + _flags(store, start, end, before)
    return {
        "period": {"start": start, "end": end},
        "previous": {"start": before, "end": start},
        "generated_at": datetime.now(UTC),
        "drift": drift,
        "worse": [d for d in drift if d["verdict"] == "worse"],
        "changes": changes,
        "heatmaps": _heatmaps(store, start, end),
        "findings": list_findings(store, start, end),
    }
