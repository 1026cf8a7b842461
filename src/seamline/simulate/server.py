"""The server side of a request: gateway access log, then spans and logs down the call tree.

A request's timings are computed bottom-up while walking the endpoint table in
`model`: each service spends some of its own time, then calls its downstream steps in
order (databases, other services, third parties), then finishes. Incidents change the
walk where they would in production: a slow third-party call, a failing code path behind
a flag, a database that stops answering.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from seamline.simulate import model
from seamline.simulate.ids import Ids
from seamline.simulate.incidents import Schedule
from seamline.simulate.logs import ADDRESS_BUG, Extra, ServiceLogs
from seamline.simulate.model import Call, Db, Endpoint, Ext
from seamline.simulate.otlp import Resources
from seamline.simulate.services import Pod, Req, ServiceOut, Visitor
from seamline.simulate.spans import DB_TIMEOUT, Error, Spans
from seamline.simulate.writers import FIRST_SERVICE_LOG, GATEWAY, LEGACY, ClfTime, Sink

_DB_TIMEOUT_MS = 5_000.0  # postgres statement_timeout for the catalog role
_HTML_ROUTES = frozenset(("/", "/search", "/product/{id}", "/cart", "/checkout", "/login"))


@dataclass(slots=True)
class Served:
    """How the gateway answered a request."""

    status: int
    end_ms: float  # when nginx finished the request and wrote its log line
    request_time_ms: float
    app_ms: float  # time spent in api, what its Server-Timing header reports
    response_bytes: int
    request_id: str
    trace_id: str
    span_id: str  # api SERVER span
    degraded: bool  # an HTML page rendered without its catalog data


class Backend:
    """Answers client requests and writes what each server would have written about them."""

    def __init__(self, rng: random.Random, ids: Ids, schedule: Schedule, sink: Sink, res: Resources) -> None:
        self.rng = rng
        self.ids = ids
        self.schedule = schedule
        self.sink = sink
        self.svcs = {n: ServiceOut(s, FIRST_SERVICE_LOG + i, res) for i, (n, s) in enumerate(model.SERVICES.items())}
        self.spans = Spans(ids, sink)
        self.logs = ServiceLogs(schedule, sink)
        self.clf = ClfTime(0)
        self.legacy_clf = ClfTime(-300)  # the legacy box logs in US Eastern standard time

    # --- gateway -----------------------------------------------------------------------------
    def gateway(
        self,
        t: float,
        method: str,
        path: str,
        route: str,
        visitor: Visitor,
        referer: str,
        *,
        traceparent: str | None,
        parent: tuple[str, str] | None,
        proto: str,
        pid: str = "",
        query: str = "",
        truth: dict[str, Any] | None = None,
    ) -> Served:
        """nginx receives a request at true time `t` and proxies it to api; returns its answer."""
        rng = self.rng
        ep = model.PUBLIC[(method, route)]
        rid = self.ids.request()
        trace_id, parent_span = parent if parent else (self.ids.trace(), None)
        flags = self.schedule.flags_for(visitor.buckets, t)
        bug = (
            route == "/api/checkout"
            and flags["new_checkout"] == "on"
            and self.schedule.active("flag_error_spike", t) is not None
            and rng.random() < 0.55
        )
        if self._bad_upstream(method, route, t):
            return self._gateway_502(t, method, path, visitor, referer, rid, trace_id, traceparent, proto, truth)
        req = Req(trace_id, rid, flags, visitor, pid, query, bug)
        up_start = t + rng.uniform(0.15, 0.6)
        app_start = up_start + rng.uniform(0.2, 0.8)
        app_end, status, span_id, degraded = self._serve(ep, path, app_start, parent_span, req)
        up_end = app_end + rng.uniform(0.1, 0.5)
        end = up_end + rng.uniform(0.05, 0.3)
        size = int(ep.response_bytes * (0.55 if degraded else 1.0) * rng.uniform(0.85, 1.15))
        if status >= 500:
            size = 170 + rng.randrange(60)  # nginx/api error body
        rt = end - t
        line = (
            f'{visitor.ip} - - [{self.clf(end)}] "{method} {path} {proto}" {status} {size} "{referer}" '
            f'"{visitor.user_agent}" {rt / 1000.0:.3f} {(up_end - up_start) / 1000.0:.3f} {rid} '
            f'"{traceparent or "-"}"\n'
        ).encode()
        if truth is not None:
            truth.update(
                request_id=rid,
                trace_id=trace_id,
                server_span_id=span_id,
                status=status,
                server_received_ms=round(t, 3),
                request_time_ms=round(rt, 3),
            )
        self.sink.push(end, GATEWAY, (line, truth))
        return Served(status, end, rt, app_end - app_start, size, rid, trace_id, span_id, degraded)

    def _bad_upstream(self, method: str, route: str, t: float) -> bool:
        inc = self.schedule.active("gateway_502_burst", t)
        return inc is not None and inc.scope["route"] == f"{method} {route}" and self.rng.random() < 0.5

    def _slow_table(self, table: str, t: float) -> bool:
        inc = self.schedule.active("slow_db_query", t)
        return inc is not None and inc.scope["table"] == table

    def _gateway_502(
        self,
        t: float,
        method: str,
        path: str,
        visitor: Visitor,
        referer: str,
        rid: str,
        trace_id: str,
        traceparent: str | None,
        proto: str,
        truth: dict[str, Any] | None,
    ) -> Served:
        """nginx finds no live upstream: a 502 in a few milliseconds, no span, no service log."""
        rng = self.rng
        rt = rng.uniform(0.4, 3.0)
        end = t + rt
        size = 150 + rng.randrange(40)
        line = (
            f'{visitor.ip} - - [{self.clf(end)}] "{method} {path} {proto}" 502 {size} "{referer}" '
            f'"{visitor.user_agent}" {rt / 1000.0:.3f} {rt / 1000.0:.3f} {rid} "{traceparent or "-"}"\n'
        ).encode()
        if truth is not None:
            truth.update(
                request_id=rid,
                trace_id=trace_id,
                server_span_id=None,
                status=502,
                server_received_ms=round(t, 3),
                request_time_ms=round(rt, 3),
            )
        self.sink.push(end, GATEWAY, (line, truth))
        return Served(502, end, rt, 0.0, size, rid, trace_id, "", False)

    def static(self, t: float, path: str, size: int, visitor: Visitor, referer: str, proto: str) -> float:
        """nginx serves a file from disk: no upstream ($upstream_response_time is `-`); returns request time."""
        rt = self.rng.uniform(0.2, 2.0) + size / 400_000.0  # sendfile into a warm socket buffer
        end = t + rt
        line = (
            f'{visitor.ip} - - [{self.clf(end)}] "GET {path} {proto}" 200 {size} "{referer}" '
            f'"{visitor.user_agent}" {rt / 1000.0:.3f} - {self.ids.request()} "-"\n'
        ).encode()
        self.sink.push(end, GATEWAY, (line, None))
        return rt

    def legacy(
        self, t: float, path: str, visitor: Visitor, referer: str, truth: dict[str, Any] | None
    ) -> tuple[int, int, float]:
        """The uninstrumented recommendations box: a `combined` line, no ids, no spans, no logs."""
        rng = self.rng
        rt = rng.lognormvariate(3.6, 0.6)  # ~37 ms median, heavy tail: it is an old PHP app
        status = 200 if rng.random() > 0.004 else 503
        size = 2_400 + rng.randrange(1_800) if status == 200 else 299
        end = t + rt
        line = (
            f'{visitor.ip} - - [{self.legacy_clf(end)}] "GET {path} HTTP/1.1" {status} {size} "{referer}" '
            f'"{visitor.user_agent}"\n'
        ).encode()
        if truth is not None:
            truth.update(
                request_id=None,
                trace_id=None,
                server_span_id=None,
                status=status,
                server_received_ms=round(t, 3),
                request_time_ms=round(rt, 3),
            )
        self.sink.push(end, LEGACY, (line, truth))
        return status, size, rt

    # --- services ----------------------------------------------------------------------------
    def _serve(self, ep: Endpoint, path: str, t0: float, parent: str | None, req: Req) -> tuple[float, int, str, bool]:
        """Run one endpoint from `t0`; returns (end, status, server span id, degraded)."""
        rng = self.rng
        sv = self.svcs[ep.service]
        name = ep.service
        span_id = self.ids.span()
        pod = self._pod(sv, t0)  # one replica serves the whole request
        res = pod[2]
        work = rng.lognormvariate(ep.mu, ep.sigma)
        if name == "search" and "engine=v2" in path:
            work *= 0.7  # search_v2 is the faster engine
        steps = ep.steps
        if name == "payments" and self.schedule.active("backend_latency_regression", t0) is not None:
            steps = (model.FRAUD_CHECK, *steps)
        cursor = t0 + work * 0.6
        status = ep.status
        if name == "api" and ep.route == "/api/login" and rng.random() < 0.07:
            status = 401  # mistyped password; the client retries
            steps = steps[:1]
        error: Error = None
        degraded = False
        logs: list[Extra] = []
        for step in steps:
            if isinstance(step, Db):
                dur = rng.lognormvariate(step.mu, step.sigma)
                failed = (
                    step.table == "products"
                    and self.schedule.active("dependency_timeout", cursor) is not None
                    and rng.random() < 0.75
                )
                if failed:
                    dur = _DB_TIMEOUT_MS + rng.uniform(0.3, 2.0)
                elif self._slow_table(step.table, cursor):
                    dur += rng.lognormvariate(6.55, 0.3)  # ~700 ms behind the index rebuild's lock
                self.spans.db(sv, res, req.trace_id, span_id, step, cursor, cursor + dur, failed)
                cursor += dur + rng.uniform(0.05, 0.4)
                if failed:
                    status, error = 500, DB_TIMEOUT
                    break
            elif isinstance(step, Ext):
                dur = rng.lognormvariate(step.mu, step.sigma)
                self.spans.external(sv, res, req.trace_id, span_id, step, cursor, cursor + dur)
                cursor += dur + rng.uniform(0.1, 0.6)
            else:
                if req.checkout_bug and step.service == "payments":
                    status, error = 500, ADDRESS_BUG
                    break
                child = model.INTERNAL[(step.service, step.route)]
                child_path = self._child_path(step, req)
                cspan = self.ids.span()
                sent = cursor
                c_end, c_status, _, _ = self._serve(child, child_path, sent + rng.uniform(0.3, 1.2), cspan, req)
                back = c_end + rng.uniform(0.2, 0.9)
                timed_out = back - sent > step.timeout_ms
                if timed_out:
                    back = sent + step.timeout_ms
                self.spans.client(
                    sv, res, req.trace_id, span_id, cspan, step, child_path, sent, back, None if timed_out else c_status
                )
                cursor = back + rng.uniform(0.1, 0.5)
                if timed_out or c_status >= 500:
                    what = "timed out" if timed_out else f"answered {c_status}"
                    if name == "api" and ep.route in _HTML_ROUTES:
                        degraded = True  # render the page shell; the browser fetches the data itself
                        logs.append(
                            (
                                cursor,
                                "warning",
                                "upstream failed, rendering skeleton",
                                {"upstream": step.service, "reason": what},
                            )
                        )
                        continue
                    status = 504 if timed_out else 502
                    error = ("httpx.ReadTimeout" if timed_out else "UpstreamError", f"{step.service} {what}")
                    break
        end = cursor + work * 0.4
        self.spans.server(sv, res, ep, path, t0, end, span_id, parent, status, error, req)
        self.logs.request(sv, pod, ep, path, t0, end, span_id, status, error, req, logs)
        return end, status, span_id, degraded

    @staticmethod
    def _child_path(step: Call, req: Req) -> str:
        if step.service == "catalog":
            if step.route.endswith("featured"):
                return "/products/featured?limit=12"
            return step.route.replace("{id}", req.pid)
        if step.service == "cart":
            return step.route.replace("{id}", req.visitor.cart_id)
        if step.service == "search":
            engine = "v2" if req.flags["search_v2"] == "on" else "v1"
            if step.route == "/search":
                return f"{step.route}?q={req.query}&engine={engine}"
            return f"{step.route}?q={req.query}"
        return step.route

    def _pod(self, sv: ServiceOut, t: float) -> Pod:
        pods = sv.pods(self.schedule.release("api", t))
        return pods[self.rng.randrange(len(pods))]
