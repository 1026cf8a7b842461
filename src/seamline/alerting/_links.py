"""Which playbook an alert opens, and the UI link to that investigation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

_RATE_METRICS = ("error_rate", "failed_request_rate", "js_error_rate")
_FRONTEND_METRICS = ("js_error_rate", "lcp_p75_ms")
# A release cohort this over-represented among affected traffic points at the deploy itself.
_RELEASE_LIFT = 3.0
_RELEASE_SHARE = 0.6


def _cohort_fields(cohort: Any) -> tuple[str, str, float, float]:
    if isinstance(cohort, dict):
        return (
            str(cohort.get("dimension", "")),
            str(cohort.get("value", "")),
            float(cohort.get("lift") or 0),
            float(cohort.get("share") or 0),
        )
    dimension, value, lift, share = (list(cohort) + [None] * 4)[:4]
    return str(dimension or ""), str(value or ""), float(lift or 0), float(share or 0)


def choose_playbook(metric: str, segment: str | None, cohorts: Iterable[Any] | None = None) -> str:
    """The playbook that fits an alert: by the segment that changed, the kind of metric and the cohorts."""
    for cohort in cohorts or ():
        dimension, _, lift, share = _cohort_fields(cohort)
        if dimension in ("release", "backend_release") and lift >= _RELEASE_LIFT and share >= _RELEASE_SHARE:
            return "release-regression"
    if segment == "database":
        return "dependency-failure"
    if segment == "client" or (segment is None and metric in _FRONTEND_METRICS):
        return "frontend-regression"
    if metric in _RATE_METRICS:
        return "error-escalation"
    return "latency-spike"


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def investigation_path(
    playbook: str | None,
    scope: dict[str, str],
    at: datetime | None,
    until: datetime | None = None,
    alert_id: str | None = None,
) -> str | None:
    """`/investigate/{playbook}?<scope>&at=<ISO time>[&until=...][&alert=...]`: the page that renders the report."""
    if not playbook:
        return None
    params = sorted(scope.items())
    if at is not None:
        params.append(("at", _iso(at)))
        if until is not None and until > at:
            params.append(("until", _iso(until)))
    if alert_id:
        params.append(("alert", alert_id))
    return f"/investigate/{playbook}" + (f"?{urlencode(params)}" if params else "")
