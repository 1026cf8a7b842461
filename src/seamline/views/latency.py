"""End-to-end latency per flow: percentiles over time, and where the time goes.

A flow is a named user journey (checkout, search, ...): every action whose name starts with
`<flow>.` and every page load that such an action led to. A transaction's end-to-end latency
and its segments (client, network, gateway/server, dependency, unattributed) are computed once
per transaction in `transaction_facts`; see `seamline.views.facts` for the formulas. Here they
are aggregated: p50/p90/p99 of e2e per flow and time bucket, and the mean of each segment (the
means add up to the mean e2e, so a stacked chart shows which layer grew).
"""

from __future__ import annotations

from typing import Any

from seamline.store.base import Store
from seamline.views._common import FAILED, bucket_sql, dense, dimension_value, label, ms, rate, rows
from seamline.views._filters import Filters

SEGMENTS = ("client", "network", "server", "dependency", "unattributed")
_KINDS = {"all": "true", "action": "kind = 'action'", "navigation": "kind = 'navigation'"}


def _kind(kind: str) -> str:
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
    return _KINDS[kind]


def flows(store: Store, filters: Filters) -> dict[str, Any]:
    """Every flow with its traffic, users, e2e p50/p90/p99, failure rate and share of traffic."""
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    data = rows(
        store,
        f"""
        SELECT flow, count(*) AS transactions, count(DISTINCT user_key) AS users,
               count(DISTINCT session_id) AS sessions,
               quantile_cont(e2e_ms, 0.5) AS p50, quantile_cont(e2e_ms, 0.9) AS p90,
               quantile_cont(e2e_ms, 0.99) AS p99,
               count(*) FILTER (WHERE {FAILED}) AS failed
        FROM transaction_facts WHERE {where} GROUP BY flow ORDER BY transactions DESC
        """,
        params,
    )
    total = sum(r["transactions"] for r in data)
    out = [
        {
            "flow": label(r["flow"]),
            "transactions": r["transactions"],
            "users": r["users"],
            "sessions": r["sessions"],
            "share": rate(r["transactions"], total),
            "p50_ms": ms(r["p50"]),
            "p90_ms": ms(r["p90"]),
            "p99_ms": ms(r["p99"]),
            "failed": r["failed"],
            "failure_rate": rate(r["failed"], r["transactions"]),
        }
        for r in data
    ]
    return {"window": window.as_dict(), "filters": filters.to_params(), "flows": out}


def flow_latency(store: Store, filters: Filters, flow: str | None = None, kind: str = "action") -> dict[str, Any]:
    """p50/p90/p99 of end-to-end latency per flow over time, and its split into segments."""
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    flow_cond, flow_params = dimension_value("flow", flow)
    bucket, bucket_params = bucket_sql(window, "start_ts")
    base = f"FROM transaction_facts WHERE {where} AND {_kind(kind)} AND e2e_ms IS NOT NULL"
    per_flow = rows(
        store,
        f"""
        SELECT {bucket} AS bucket, flow, count(*) AS n,
               quantile_cont(e2e_ms, [0.5, 0.9, 0.99]) AS q
        {base} AND {flow_cond} GROUP BY ALL
        """,
        bucket_params + params + flow_params,
    )
    for r in per_flow:
        r["p50"], r["p90"], r["p99"] = (ms(v) for v in r["q"])
    buckets, p50 = dense(window, per_flow, "flow", "p50")
    _, p90 = dense(window, per_flow, "flow", "p90")
    _, p99 = dense(window, per_flow, "flow", "p99")
    _, volume = dense(window, per_flow, "flow", "n")
    segments = rows(
        store,
        f"""
        SELECT {bucket} AS bucket, count(*) AS n, avg(e2e_ms) AS e2e, avg(client_ms) AS client,
               avg(network_ms) AS network, avg(server_ms) AS server, avg(dependency_ms) AS dependency,
               avg(unattributed_ms) AS unattributed
        {base} AND {flow_cond} GROUP BY ALL
        """,
        bucket_params + params + flow_params,
    )
    for r in segments:
        for s in (*SEGMENTS, "e2e"):
            r[s] = ms(r[s])
    # No transaction in the filters' scope means no points at all: empty series, not a KeyError.
    segment_series = {s: dense(window, segments, None, s)[1].get(s, [None] * len(buckets)) for s in SEGMENTS}
    totals = rows(
        store,
        f"""
        SELECT count(*) AS transactions, quantile_cont(e2e_ms, [0.5, 0.9, 0.99]) AS q,
               avg(e2e_ms) AS e2e, avg(client_ms) AS client, avg(network_ms) AS network, avg(server_ms) AS server,
               avg(dependency_ms) AS dependency, avg(unattributed_ms) AS unattributed
        {base} AND {flow_cond}
        """,
        params + flow_params,
    )[0]
    q = totals.pop("q") or [None, None, None]
    summary = {
        "transactions": totals["transactions"],
        "p50_ms": ms(q[0]),
        "p90_ms": ms(q[1]),
        "p99_ms": ms(q[2]),
        "mean_ms": ms(totals["e2e"]),
        "segments_mean_ms": {s: ms(totals[s]) for s in SEGMENTS},
    }
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "flow": flow,
        "kind": kind,
        "buckets": buckets,
        "p50": p50,
        "p90": p90,
        "p99": p99,
        "volume": volume,
        "segments": segment_series,
        "summary": summary,
    }


