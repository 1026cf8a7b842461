"""Join coverage: how many client requests found their server side, how, and why not.

A client request (fetch, XHR, or a page's document load) is linked exactly (shared ids),
by a scored match, or not at all; an unlinked one carries the reason correlation gave up.
"""

from __future__ import annotations

from typing import Any

from seamline.store.base import Store

DIMENSIONS = {
    "route": "coalesce(r.route, r.page, '(none)')",
    "service": "coalesce(r.server_service, '(unlinked)')",
    "release": "coalesce(r.release, '(none)')",
    "browser": "coalesce(r.browser, '(unknown)')",
    "kind": "r.kind",
}

_REQUESTS = """
WITH best AS (
    SELECT l.from_event_id, max(l.confidence) AS confidence,
           bool_or(l.method <> 'scored') AS exact, arg_max(s.service, l.confidence) AS server_service
    FROM links l JOIN events s ON s.event_id = l.to_event_id GROUP BY l.from_event_id
)
SELECT e.event_id, e.kind, e.route, e.page, e.release, e.browser, e.http_status, b.server_service,
       CASE WHEN b.exact THEN 'exact' WHEN b.from_event_id IS NOT NULL THEN 'scored' ELSE 'unlinked' END AS linkage,
       u.reason
FROM events e
LEFT JOIN best b ON b.from_event_id = e.event_id
LEFT JOIN unlinked_requests u ON u.event_id = e.event_id
WHERE e.kind IN ('client_request', 'page_view')
"""


def join_coverage(store: Store, by: str = "route", limit: int = 50) -> dict[str, Any]:
    """Overall shares, the breakdown by one dimension, and the unlinked reasons."""
    if by not in DIMENSIONS:
        raise ValueError(f"cannot break coverage down by {by!r}; choose one of {', '.join(DIMENSIONS)}")
    totals = store.query(
        f"SELECT count(*) AS requests, count(*) FILTER (WHERE linkage = 'exact') AS exact, "
        f"count(*) FILTER (WHERE linkage = 'scored') AS scored, "
        f"count(*) FILTER (WHERE linkage = 'unlinked') AS unlinked FROM ({_REQUESTS})"
    ).to_pylist()[0]
    n = totals["requests"] or 1
    overall = {**totals, **{f"{k}_share": round(totals[k] / n, 4) for k in ("exact", "scored", "unlinked")}}
    breakdown = store.query(
        f"SELECT {DIMENSIONS[by]} AS {by}, count(*) AS requests, "
        "count(*) FILTER (WHERE linkage = 'exact') AS exact, count(*) FILTER (WHERE linkage = 'scored') AS scored, "
        "count(*) FILTER (WHERE linkage = 'unlinked') AS unlinked, "
        "round(count(*) FILTER (WHERE linkage <> 'unlinked') / count(*), 4) AS linked_share "
        f"FROM ({_REQUESTS}) r GROUP BY 1 ORDER BY requests DESC LIMIT ?",
        [limit],
    ).to_pylist()
    reasons = store.query(
        f"SELECT coalesce(reason, '(not yet correlated)') AS reason, count(*) AS requests FROM ({_REQUESTS}) "
        "WHERE linkage = 'unlinked' GROUP BY 1 ORDER BY 2 DESC"
    ).to_pylist()
    return {"overall": overall, "by": by, "breakdown": breakdown, "unlinked_reasons": reasons}
