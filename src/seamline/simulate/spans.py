"""Spans for one service hop, with the attribute conventions each instrumentation really uses.

Python services (opentelemetry-instrumentation 0.48b0) write the current HTTP conventions
(`http.request.method`, `url.path`, `http.response.status_code`); the Node services'
@opentelemetry/instrumentation-http and -pg still write the old ones (`http.method`,
`http.target`, `http.status_code`, `net.peer.name`) and name pg spans `pg.query:...`.
Parsers meet both in the wild, so the simulator writes both.
"""

from __future__ import annotations

from typing import Any

from seamline.simulate import model
from seamline.simulate.ids import Ids
from seamline.simulate.model import Call, Db, Endpoint, Ext
from seamline.simulate.otlp import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, a_attr, i_attr, ns, s_attr
from seamline.simulate.services import Req, ServiceOut
from seamline.simulate.writers import OTLP, Sink

Error = tuple[str, str] | None  # (exception type, message)

# Attributes shared by many spans are built once; orjson writes a shared dict like any other.
_DB_SYSTEM = s_attr("db.system", "postgresql")
_DB_NAME = s_attr("db.name", model.DB_NAME)
_DB_USER = s_attr("db.user", "shop_app")
_DB_HOST_NEW = s_attr("server.address", model.DB_HOST)
_DB_PORT_NEW = i_attr("server.port", 5432)
_DB_HOST_OLD = s_attr("net.peer.name", model.DB_HOST)
_DB_PORT_OLD = i_attr("net.peer.port", 5432)
_SHOP_HOST = s_attr("server.address", "shop.example")
_HTTPS = s_attr("url.scheme", "https")
_HTTPX_UA = s_attr("http.user_agent", "python-httpx/0.27.2")
_EMPTY: dict[str, Any] = {}
DB_TIMEOUT: tuple[str, str] = ("QueryCanceledError", "canceling statement due to statement timeout")


