"""Where on the end-to-end path a degradation starts, and which cohorts it hits hardest.

The anomaly's window is compared with the hour before it (ending five minutes before the
start, so a slow onset does not leak into the reference), in the same scope:

1. Failures first, as they are the most specific: server-side failures are followed down the
   path to the deepest layer whose failures grew — a database call, a named service (leaf
   services before the api that calls them), or the gateway when the services did not fail.
   JavaScript errors with no server failure behind them are the client's.
2. Otherwise latency: the transaction facts' split (client, network, server, dependency) says
   which part grew. Network wins when it grew and the server did not; dependency time is a
   database's when the calls are SQL, else the calling service's (a third party it chose to
   call); server time is the gateway's when the gateway grew and the services did not.
3. Failed requests that never reached a server (status 0) are the network's.

Cohorts are dimension values over-represented among the window's affected transactions
(failed, or slower than the reference's 90th percentile) against all of the window's
transactions: lift = share among affected / share among all, with a minimum support.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from seamline.detect.metrics import METRICS, TX_FAILED, check_window, scope_filter
from seamline.store.base import Store

DB_SYSTEMS = frozenset(("postgresql", "mysql", "mariadb", "mssql", "oracle", "sqlite", "redis", "mongodb", "cassandra"))
COHORT_DIMENSIONS = ("release", "backend_release", "browser", "region", "segment")
_REFERENCE = timedelta(hours=1)
_GUARD = timedelta(minutes=5)
_MIN_REFERENCE = 20  # transactions a reference window needs before it is preferred
_MIN_SUPPORT = 5  # affected transactions a cohort needs before it is named
_MIN_LIFT = 1.3
_REGION_LIFT = 2.0  # a latency change this concentrated in one region is the region's network
_SERVER_FAIL = "(status_5xx > 0 OR server_errors > 0 OR timeouts > 0)"
_JS_ONLY = "(js_errors > 0 AND status_0 = 0 AND NOT (status_5xx > 0 OR server_errors > 0 OR timeouts > 0))"
_PARTS = ("e2e_ms", "client_ms", "network_ms", "server_ms", "dependency_ms")


@dataclass(slots=True)
class Attribution:
    """The segment that changed, the service it names, over-indexing cohorts and the evidence behind them."""

    segment: str | None  # client | network | gateway | service | database
    service: str | None
    cohorts: list[tuple[str, str, float, float]] = field(default_factory=list)  # (dimension, value, lift, share)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "segment": self.segment,
            "service": self.service,
            "reason": self.reason,
            "cohorts": [
                {"dimension": d, "value": v, "lift": lift, "share": share} for d, v, lift, share in self.cohorts
            ],
            "evidence": self.evidence,
        }


def _tx_scope(scope: Mapping[str, str]) -> tuple[str, list[Any]]:
    return scope_filter(METRICS["requests"], scope)


def _split(store: Store, scope: Mapping[str, str], windows: list[tuple[datetime, datetime]]) -> list[dict[str, Any]]:
    where, params = _tx_scope(scope)
    out = []
    for lo, hi in windows:
        row = store.query(
            f"""
            SELECT count(*) AS n, {", ".join(f"avg({p}) AS {p}" for p in _PARTS)},
                   quantile_cont(e2e_ms, 0.9) AS e2e_p90,
                   avg(CASE WHEN {_SERVER_FAIL} THEN 1.0 ELSE 0.0 END) AS server_fail,
                   avg(CASE WHEN {_JS_ONLY} THEN 1.0 ELSE 0.0 END) AS js_only,
                   avg(CASE WHEN status_0 > 0 THEN 1.0 ELSE 0.0 END) AS lost
            FROM transaction_facts WHERE start_ts >= ? AND start_ts < ? AND {where}
            """,
            [lo, hi, *params],
        ).to_pylist()[0]
        out.append({k: (v or 0.0) for k, v in row.items()})
    return out


def _layers(
    store: Store, scope: Mapping[str, str], windows: list[tuple[datetime, datetime]]
) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """Per (layer, service, dependency) and window: (failed, duration) summed over the window's rows."""
    where, params = _tx_scope(scope)
    out: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for i, (lo, hi) in enumerate(windows):
        rows = store.query(
            f"""
            SELECT layer, coalesce(service, '') AS service,
                   CASE WHEN layer = 'dependency' THEN route ELSE '' END AS dep,
                   count(*) FILTER (WHERE failed) AS failed, sum(duration_ms) AS duration
            FROM request_facts
            WHERE ts >= ? AND ts < ? AND layer IN ('gateway', 'service', 'dependency')
              AND transaction_id IN (SELECT transaction_id FROM transaction_facts
                                     WHERE start_ts >= ? AND start_ts < ? AND {where})
            GROUP BY ALL
            """,
            [lo - _GUARD, hi + _GUARD, lo, hi, *params],
        ).to_pylist()
        for r in rows:
            key = (r["layer"], r["service"] or "", r["dep"] or "")
            out.setdefault(key, [(0.0, 0.0)] * len(windows))[i] = (float(r["failed"] or 0), float(r["duration"] or 0.0))
    return out


