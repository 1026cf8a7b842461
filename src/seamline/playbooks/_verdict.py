"""The report's opening: which segment of the path the evidence points to, and which cohorts over-index.

The attribution itself is detection's (`seamline.detect.attribute`); this module only asks
it over the incident window and words the answer for a responder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seamline.store.base import Store

SEGMENT_WORDS = {
    "client": "the client (rendering or scripts in the browser)",
    "network": "the network between the browser and the gateway",
    "gateway": "the gateway",
    "service": "a backend service",
    "database": "the database",
}


_COHORT_KEYS = ("flag", "release", "browser", "segment", "environment", "backend_release")


def _cohort(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return dict(item)
    dimension, value, lift, share = (list(item) + [None] * 4)[:4]
    return {"dimension": dimension, "value": value, "lift": lift, "share": share}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "as_dict"):
        return _plain(value.as_dict())
    return value


def verdict(store: Store, scope: dict[str, str], start: datetime, end: datetime) -> dict[str, Any]:
    """Segment, service and over-indexing cohorts of the incident window, with a one-line headline."""
    try:
        from seamline.detect import attribute
    except ImportError:
        attribute = None
    if not callable(attribute):
        return {
            "available": False,
            "headline": "No verdict: root-cause attribution (seamline.detect) is not available in this installation.",
            "segment": None,
            "service": None,
            "cohorts": [],
            "evidence": [],
        }
    try:
        from seamline.detect.metrics import SCOPE_KEYS as known_keys
    except ImportError:
        known_keys = tuple(scope)
    # Detection scopes by fewer keys than views do (no dependency or step name): use the ones it knows.
    asked = {k: v for k, v in scope.items() if k in known_keys}
    try:
        found = attribute(store, asked, start, end)
        if getattr(found, "segment", None) is None and set(asked) & set(_COHORT_KEYS):
            # A cohort key (a flag just turned on, a new release) has no "before" of its own: attribute
            # over the rest of the scope, where the cohort then shows up as over-indexing.
            asked = {k: v for k, v in asked.items() if k not in _COHORT_KEYS}
            found = attribute(store, asked, start, end)
    except (ValueError, LookupError) as exc:
        return {
            "available": False,
            "headline": f"No verdict: {exc}",
            "segment": None,
            "service": None,
            "cohorts": [],
            "evidence": [],
        }
    segment = getattr(found, "segment", None)
    service = getattr(found, "service", None)
    cohorts = [_cohort(c) for c in (getattr(found, "cohorts", None) or [])]
    evidence = _plain(getattr(found, "evidence", None) or [])
    reason = str(getattr(found, "reason", "") or "")
    if segment is None:
        headline = "No segment stands out: the evidence does not point to one part of the path" + (
            f" ({reason})." if reason else "."
        )
    else:
        where = SEGMENT_WORDS.get(segment, segment)
        if segment == "service" and service:
            where = f"the service `{service}`"
        elif service and segment in ("database", "gateway"):
            where = f"{where} (behind `{service}`)"
        headline = f"The evidence points to {where}."
    if cohorts:
        top = ", ".join(
            f"{c['dimension']}={c['value']}"
            + (f" (x{c['lift']:.1f})" if isinstance(c.get("lift"), int | float) else "")
            for c in cohorts[:3]
        )
        headline += f" Over-indexing: {top}."
    return {
        "available": True,
        "headline": headline,
        "segment": segment,
        "service": service,
        "cohorts": cohorts,
        "reason": reason,
        "scope": asked,
        "evidence": evidence if isinstance(evidence, list) else [evidence],
    }
