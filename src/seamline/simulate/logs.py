"""Service log lines in the two shapes real services write: structlog JSON and pino.

structlog services (api, cart, payments) write ISO timestamps with an offset, string
levels, the message under `event`, and bind trace_id / span_id / request_id through
context variables. pino services (search, catalog, via pino-http and the OpenTelemetry pino
instrumentation) write numeric levels, epoch-ms `time`, `req`/`res` objects and `msg`.
"""

from __future__ import annotations

from typing import Any

import orjson

from seamline.simulate.incidents import Schedule
from seamline.simulate.model import Endpoint
from seamline.simulate.services import Pod, Req, ServiceOut
from seamline.simulate.spans import Error
from seamline.simulate.writers import Sink

Extra = tuple[float, str, str, dict[str, Any]]  # (time, level, event, fields) logged while serving
ADDRESS_BUG: tuple[str, str] = ("AttributeError", "'NoneType' object has no attribute 'country_code'")
_ADDRESS_TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/app/shop/api/checkout.py", line 212, in place_order\n'
    "    region = validate_address(order.shipping).country_code\n"
    "AttributeError: 'NoneType' object has no attribute 'country_code'"
)
_PG_FRAME = "    at Query.handleError (/app/node_modules/pg/lib/query.js:128:19)"
_DOMAIN_EVENTS = {  # api route -> ((level, event) on failure, (level, event) on success)
    "/api/checkout": (("warning", "order not placed"), ("info", "order placed")),
    "/api/login": (("warning", "login failed"), ("info", "user logged in")),
    "/api/cart/items": (("warning", "cart item rejected"), ("info", "cart item added")),
}


class ServiceLogs:
    """Writes the log lines a service emits while handling one request."""

    def __init__(self, schedule: Schedule, sink: Sink) -> None:
        self.schedule = schedule
        self.sink = sink

    def request(
        self,
        sv: ServiceOut,
        pod: Pod,
        ep: Endpoint,
        path: str,
        t0: float,
        t1: float,
        span_id: str,
        status: int,
        error: Error,
        req: Req,
        extra: list[Extra],
    ) -> None:
        """Everything logged for one request: extra lines, a failure or domain line, then the access line."""
        if sv.pino:
            self._pino(sv, pod, ep, path, t1 - t0, t1, span_id, status, error, req)
            return
        base = {
            "service": sv.name,
            "release": self.schedule.release("api", t0),
            "host": pod[0],
            "trace_id": req.trace_id,
            "span_id": span_id,
            "request_id": req.request_id,
        }
        for t, level, event, fields in extra:
            self._struct(sv, t, level, event, sv.logger, base, fields)
        if error is not None:
            tb = _ADDRESS_TRACE if error is ADDRESS_BUG else f"{error[0]}: {error[1]}"
            self._struct(
                sv, t1 - 0.05, "error", "request failed", sv.logger, base, {"error": error[0], "exception": tb}
            )
        elif sv.name == "api" and ep.route in _DOMAIN_EVENTS:
            level, event = _DOMAIN_EVENTS[ep.route][status < 400]
            self._struct(sv, t1 - 0.1, level, event, sv.logger, base, {"user_id": req.visitor.user_id})
        elif sv.name == "payments" and status < 400:
            self._struct(sv, t1 - 0.1, "info", "charge authorized", sv.logger, base, {"psp": "api.psp.example"})
        fields: dict[str, Any] = {
            "method": ep.method,
            "path": path,
            "route": ep.route,
            "status": status,
            "duration_ms": round(t1 - t0, 2),
        }
        if sv.name == "api":
            fields["flags"] = req.flags
            fields["user_id"] = req.visitor.user_id
        level = "error" if status >= 500 else "info"
        self._struct(sv, t1, level, "request finished", sv.logger + ".access", base, fields)

    def _struct(
        self,
        sv: ServiceOut,
        t: float,
        level: str,
        event: str,
        logger: str,
        base: dict[str, Any],
        fields: dict[str, Any],
    ) -> None:
        rec = {"timestamp": sv.iso(t), "level": level, "event": event, "logger": logger, **base, **fields}
        self.sink.push(t, sv.stream, orjson.dumps(rec) + b"\n")

    def _pino(
        self,
        sv: ServiceOut,
        pod: Pod,
        ep: Endpoint,
        path: str,
        dur: float,
        t1: float,
        span_id: str,
        status: int,
        error: Error,
        req: Req,
    ) -> None:
        rec: dict[str, Any] = {
            "level": 50 if status >= 500 else 30,
            "time": int(t1),
            "pid": pod[1],
            "hostname": pod[0],
            "name": sv.name,
            "req": {"id": req.request_id, "method": ep.method, "url": path},
            "res": {"statusCode": status},
            "responseTime": round(dur),
            "msg": "request errored" if status >= 500 else "request completed",
            "trace_id": req.trace_id,
            "span_id": span_id,
            "trace_flags": "01",
        }
        if error is not None:
            rec["err"] = {"type": error[0], "message": error[1], "stack": f"{error[0]}: {error[1]}\n{_PG_FRAME}"}
        self.sink.push(t1, sv.stream, orjson.dumps(rec) + b"\n")
