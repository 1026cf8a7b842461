"""The metrics detection watches: what each one measures, on which fact table, and how it is judged.

A metric is an aggregate over rows of `transaction_facts` (what users lived through, end to
end) or `request_facts` (requests per layer of the path). Scopes narrow the rows: a flow, a
page, a region, a route ("POST /api/checkout"), a service, a release or a flag state
("new_checkout=on"). Each metric knows the smallest volume it can be judged on and the
smallest change worth a page, so a quiet scope or a wobble of a few milliseconds never alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seamline.store.base import Store

# A transaction failed when the user met an error anywhere on its path (same as the views).
TX_FAILED = "(js_errors > 0 OR status_0 > 0 OR status_5xx > 0 OR server_errors > 0 OR timeouts > 0)"
# "POST /api/checkout": documents have no method in the facts; a page load is a GET.
ROUTE_KEY = "(coalesce(http_method, 'GET') || ' ' || route)"
_USER_LAYERS = "layer IN ('client', 'document')"

TABLES = {"tx": ("transaction_facts", "start_ts"), "req": ("request_facts", "ts")}
# Scope keys and the column each one reads, per table; route, service and flag reach the
# other table through the transaction id.
TX_COLUMNS = {
    "flow": "flow",
    "page": "page",
    "region": "region",
    "browser": "browser",
    "release": "release",
    "backend_release": "backend_release",
    "segment": "segment",
}
REQ_COLUMNS = {**TX_COLUMNS, "service": "service", "route": ROUTE_KEY}
SCOPE_KEYS = (*TX_COLUMNS, "route", "service", "flag")


class DetectError(ValueError):
    """A metric, scope or window that cannot be used, worded for the person who asked."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One watched quantity.

    Transaction metrics are judged per session: `row_sql` aggregates a session's transactions in
    the window (its median end-to-end time, whether it met an error), then `value_sql` runs over
    the sessions. One slow or unlucky visitor clicking fast would otherwise look like a crowd.
    Request metrics take `row_sql` per request.
    """

    name: str
    table: str  # "tx" (transaction_facts) or "req" (request_facts)
    row_sql: str  # per session (tx: an aggregate) or per request (req: an expression)
    value_sql: str  # aggregate over those values, `{x}` standing for them
    unit: str
    kind: str  # "latency" (a quantile, ms) | "rate" (share 0..1) | "count"
    side: str  # "frontend" or "backend": which half of the path the metric speaks for
    help: str
    direction: str = "up"  # which way is bad
    min_volume: int = 20  # sessions or requests in the window below which the metric is not judged
    min_delta: float = 0.0  # smallest absolute change worth an anomaly
    min_ratio: float = 1.0  # and the smallest ratio against the baseline
    floor: float = 0.0  # lowest spread: below it noise from few rows would look huge
    rel_floor: float = 0.0  # lowest spread as a share of the expected value
    detect: bool = True  # judged by find_anomalies (volume is context, not an alarm)
    per_session: bool = True  # transaction metrics: one value per session (False: per transaction)
    confirm: int = 1  # consecutive strong buckets before an episode opens (noisier metrics wait longer)
    # Request metrics read one layer set per scope kind; "" is the default.
    layers: tuple[tuple[str, str], ...] = (("", _USER_LAYERS),)

    def value(self, x: str) -> str:
        """The value aggregate over per-session (or per-request) values `x`."""
        return self.value_sql.format(x=x)

    def volume(self, x: str) -> str:
        """Aggregate counting what the value stands on."""
        return f"count({x})"

    def bad(self, x: str) -> str:
        """Aggregate counting bad sessions or requests (rates), else 0."""
        return f"count(*) FILTER (WHERE {x})" if self.kind == "rate" else "0::BIGINT"

    def layer_filter(self, scope: Mapping[str, str]) -> str:
        """The request_facts layer condition for a scope (only for request metrics)."""
        table = dict(self.layers)
        for key in ("service", "route"):
            if key in scope and key in table:
                return table[key]
        return table[""]


_SHARE = "avg(CASE WHEN {x} THEN 1.0 WHEN NOT {x} THEN 0.0 END)"  # NULL (no rows) stays out
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "requests",
            "tx",
            "count(*)",
            "sum({x})",
            "transactions",
            "count",
            "frontend",
            "Transactions started (page loads and user actions).",
            direction="down",
            min_volume=1,
            detect=False,
        ),
        Metric(
            "e2e_p90_ms",
            "tx",
            "median(e2e_ms)",
            "quantile_cont({x}, 0.9)",
            "ms",
            "latency",
            "frontend",
            "90th percentile over sessions of their median end-to-end time (click or navigation to the last "
            "response or the page load).",
            min_volume=20,
            min_delta=250.0,
            min_ratio=1.3,
            floor=40.0,
            confirm=3,
            detect=False,  # heavy-tailed on few sessions: a measure for rules and playbooks, not a pager
            rel_floor=0.06,
        ),
        Metric(
            "e2e_p50_ms",
            "tx",
            "median(e2e_ms)",
            "quantile_cont({x}, 0.5)",
            "ms",
            "latency",
            "frontend",
            "Median over sessions of their median end-to-end time: steadier than the p90 on few sessions, "
            "so a shift of everyone's time (a region's network) shows here first.",
            min_volume=8,
            min_delta=400.0,
            min_ratio=2.5,
            floor=30.0,
            confirm=3,
            rel_floor=0.05,
        ),
        Metric(
            "lcp_p75_ms",
            "tx",
            "median(lcp_ms)",
            "quantile_cont({x}, 0.75)",
            "ms",
            "latency",
            "frontend",
            "75th percentile over sessions of their median Largest Contentful Paint.",
            min_volume=20,
            min_delta=300.0,
            min_ratio=1.3,
            floor=50.0,
            confirm=3,
            detect=False,  # heavy-tailed on few sessions: a measure for rules and playbooks, not a pager
            rel_floor=0.06,
        ),
        Metric(
            "error_rate",
            "tx",
            f"bool_or({TX_FAILED})",
            _SHARE,
            "share",
            "rate",
            "frontend",
            "Share of sessions with a failed transaction (JS error, status 0, 5xx, timeout anywhere on the path).",
            min_volume=10,
            min_delta=0.05,
            min_ratio=1.8,
            floor=0.004,
        ),
        Metric(
            "js_error_rate",
            "tx",
            "bool_or(js_errors > 0)",
            _SHARE,
            "share",
            "rate",
            "frontend",
            "Share of sessions with a JavaScript error.",
            min_volume=10,
            min_delta=0.05,
            min_ratio=1.8,
            floor=0.004,
        ),
        Metric(
            "server_p90_ms",
            "req",
            "duration_ms",
            "quantile_cont({x}, 0.9)",
            "ms",
            "latency",
            "backend",
            "90th percentile of server time: the gateway's request time, or a service's span for a service scope.",
            min_volume=12,
            min_delta=150.0,
            min_ratio=1.8,
            floor=15.0,
            rel_floor=0.06,
            layers=(("", "layer = 'gateway' AND service = 'gateway'"), ("service", "layer = 'service'")),
        ),
        Metric(
            "failed_request_rate",
            "req",
            "failed",
            _SHARE,
            "share",
            "rate",
            "backend",
            "Share of requests that failed (status 0, 5xx, error span): as the browser saw them, or a "
            "service's own for a service scope.",
            min_volume=10,
            min_delta=0.04,
            min_ratio=1.8,
            floor=0.004,
            layers=(("", _USER_LAYERS), ("service", "layer = 'service'")),
        ),
    )
}


def get_metric(name: str) -> Metric:
    """The metric called `name`, or a clear error listing the known ones."""
    metric = METRICS.get(name)
    if metric is None:
        raise DetectError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return metric


def scope_filter(metric: Metric, scope: Mapping[str, str], with_layer: bool = True) -> tuple[str, list[Any]]:
    """A WHERE condition (and its parameters) selecting the metric's rows in a scope."""
    parts: list[str] = []
    params: list[Any] = []
    columns = TX_COLUMNS if metric.table == "tx" else REQ_COLUMNS
    for key, value in scope.items():
        if key not in SCOPE_KEYS:
            raise DetectError(f"unknown scope key {key!r}; use one of: {', '.join(SCOPE_KEYS)}")
        if not isinstance(value, str) or not value:
            raise DetectError(f"scope {key} needs a text value")
        if key in columns:
            parts.append(f"{columns[key]} = ?")
            params.append(value)
        elif key == "flag":
            name, sep, state = value.partition("=")
            if not sep or not name or not state:
                raise DetectError(f"flag scope {value!r} must read name=state, e.g. new_checkout=on")
            if metric.table == "tx":
                parts.append("feature_flags[?] = ?")
            else:
                parts.append(
                    "transaction_id IN (SELECT transaction_id FROM transaction_facts WHERE feature_flags[?] = ?)"
                )
            params += [name, state]
        elif key == "route":  # a transaction metric for the transactions that called a route
            parts.append(
                f"transaction_id IN (SELECT transaction_id FROM request_facts WHERE {_USER_LAYERS} AND {ROUTE_KEY} = ?)"
            )
            params.append(value)
        else:  # service, for a transaction metric
            parts.append(
                "transaction_id IN (SELECT transaction_id FROM request_facts WHERE layer = 'service' AND service = ?)"
            )
            params.append(value)
    if metric.table == "req" and with_layer:
        parts.append(f"({metric.layer_filter(scope)})")
    return (" AND ".join(parts) or "true"), params