def flow_steps(store: Store, filters: Filters, flow: str | None = None) -> dict[str, Any]:
    """Per step of a flow (action name or page): traffic, e2e p50/p90, segments and failure rate."""
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    flow_cond, flow_params = dimension_value("flow", flow)
    data = rows(
        store,
        f"""
        SELECT kind, name, count(*) AS transactions, count(DISTINCT user_key) AS users,
               quantile_cont(e2e_ms, 0.5) AS p50, quantile_cont(e2e_ms, 0.9) AS p90,
               avg(client_ms) AS client, avg(network_ms) AS network, avg(server_ms) AS server,
               avg(dependency_ms) AS dependency, count(*) FILTER (WHERE {FAILED}) AS failed,
               min(start_ts) AS first_seen
        FROM transaction_facts WHERE {where} AND {flow_cond}
        GROUP BY ALL ORDER BY first_seen
        """,
        params + flow_params,
    )
    steps = [
        {
            "kind": r["kind"],
            "name": label(r["name"]),
            "transactions": r["transactions"],
            "users": r["users"],
            "p50_ms": ms(r["p50"]),
            "p90_ms": ms(r["p90"]),
            **{f"{s}_ms": ms(r[s]) for s in ("client", "network", "server", "dependency")},
            "failed": r["failed"],
            "failure_rate": rate(r["failed"], r["transactions"]),
        }
        for r in data
    ]
    steps.sort(key=lambda s: -s["transactions"])
    return {"window": window.as_dict(), "filters": filters.to_params(), "flow": flow, "steps": steps}


_ORDER = {"slowest": "e2e_ms DESC NULLS LAST", "failed": "e2e_ms DESC NULLS LAST", "latest": "start_ts DESC"}


def slow_transactions(
    store: Store,
    filters: Filters,
    flow: str | None = None,
    name: str | None = None,
    page: str | None = None,
    show: str = "slowest",
    kind: str = "all",
    limit: int = 25,
) -> dict[str, Any]:
    """The slowest (or failed, or latest) transactions of a flow, step or page: each opens a waterfall."""
    if show not in _ORDER:
        raise ValueError(f"show must be one of {', '.join(_ORDER)}, not {show!r}")
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    conds = [where, _kind(kind)]
    for column, value in (("flow", flow), ("name", name), ("page", page)):
        cond, extra = dimension_value(column, value)
        conds.append(cond)
        params += extra
    if show == "failed":
        conds.append(FAILED)
    else:
        conds.append("e2e_ms IS NOT NULL")
    data = rows(
        store,
        f"""
        SELECT transaction_id, kind, flow, name, page, start_ts, e2e_ms, client_ms, network_ms, server_ms,
               dependency_ms, unattributed_ms, requests, status_0, status_4xx, status_5xx, js_errors, server_errors,
               timeouts, session_id, release, backend_release, browser, region, {FAILED} AS failed
        FROM transaction_facts WHERE {" AND ".join(conds)}
        ORDER BY {_ORDER[show]} LIMIT ?
        """,
        [*params, max(1, min(int(limit), 500))],
    )
    for r in data:
        for key in ("e2e_ms", "client_ms", "network_ms", "server_ms", "dependency_ms", "unattributed_ms"):
            r[key] = ms(r[key])
    return {"window": window.as_dict(), "filters": filters.to_params(), "show": show, "transactions": data}