def _deltas(
    layers: dict[tuple[str, str, str], list[tuple[float, float]]], n: tuple[float, float], which: int
) -> dict[tuple[str, str, str], float]:
    """Per-transaction change of failures (which=0) or time (which=1) from the reference to the window."""
    ref_n, win_n = max(n[0], 1.0), max(n[1], 1.0)
    return {k: v[1][which] / win_n - v[0][which] / ref_n for k, v in layers.items()}


def _leaf_first(candidates: dict[tuple[str, str, str], float], layer: str) -> tuple[str, float] | None:
    """The service that grew most in a layer, preferring services the api calls over the api itself."""
    rows = {k[1]: v for k, v in candidates.items() if k[0] == layer}
    if not rows:
        return None
    top = max(rows.values())
    # A leaf's failures cascade up one for one; a leaf at a fraction of the top is noise beside it.
    leaves = {s: v for s, v in rows.items() if s not in ("api", "gateway", "legacy") and v >= 0.6 * top}
    if leaves:
        name = max(leaves, key=lambda s: leaves[s])
        return name, leaves[name]
    name = max(rows, key=lambda s: rows[s])
    return name, rows[name]


def _failures(fail: dict[tuple[str, str, str], float]) -> tuple[str, str | None, str]:
    db = {k: v for k, v in fail.items() if k[0] == "dependency" and k[2] in DB_SYSTEMS and v >= 0.01}
    if db:
        k = max(db, key=lambda x: db[x])
        return "database", k[1], f"{k[2]} calls from {k[1]} started failing"
    svc = _leaf_first({k: v for k, v in fail.items() if v >= 0.01}, "service")
    gw = sum(v for k, v in fail.items() if k[0] == "gateway")
    if svc is not None and svc[1] >= 0.3 * gw:
        third = {k: v for k, v in fail.items() if k[0] == "dependency" and k[1] == svc[0] and v >= 0.01}
        detail = f" (calls to {max(third, key=lambda x: third[x])[2]})" if third else ""
        return "service", svc[0], f"{svc[0]} started failing{detail}"
    if gw >= 0.01:
        return "gateway", "gateway", "the gateway answered errors the services never saw"
    return "service", svc[0] if svc else None, "server-side failures grew"


def _latency(split: list[dict[str, Any]], time: dict[tuple[str, str, str], float]) -> tuple[str, str | None, str]:
    before, during = split
    d = {p: during[p] - before[p] for p in _PARTS}
    if d["network_ms"] >= max(80.0, 0.25 * d["e2e_ms"]) and d["network_ms"] >= d["server_ms"] + d["dependency_ms"]:
        return "network", None, f"network time grew by {d['network_ms']:.0f} ms per transaction"
    part = max(("client_ms", "server_ms", "dependency_ms"), key=lambda p: d[p])
    gateway_total = sum(v for k, v in time.items() if k[0] == "gateway")
    dependency_total = sum(v for k, v in time.items() if k[0] == "dependency")
    if part == "client_ms" and gateway_total >= 0.5 * d["client_ms"]:
        # The split follows only the last request; a page or action that waits on several slow
        # requests in a row books the earlier ones as client time. All its requests' server time
        # (request_facts) says whether the servers explain the growth.
        part = "dependency_ms" if dependency_total >= 0.5 * gateway_total else "server_ms"
    if part == "client_ms":
        return "client", None, f"time in the browser grew by {d['client_ms']:.0f} ms per transaction"
    if part == "dependency_ms":
        deps = {k: v for k, v in time.items() if k[0] == "dependency"}
        if deps:
            k = max(deps, key=lambda x: deps[x])
            if k[2] in DB_SYSTEMS:
                return "database", k[1], f"{k[2]} calls from {k[1]} slowed down"
            return "service", k[1], f"{k[1]}'s calls to {k[2]} slowed down"
        return "database", None, "dependency time grew"
    gw = sum(v for k, v in time.items() if k[0] == "gateway" and k[1] == "gateway")
    api = sum(v for k, v in time.items() if k[0] == "service" and k[1] == "api")
    if gw > 0 and gw - api >= 0.5 * gw:
        return "gateway", "gateway", "the gateway's time grew while the services' did not"
    svc = _leaf_first(time, "service")
    return "service", svc[0] if svc else None, f"server time grew ({svc[0] if svc else 'unknown service'})"


