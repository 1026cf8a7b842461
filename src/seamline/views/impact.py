"""User impact: who met a failure or a slowdown — distinct users and sessions, and their share.

A condition picks the transactions that hurt (failed, a JS error, a server error, a timeout,
no response, a 5xx, or slower than `threshold_ms` end to end); a scope narrows them (a flow,
page, step; or a route or service, which selects transactions with a matching request). The
share is against every transaction, user and session in the same filters and scope — so
"12% of checkout users met an error" reads as it should.
"""

from __future__ import annotations

from typing import Any

from seamline.store.base import Store
from seamline.views._common import FAILED, bucket_sql, dense, dimension_value, label, rate, rows
from seamline.views._filters import Filters

CONDITIONS: dict[str, str] = {
    "failed": FAILED,
    "js_error": "js_errors > 0",
    "server_error": "server_errors > 0",
    "timeout": "timeouts > 0",
    "no_response": "status_0 > 0",
    "http_5xx": "status_5xx > 0",
    "slow": "e2e_ms > ?",
}
_REQUEST_CONDITIONS: dict[str, str] = {
    "failed": "failed",
    "js_error": "false",
    "server_error": "failed AND layer IN ('gateway', 'service', 'dependency')",
    "timeout": "timeout",
    "no_response": "http_status = 0",
    "http_5xx": "http_status >= 500",
    "slow": "duration_ms > ?",
}
BREAKDOWNS = ("flow", "page", "browser", "region", "release", "segment")


def user_impact(
    store: Store,
    filters: Filters,
    condition: str = "failed",
    threshold_ms: float = 3000.0,
    flow: str | None = None,
    page: str | None = None,
    name: str | None = None,
    route: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """Distinct users and sessions affected by a failure or slowdown, their share, over time and by dimension."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, not {condition!r}")
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    scope, scope_params = [where], list(params)
    for column, value in (("flow", flow), ("page", page), ("name", name)):
        cond, extra = dimension_value(column, value)
        scope.append(cond)
        scope_params += extra
    hit = CONDITIONS[condition]
    hit_params: list[Any] = [threshold_ms] if "?" in hit else []
    if route is not None or service is not None:
        # In scope: transactions with a request on that route / of that service; affected: one
        # of those requests met the condition.
        req_where, req_params = filters.where("request_facts", window)
        req_scope, req_scope_params = [req_where], list(req_params)
        for column, value in (("route", route), ("service", service)):
            cond, extra = dimension_value(column, value)
            req_scope.append(cond)
            req_scope_params += extra
        in_scope = " AND ".join(req_scope)
        scope.append(f"transaction_id IN (SELECT transaction_id FROM request_facts WHERE {in_scope})")
        scope_params += req_scope_params
        req_hit = _REQUEST_CONDITIONS[condition]
        hit = f"transaction_id IN (SELECT transaction_id FROM request_facts WHERE {in_scope} AND {req_hit})"
        hit_params = req_scope_params + ([threshold_ms] if "?" in req_hit else [])
    scope_sql = " AND ".join(scope)
    bucket, bucket_params = bucket_sql(window, "start_ts")
    base = f"(SELECT *, {bucket} AS bucket, {hit} AS hit FROM transaction_facts WHERE {scope_sql})"
    base_params = bucket_params + hit_params + scope_params
    totals = rows(
        store,
        f"""
        SELECT count(*) AS transactions, count(DISTINCT user_key) AS users, count(DISTINCT session_id) AS sessions,
               count(*) FILTER (WHERE hit) AS hit_transactions,
               count(DISTINCT user_key) FILTER (WHERE hit) AS hit_users,
               count(DISTINCT session_id) FILTER (WHERE hit) AS hit_sessions,
               min(start_ts) FILTER (WHERE hit) AS first_hit, max(start_ts) FILTER (WHERE hit) AS last_hit
        FROM {base}
        """,
        base_params,
    )[0]
    # Per bucket, exact: first one row per bucket and session (far fewer rows), then distinct users over those.
    per_bucket = rows(
        store,
        f"""
        SELECT bucket, count(DISTINCT user_key) FILTER (WHERE hit) AS users, count(*) FILTER (WHERE hit) AS sessions,
               count(DISTINCT user_key) FILTER (WHERE hit) / count(DISTINCT user_key) AS user_share
        FROM (SELECT bucket, session_id, any_value(user_key) AS user_key, bool_or(hit) AS hit FROM {base} GROUP BY ALL)
        GROUP BY bucket
        """,
        base_params,
    )
    buckets, series = dense(window, per_bucket, None, "users")
    users = series.get("users", [None] * len(buckets))
    sessions = dense(window, per_bucket, None, "sessions")[1].get("sessions", [None] * len(buckets))
    share = dense(window, per_bucket, None, "user_share")[1].get("user_share", [None] * len(buckets))
    # Breakdowns count users approximately (HyperLogLog, ~2%): exact distinct counts per grouping set cost
    # ten times more, and a ranking of where the affected users are does not need the last user.
    sets = ", ".join(f"({d})" for d in BREAKDOWNS)
    grouped = rows(
        store,
        f"""
        SELECT {", ".join(BREAKDOWNS)}, {", ".join(f"grouping({d}) AS g_{d}" for d in BREAKDOWNS)},
               approx_count_distinct(user_key) FILTER (WHERE hit) AS users,
               approx_count_distinct(user_key) AS all_users, count(*) FILTER (WHERE hit) AS transactions
        FROM {base}
        GROUP BY GROUPING SETS ({sets}) HAVING count(*) FILTER (WHERE hit) > 0
        """,
        base_params,
    )
    breakdown: dict[str, list[dict[str, Any]]] = {}
    for dim in BREAKDOWNS:
        mine = sorted((r for r in grouped if r[f"g_{dim}"] == 0), key=lambda r: -r["users"])[:10]
        breakdown[dim] = [
            {
                dim: label(r[dim]),
                "users": r["users"],
                "share_of_users": rate(r["users"], r["all_users"]),
                "transactions": r["transactions"],
            }
            for r in mine
        ]
    affected = {
        "users": totals["hit_users"],
        "sessions": totals["hit_sessions"],
        "transactions": totals["hit_transactions"],
    }
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "condition": condition,
        "threshold_ms": threshold_ms if condition == "slow" else None,
        "scope": {
            k: v
            for k, v in (("flow", flow), ("page", page), ("name", name), ("route", route), ("service", service))
            if v is not None
        },
        "affected": affected,
        "total": {k: totals[k] for k in ("users", "sessions", "transactions")},
        "share": {k: rate(affected[k], totals[k]) for k in affected},
        "first_seen": totals["first_hit"],
        "last_seen": totals["last_hit"],
        "buckets": buckets,
        "users_affected": users,
        "sessions_affected": sessions,
        "user_share": share,
        "by": breakdown,
    }
