"""Failure rates per flow, page, route and service: JS errors, failed requests, server errors, timeouts.

Per flow or page (or browser, region, release) the unit is the transaction: the share that
met a JS error, a request without response (status 0), a 4xx or 5xx answer, a server error
at any layer, or a timeout; `failed` is any of those except 4xx (a 4xx is an answer such as
a wrong password, not a breakage). Per route the unit is the client request (or, with
`layer`, the gateway line or service entry); per service it is each layer's record:
gateway access lines, service entries (server spans or request logs) and dependency calls.
"""

from __future__ import annotations

from typing import Any

from seamline.store.base import Store
from seamline.views._common import FAILED, bucket_sql, dense, dimension_value, label, rate, rows
from seamline.views._filters import Filters

TRANSACTION_DIMENSIONS = ("flow", "page", "browser", "region", "release", "backend_release")
REQUEST_DIMENSIONS = ("route", "service")
LAYERS = ("client", "document", "gateway", "service", "dependency")


def failure_rates(
    store: Store,
    filters: Filters,
    by: str = "flow",
    layer: str | None = None,
    flow: str | None = None,
    top: int = 6,
) -> dict[str, Any]:
    """Failure rates by one dimension, with the failed share over time for the worst few."""
    if by in TRANSACTION_DIMENSIONS:
        return _by_transaction(store, filters, by, flow, top)
    if by in REQUEST_DIMENSIONS:
        return _by_request(store, filters, by, layer, flow, top)
    raise ValueError(f"by must be one of {', '.join(TRANSACTION_DIMENSIONS + REQUEST_DIMENSIONS)}, not {by!r}")


def _by_transaction(store: Store, filters: Filters, by: str, flow: str | None, top: int) -> dict[str, Any]:
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    flow_cond, flow_params = dimension_value("flow", flow)
    data = rows(
        store,
        f"""
        SELECT {by} AS key, count(*) AS transactions, count(DISTINCT user_key) AS users,
               count(*) FILTER (WHERE js_errors > 0) AS js_error,
               count(*) FILTER (WHERE status_0 > 0) AS no_response,
               count(*) FILTER (WHERE status_4xx > 0) AS http_4xx,
               count(*) FILTER (WHERE status_5xx > 0) AS http_5xx,
               count(*) FILTER (WHERE server_errors > 0) AS server_error,
               count(*) FILTER (WHERE timeouts > 0) AS timeout,
               count(*) FILTER (WHERE {FAILED}) AS failed
        FROM transaction_facts WHERE {where} AND {flow_cond}
        GROUP BY 1 ORDER BY failed DESC, transactions DESC
        """,
        params + flow_params,
    )
    classes = ("js_error", "no_response", "http_4xx", "http_5xx", "server_error", "timeout", "failed")
    table = [
        {
            by: label(r["key"]),
            "transactions": r["transactions"],
            "users": r["users"],
            **{c: r[c] for c in classes},
            **{f"{c}_rate": rate(r[c], r["transactions"]) for c in classes},
        }
        for r in data
    ]
    worst = [r["key"] for r in sorted(data, key=lambda r: -(r["failed"] or 0))[:top]]
    bucket, bucket_params = bucket_sql(window, "start_ts")
    series_rows = rows(
        store,
        f"""
        SELECT {bucket} AS bucket, {by} AS key,
               count(*) FILTER (WHERE {FAILED}) / count(*) AS failed_rate,
               count(*) FILTER (WHERE js_errors > 0) / count(*) AS js_error_rate
        FROM transaction_facts WHERE {where} AND {flow_cond} AND {by} IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL
        """,
        bucket_params + params + flow_params + [[w for w in worst if w is not None]],
    )
    buckets, failed = dense(window, series_rows, "key", "failed_rate")
    _, js = dense(window, series_rows, "key", "js_error_rate")
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "by": by,
        "unit": "transaction",
        "rows": table,
        "buckets": buckets,
        "failed_rate": failed,
        "js_error_rate": js,
    }


def _by_request(
    store: Store, filters: Filters, by: str, layer: str | None, flow: str | None, top: int
) -> dict[str, Any]:
    if layer is not None and layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, not {layer!r}")
    window = filters.window(store)
    where, params = filters.where("request_facts", window)
    flow_cond, flow_params = dimension_value("flow", flow)
    default = ("client",) if by == "route" else ("gateway", "service", "dependency")
    layers = default if layer is None else (layer,)
    data = rows(
        store,
        f"""
        SELECT layer, {by} AS key, count(*) AS requests, count(DISTINCT user_key) AS users,
               count(*) FILTER (WHERE http_status = 0) AS no_response,
               count(*) FILTER (WHERE http_status BETWEEN 400 AND 499) AS http_4xx,
               count(*) FILTER (WHERE http_status >= 500) AS http_5xx,
               count(*) FILTER (WHERE timeout) AS timeout,
               count(*) FILTER (WHERE failed) AS failed,
               quantile_cont(duration_ms, 0.9) AS p90
        FROM request_facts WHERE {where} AND {flow_cond} AND layer IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL ORDER BY failed DESC, requests DESC
        """,
        params + flow_params + [list(layers)],
    )
    classes = ("no_response", "http_4xx", "http_5xx", "timeout", "failed")
    table = [
        {
            "layer": r["layer"],
            by: label(r["key"]),
            "requests": r["requests"],
            "users": r["users"],
            "p90_ms": None if r["p90"] is None else round(r["p90"], 1),
            **{c: r[c] for c in classes},
            **{f"{c}_rate": rate(r[c], r["requests"]) for c in classes},
        }
        for r in data
    ]
    worst = sorted(data, key=lambda r: -(r["failed"] or 0))[:top]
    bucket, bucket_params = bucket_sql(window, "ts")
    series_rows = rows(
        store,
        f"""
        SELECT {bucket} AS bucket, layer || ' ' || coalesce({by}, '(none)') AS key,
               count(*) FILTER (WHERE failed) / count(*) AS failed_rate,
               count(*) FILTER (WHERE timeout) / count(*) AS timeout_rate
        FROM request_facts WHERE {where} AND {flow_cond}
          AND layer || ' ' || coalesce({by}, '(none)') IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL
        """,
        bucket_params + params + flow_params + [[f"{r['layer']} {label(r['key'])}" for r in worst]],
    )
    buckets, failed = dense(window, series_rows, "key", "failed_rate")
    _, timeouts = dense(window, series_rows, "key", "timeout_rate")
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "by": by,
        "unit": "request",
        "layers": list(layers),
        "rows": table,
        "buckets": buckets,
        "failed_rate": failed,
        "timeout_rate": timeouts,
    }