def _cohorts(
    store: Store, scope: Mapping[str, str], start: datetime, end: datetime, slow_ms: float | None
) -> list[tuple[str, str, float, float]]:
    where, params = _tx_scope(scope)
    slow = "e2e_ms > ?" if slow_ms else "false"
    dims = " UNION ALL ".join(
        f"SELECT hit, '{d}' AS dimension, '{d}' AS grp, {d} AS value FROM t" for d in COHORT_DIMENSIONS
    )
    rows = store.query(
        f"""
        WITH t AS (
            SELECT *, ({TX_FAILED} OR {slow}) AS hit FROM transaction_facts
            WHERE start_ts >= ? AND start_ts < ? AND {where}
        ), d AS (
            {dims}
            UNION ALL SELECT hit, 'flag', e.key, e.key || '=' || e.value
                      FROM (SELECT hit, unnest(map_entries(feature_flags)) AS e FROM t)
        ), c AS (
            SELECT dimension, grp, value, count(*) FILTER (WHERE hit) AS a, count(*) AS n
            FROM d WHERE value IS NOT NULL GROUP BY ALL
        )
        -- Shares within the rows that have the dimension (a page view has no backend release).
        SELECT dimension, value, a, n, CAST(sum(a) OVER (PARTITION BY grp) AS BIGINT) AS a_all,
               CAST(sum(n) OVER (PARTITION BY grp) AS BIGINT) AS n_all
        FROM c
        """,
        [*([slow_ms] if slow_ms else []), start, end, *params],
    ).to_pylist()
    out = []
    for r in rows:
        if not r["a_all"] or r["a"] < _MIN_SUPPORT:
            continue
        share = r["a"] / r["a_all"]
        lift = share / (r["n"] / r["n_all"])
        if lift >= _MIN_LIFT and share >= 0.2:
            out.append((r["dimension"], str(r["value"]), round(lift, 2), round(share, 3)))
    return sorted(out, key=lambda c: -c[2] * c[3])[:6]


def attribute(store: Store, scope: Mapping[str, str], start: datetime, end: datetime) -> Attribution:
    """The segment of the path that changed in [start, end) against the hour before, and the cohorts it hits."""
    check_window(start, end)
    # The hour before is the reference; data that starts with the incident has none, so the
    # hour after the window stands in (the incident is over by then, or the data ends).
    references = [(start - _REFERENCE - _GUARD, start - _GUARD), (end + _GUARD, end + _GUARD + _REFERENCE)]
    windows: list[tuple[datetime, datetime]] = []
    split: list[dict[str, Any]] = []
    for ref in references:
        windows = [ref, (start, end)]
        split = _split(store, scope, windows)
        if split[0]["n"] >= _MIN_REFERENCE and split[1]["n"]:
            break
    before, during = split
    if not during["n"] or not before["n"]:
        return Attribution(None, None, reason="no transactions in the window, or none before or after it")
    layers = _layers(store, scope, windows)
    n = (float(before["n"]), float(during["n"]))
    fail = _deltas(layers, n, 0)
    time = _deltas(layers, n, 1)
    d_server_fail = during["server_fail"] - before["server_fail"]
    d_js = during["js_only"] - before["js_only"]
    d_lost = during["lost"] - before["lost"]
    d_e2e = during["e2e_ms"] - before["e2e_ms"]
    if d_server_fail >= 0.02:
        segment, service, reason = _failures(fail)
    elif d_js >= 0.05:
        segment, service, reason = "client", None, "JavaScript errors without server failures behind them"
    elif d_e2e >= max(100.0, 0.15 * before["e2e_ms"]):
        segment, service, reason = _latency(split, time)
    elif d_lost >= 0.02:
        segment, service, reason = "network", None, "requests that never reached a server"
    elif d_js >= 0.02:
        segment, service, reason = "client", None, "JavaScript errors without server failures behind them"
    else:
        segment, service, reason = _latency(split, time)
    evidence: list[dict[str, Any]] = [
        {
            "measure": k,
            "before": round(before[k], 4),
            "during": round(during[k], 4),
            "change": round(during[k] - before[k], 4),
        }
        for k in ("n", *_PARTS, "server_fail", "js_only", "lost")
    ]
    movers = sorted(((k, v) for k, v in fail.items() if abs(v) >= 0.005), key=lambda kv: -abs(kv[1]))[:5]
    evidence += [
        {"measure": f"failures/tx {k[0]} {k[1]} {k[2]}".strip(), "before": None, "during": None, "change": round(v, 4)}
        for k, v in movers
    ]
    slowers = sorted(((k, v) for k, v in time.items() if abs(v) >= 20.0), key=lambda kv: -abs(kv[1]))[:5]
    evidence += [
        {"measure": f"ms/tx {k[0]} {k[1]} {k[2]}".strip(), "before": None, "during": None, "change": round(v, 1)}
        for k, v in slowers
    ]
    cohorts = _cohorts(store, scope, start, end, before["e2e_p90"] or None)
    region = next((c for c in cohorts if c[0] == "region" and c[2] >= _REGION_LIFT), None)
    if segment == "client" and region is not None and "time in the browser" in reason:
        # Frontend code is the same everywhere; slowness concentrated in one region is its network.
        segment, reason = (
            "network",
            f"slower in the browser mostly in {region[1]} (lift {region[2]}), servers unchanged",
        )
    return Attribution(segment, service, cohorts, evidence, reason)