class Spans:
    """Builds OTLP span objects and queues them for export at their end time."""

    def __init__(self, ids: Ids, sink: Sink) -> None:
        self.ids = ids
        self.sink = sink

    def server(
        self,
        sv: ServiceOut,
        res: int,
        ep: Endpoint,
        path: str,
        t0: float,
        t1: float,
        span_id: str,
        parent: str | None,
        status: int,
        error: Error,
        req: Req,
    ) -> None:
        """The SERVER span of a service handling a request (only 5xx marks it as an error)."""
        p, _, query = path.partition("?")
        rid = a_attr("http.request.header.x-request-id", [req.request_id])
        if sv.node:
            attrs = [
                s_attr("http.method", ep.method),
                s_attr("http.target", path),
                s_attr("http.route", ep.route),
                i_attr("http.status_code", status),
                s_attr("http.scheme", "http"),
                s_attr("net.host.name", sv.name),
                i_attr("net.host.port", sv.svc.port),
                _HTTPX_UA,
                rid,
            ]
        else:
            attrs = [
                s_attr("http.request.method", ep.method),
                s_attr("url.path", p),
                s_attr("http.route", ep.route),
                i_attr("http.response.status_code", status),
                rid,
            ]
            if query:
                attrs.append(s_attr("url.query", query))
            if sv.name == "api":  # the edge service also sees who called and which flags were in force
                attrs += [
                    _HTTPS,
                    _SHOP_HOST,
                    s_attr("client.address", req.visitor.ip),
                    s_attr("user_agent.original", req.visitor.user_agent),
                ]
                attrs += [s_attr("feature_flag." + k, v) for k, v in req.flags.items()]
                if req.visitor.user_id:
                    attrs.append(s_attr("enduser.id", req.visitor.user_id))
        err = error if status >= 500 else None
        name = f"{ep.method} {ep.route}"
        self._push(res, sv.server_scope, req.trace_id, span_id, parent, name, KIND_SERVER, t0, t1, attrs, err)

    def client(
        self,
        sv: ServiceOut,
        res: int,
        trace_id: str,
        parent: str,
        span_id: str,
        step: Call,
        path: str,
        t0: float,
        t1: float,
        status: int | None,
    ) -> None:
        """The CLIENT span of a call to another service; `status` None means the call timed out."""
        port = model.SERVICES[step.service].port
        attrs = [
            s_attr("http.request.method", step.method),
            s_attr("url.full", f"http://{step.service}:{port}{path}"),
            s_attr("server.address", step.service),
            i_attr("server.port", port),
        ]
        error: Error = None
        if status is None:
            attrs.append(s_attr("error.type", "httpx.ReadTimeout"))
            error = ("httpx.ReadTimeout", f"timed out after {step.timeout_ms / 1000:.1f}s")
        else:
            attrs.append(i_attr("http.response.status_code", status))
            if status >= 400:
                attrs.append(s_attr("error.type", str(status)))
                error = ("HTTPStatusError", f"{status} from {step.service}")
        self._push(res, sv.client_scope, trace_id, span_id, parent, step.method, KIND_CLIENT, t0, t1, attrs, error)

    def external(self, sv: ServiceOut, res: int, trace_id: str, parent: str, step: Ext, t0: float, t1: float) -> None:
        """A CLIENT span to a third party; nothing on the other side is traced."""
        attrs = [
            s_attr("http.request.method", step.method),
            s_attr("url.full", f"https://{step.host}{step.path}"),
            s_attr("server.address", step.host),
            i_attr("server.port", 443),
            i_attr("http.response.status_code", 200),
        ]
        span_id = self.ids.span()
        self._push(res, sv.client_scope, trace_id, span_id, parent, step.method, KIND_CLIENT, t0, t1, attrs, None)

    def db(
        self, sv: ServiceOut, res: int, trace_id: str, parent: str, q: Db, t0: float, t1: float, failed: bool
    ) -> None:
        """A database CLIENT span; a failed one hit the statement timeout."""
        if sv.node:
            name = f"pg.query:{q.operation} {model.DB_NAME}"
            attrs = [_DB_SYSTEM, _DB_NAME, s_attr("db.statement", q.statement), _DB_USER, _DB_HOST_OLD, _DB_PORT_OLD]
        else:
            name = f"{q.operation} {q.table}"
            attrs = [
                _DB_SYSTEM,
                _DB_NAME,
                s_attr("db.statement", q.statement),
                s_attr("db.operation", q.operation),
                s_attr("db.sql.table", q.table),
                _DB_USER,
                _DB_HOST_NEW,
                _DB_PORT_NEW,
            ]
        error = DB_TIMEOUT if failed else None
        self._push(res, sv.db_scope, trace_id, self.ids.span(), parent, name, KIND_CLIENT, t0, t1, attrs, error)

    def _push(
        self,
        resource: int,
        scope: int,
        trace_id: str,
        span_id: str,
        parent: str | None,
        name: str,
        kind: int,
        t0: float,
        t1: float,
        attrs: list[dict[str, Any]],
        error: Error,
    ) -> None:
        span: dict[str, Any] = {"traceId": trace_id, "spanId": span_id}
        if parent:  # proto JSON leaves empty fields out: a root span has no parentSpanId at all
            span["parentSpanId"] = parent
        end_ns = ns(t1)
        span.update(name=name, kind=kind, startTimeUnixNano=ns(t0), endTimeUnixNano=end_ns, attributes=attrs)
        if error is not None:
            exc = [s_attr("exception.type", error[0]), s_attr("exception.message", error[1])]
            span["events"] = [{"timeUnixNano": end_ns, "name": "exception", "attributes": exc}]
            span["status"] = {"code": STATUS_ERROR, "message": f"{error[0]}: {error[1]}"}
        else:
            span["status"] = _EMPTY  # STATUS_CODE_UNSET is the default value, so it is omitted
        self.sink.push(t1, OTLP, (resource, scope, span))