@dataclass(frozen=True, slots=True)
class Measurement:
    """A metric's value over a window, with the rows it stands on."""

    metric: str
    scope: dict[str, str]
    start: datetime
    end: datetime
    value: float | None
    volume: int
    bad: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "scope": self.scope,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "value": self.value,
            "volume": self.volume,
            "bad": self.bad,
        }


def check_window(start: datetime, end: datetime) -> None:
    """Refuse naive or reversed windows with a readable message."""
    if start.tzinfo is None or end.tzinfo is None:
        raise DetectError("start and end must carry a time zone (UTC)")
    if end <= start:
        raise DetectError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")


def measure(store: Store, metric: str, scope: Mapping[str, str], start: datetime, end: datetime) -> Measurement:
    """The metric's value over [start, end) in a scope."""
    m = get_metric(metric)
    check_window(start, end)
    table, ts = TABLES[m.table]
    where, params = scope_filter(m, scope)
    rows = f"SELECT * FROM {table} WHERE {ts} >= ? AND {ts} < ? AND {where}"
    if m.table == "tx" and m.per_session:
        rows = f"SELECT {m.row_sql} AS x FROM ({rows}) GROUP BY coalesce(session_id, transaction_id)"
    else:
        rows = f"SELECT {m.row_sql} AS x FROM ({rows})"
    row = store.query(
        f"SELECT {m.value('x')} AS value, {m.volume('x')} AS volume, {m.bad('x')} AS bad FROM ({rows})",
        [start, end, *params],
    ).to_pylist()[0]
    value = row["value"]
    return Measurement(
        metric,
        dict(scope),
        start,
        end,
        None if value is None else float(value),
        int(row["volume"] or 0),
        int(row["bad"]) if m.kind == "rate" else None,
    )
