"""Correlation heatmap: does a backend's latency or error rate move with a page's errors or slowness?

For the busiest pages and backends (gateway, services, and dependencies shown as `→postgresql`
or `→api.psp.example`), per time bucket:

- frontend metric of a page: `errors` = share of its transactions that failed (see
  failures), or `slow` = share slower than `threshold_ms` end to end;
- backend metric of a backend *for that page's transactions*: `latency` = p90 duration of its
  records, or `errors` = share of its records that failed.

Each cell is the Pearson correlation over time buckets of the two (null with fewer than four
buckets where both exist, or when either is flat). The answer also holds each page's
frontend metric and each backend's metric over time, the heatmaps a reader checks a cell against.
"""

from __future__ import annotations

import math
from typing import Any

from seamline.store.base import Store
from seamline.views._common import FAILED, bucket_sql, dense, rows
from seamline.views._filters import Filters

BACKEND = {"latency": "quantile_cont(duration_ms, 0.9)", "errors": "count(*) FILTER (WHERE failed) / count(*)"}
FRONTEND = {
    "errors": f"count(*) FILTER (WHERE {FAILED}) / count(*)",
    "slow": "count(*) FILTER (WHERE e2e_ms > ?) / nullif(count(e2e_ms), 0)",
}
_BACKEND_NAME = "CASE WHEN layer = 'dependency' THEN '→' || coalesce(route, '?') ELSE coalesce(service, '?') END"
_MIN_BUCKETS = 4


def _pearson(points: list[tuple[float, float]]) -> float | None:
    """Pearson's r of the pairs; None with fewer than four pairs or when either side is flat."""
    n = len(points)
    if n < _MIN_BUCKETS:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxy = sum((x - mx) * (y - my) for x, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    syy = sum((y - my) ** 2 for _, y in points)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return round(max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy))), 3)


def correlation_heatmap(
    store: Store,
    filters: Filters,
    backend: str = "latency",
    frontend: str = "errors",
    threshold_ms: float = 3000.0,
    pages: int = 10,
    services: int = 10,
) -> dict[str, Any]:
    """Page x backend correlation of backend latency/errors with frontend errors/slowness over time."""
    if backend not in BACKEND:
        raise ValueError(f"backend must be one of {', '.join(BACKEND)}, not {backend!r}")
    if frontend not in FRONTEND:
        raise ValueError(f"frontend must be one of {', '.join(FRONTEND)}, not {frontend!r}")
    window = filters.window(store)
    tx_where, tx_params = filters.where("transaction_facts", window)
    rq_where, rq_params = filters.where("request_facts", window)
    page_list = [
        r["page"]
        for r in rows(
            store,
            f"SELECT page, count(*) AS n FROM transaction_facts WHERE {tx_where} AND page IS NOT NULL "
            "GROUP BY 1 ORDER BY n DESC LIMIT ?",
            [*tx_params, int(pages)],
        )
    ]
    backend_list = [
        r["name"]
        for r in rows(
            store,
            f"SELECT {_BACKEND_NAME} AS name, count(*) AS n FROM request_facts WHERE {rq_where} "
            "AND layer IN ('gateway', 'service', 'dependency') GROUP BY 1 ORDER BY n DESC LIMIT ?",
            [*rq_params, int(services)],
        )
    ]
    front_params = [threshold_ms] if "?" in FRONTEND[frontend] else []
    tx_bucket, tx_bucket_params = bucket_sql(window, "start_ts")
    rq_bucket, rq_bucket_params = bucket_sql(window, "ts")
    front = rows(
        store,
        f"SELECT {tx_bucket} AS bucket, page, {FRONTEND[frontend]} AS value FROM transaction_facts "
        f"WHERE {tx_where} AND page IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
        [*tx_bucket_params, *front_params, *tx_params, page_list],
    )
    # Per page and backend for the correlations, and per backend alone for its series, in one scan.
    back = rows(
        store,
        f"""
        SELECT bucket, page, backend, grouping(page) AS all_pages, {BACKEND[backend]} AS value
        FROM (SELECT {rq_bucket} AS bucket, CASE WHEN list_contains(?::VARCHAR[], page) THEN page END AS page,
                     {_BACKEND_NAME} AS backend, duration_ms, failed
              FROM request_facts WHERE {rq_where} AND layer IN ('gateway', 'service', 'dependency'))
        WHERE list_contains(?::VARCHAR[], backend)
        GROUP BY GROUPING SETS ((bucket, page, backend), (bucket, backend))
        """,
        [*rq_bucket_params, page_list, *rq_params, backend_list],
    )
    front_at = {(r["page"], r["bucket"]): r["value"] for r in front if r["value"] is not None}
    pairs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in back:
        f = front_at.get((r["page"], r["bucket"]))
        if r["all_pages"] == 0 and r["page"] is not None and f is not None and r["value"] is not None:
            pairs.setdefault((r["page"], r["backend"]), []).append((float(r["value"]), float(f)))
    matrix = [[_pearson(pairs.get((page, name), [])) for name in backend_list] for page in page_list]
    buckets, front_series = dense(window, front, "page", "value")
    _, back_series = dense(window, [r for r in back if r["all_pages"] == 1], "backend", "value")
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "backend_metric": backend,
        "frontend_metric": frontend,
        "threshold_ms": threshold_ms,
        "pages": page_list,
        "backends": backend_list,
        "correlation": matrix,
        "buckets": buckets,
        "frontend": {p: front_series.get(p, [None] * len(buckets)) for p in page_list},
        "backend": {b: back_series.get(b, [None] * len(buckets)) for b in backend_list},
    }
