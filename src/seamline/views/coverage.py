"""Join coverage: how many client requests found their server side, how, and why not.

A client request (fetch, XHR, or a page's document load) is linked exactly (shared ids),
by a scored match, or not at all; an unlinked one carries the reason correlation gave up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
WITH clients AS (
    SELECT event_id, kind, route, page, release, browser, http_status FROM events
    WHERE kind IN ('client_request', 'page_view') {client_time}
), best AS (
    SELECT l.from_event_id, max(l.confidence) AS confidence,
           bool_or(l.method <> 'scored') AS exact, {server_service} AS server_service
    FROM links l {server_join}
    WHERE l.from_event_id IN (SELECT event_id FROM clients)
    GROUP BY l.from_event_id
)
SELECT e.event_id, e.kind, e.route, e.page, e.release, e.browser, e.http_status, b.server_service,
       CASE WHEN b.exact THEN 'exact' WHEN b.from_event_id IS NOT NULL THEN 'scored' ELSE 'unlinked' END AS linkage,
       u.reason
FROM clients e
LEFT JOIN best b ON b.from_event_id = e.event_id
LEFT JOIN unlinked_requests u ON u.event_id = e.event_id
"""
# A server entry starts within this much of its client request (clock skew included).
_SLACK = timedelta(hours=1)


def join_coverage(
    store: Store, by: str = "route", limit: int = 50, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """Overall shares, the breakdown by one dimension, and the unlinked reasons (of client requests in start..end)."""
    if by not in DIMENSIONS:
        raise ValueError(f"cannot break coverage down by {by!r}; choose one of {', '.join(DIMENSIONS)}")
    windowed = start is not None and end is not None
    # Only the breakdown by service needs the server side's rows (the biggest scan): join them only then.
    server_join, server_service, server_params = "", "NULL::VARCHAR", []
    if by == "service":
        server_service = "arg_max(s.service, l.confidence)"
        server_join = "JOIN events s ON s.event_id = l.to_event_id" + (" AND s.ts BETWEEN ? AND ?" if windowed else "")
        server_params = [start - _SLACK, end + _SLACK] if windowed else []
    requests = _REQUESTS.format(
        client_time="AND ts BETWEEN ? AND ?" if windowed else "", server_join=server_join, server_service=server_service
    )
    # Bounding both sides by time lets DuckDB skip the row groups of other days.
    params = [*([start, end] if windowed else []), *server_params]
    # One pass over the requests; totals, breakdown and reasons are sums of its small result.
    groups = store.query(
        f"SELECT {DIMENSIONS[by]} AS key, linkage, coalesce(reason, '(not yet correlated)') AS reason, "
        f"count(*) AS n FROM ({requests}) r GROUP BY ALL",
        params,
    ).to_pylist()
    return summarise(groups, by, limit)


def summarise(groups: list[dict[str, Any]], by: str, limit: int) -> dict[str, Any]:
    """Coverage from request counts per (key, linkage, reason): overall shares, breakdown, unlinked reasons."""
    totals = {"requests": 0, "exact": 0, "scored": 0, "unlinked": 0}
    per_key: dict[Any, dict[str, int]] = {}
    per_reason: dict[str, int] = {}
    for g in groups:
        totals["requests"] += g["n"]
        totals[g["linkage"]] += g["n"]
        row = per_key.setdefault(g["key"], {"requests": 0, "exact": 0, "scored": 0, "unlinked": 0})
        row["requests"] += g["n"]
        row[g["linkage"]] += g["n"]
        if g["linkage"] == "unlinked":
            per_reason[g["reason"]] = per_reason.get(g["reason"], 0) + g["n"]
    n = totals["requests"] or 1
    overall = {**totals, **{f"{k}_share": round(totals[k] / n, 4) for k in ("exact", "scored", "unlinked")}}
    ranked = sorted(per_key.items(), key=lambda kv: (-kv[1]["requests"], str(kv[0])))[:limit]
    breakdown = [
        {by: key, **row, "linked_share": round((row["requests"] - row["unlinked"]) / row["requests"], 4)}
        for key, row in ranked
    ]
    reasons = [
        {"reason": reason, "requests": count}
        for reason, count in sorted(per_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {"overall": overall, "by": by, "breakdown": breakdown, "unlinked_reasons": reasons}
