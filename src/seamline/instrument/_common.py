"""What the ASGI and WSGI middleware share: options, response headers, and the log record."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from seamline.instrument._context import RequestContext, server_timing
from seamline.instrument._sinks import Sink

# What a browser on an allowed origin may send cross-origin beyond the CORS-safelisted set.
TRACE_HEADERS = ("traceparent", "tracestate", "x-request-id", "content-type")
EXPOSED = "server-timing, x-request-id"
PREFLIGHT_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


@dataclass(frozen=True)
class Options:
    """How a middleware behaves; built once from the keyword arguments of the middleware."""

    service: str
    sink: Sink | None = None
    sample_rate: float = 1.0
    cors_origins: frozenset[str] = frozenset()
    allow_headers: tuple[str, ...] = ()
    environment: str | None = None
    release: str | None = None
    log_unsampled: bool = True
    log_client_ip: bool = False
    host: str = field(default_factory=socket.gethostname)

    def allowed(self, origin: str | None) -> bool:
        """True when `origin` is one the app serves cross-origin (exact match, or "*")."""
        return bool(origin) and (origin in self.cors_origins or "*" in self.cors_origins)


def origins(values: Iterable[str]) -> frozenset[str]:
    """Origins as compared with the browser's Origin header (no trailing slash)."""
    return frozenset(v.rstrip("/") for v in values)


def response_headers(
    opts: Options, ctx: RequestContext, origin: str | None, app_ms: float, present: set[str]
) -> list[tuple[str, str]]:
    """Headers to add to a response; `present` holds the lowercase names it already has."""
    out = [("server-timing", server_timing(ctx, app_ms))]
    if "x-request-id" not in present:
        out.append(("x-request-id", ctx.request_id))
    if opts.allowed(origin):
        assert origin is not None
        # Without these a cross-origin page sees neither the header nor the timing entry's
        # serverTiming, and the SDK cannot read the server's trace context.
        out += [
            ("access-control-expose-headers", EXPOSED),
            ("timing-allow-origin", origin),
            ("vary", "Origin"),
        ]
        if "access-control-allow-origin" not in present:
            out.append(("access-control-allow-origin", origin))
    return out


def preflight_headers(opts: Options, origin: str, request_id: str) -> list[tuple[str, str]]:
    """The answer to a CORS preflight from an allowed origin: trace headers may be sent."""
    return [
        ("access-control-allow-origin", origin),
        ("access-control-allow-methods", PREFLIGHT_METHODS),
        ("access-control-allow-headers", ", ".join(dict.fromkeys((*TRACE_HEADERS, *opts.allow_headers)))),
        ("access-control-max-age", "600"),
        ("vary", "Origin"),
        ("x-request-id", request_id),
    ]


def access_record(
    opts: Options,
    ctx: RequestContext,
    *,
    started: float,
    method: str,
    path: str,
    route: str | None,
    status: int,
    duration_ms: float,
    user_agent: str | None,
    response_bytes: int | None,
    client_ip: str | None,
    exception: str | None,
) -> dict[str, Any]:
    """One structlog-shaped line for a finished request (the json_log source's structlog preset)."""
    record: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(started, UTC).isoformat(timespec="microseconds"),
        "level": "error" if status >= 500 else "info",
        "event": "request",
        "logger": "seamline.instrument",
        "service": opts.service,
        "host": opts.host,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "trace_id": ctx.trace_id,
        "span_id": ctx.span_id,
        "trace_flags": "01" if ctx.sampled else "00",
        "request_id": ctx.request_id,
    }
    optional = {
        "route": route,
        "parent_span_id": ctx.parent_span_id,
        "environment": opts.environment,
        "release": opts.release,
        "user_agent": user_agent,
        "response_bytes": response_bytes,
        "client_ip": client_ip if opts.log_client_ip else None,
        "exception": exception,
    }
    record.update((k, v) for k, v in optional.items() if v is not None)
    return record


def emit(opts: Options, ctx: RequestContext, record: dict[str, Any]) -> None:
    """Hand the record to the sink, unless unsampled lines are configured away."""
    if opts.sink is None or not (ctx.sampled or opts.log_unsampled):
        return
    try:
        opts.sink.write(record)
    except Exception as exc:  # a broken log sink must not break the response
        print(f"seamline: could not write the request log line: {exc}", file=sys.stderr)
