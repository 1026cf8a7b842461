"""Per-request trace context shared by the ASGI and WSGI middleware and the logging filter.

The context lives in a ContextVar, so log records made anywhere while a request is served
(threads started by the server, asyncio tasks) carry its ids.
"""

from __future__ import annotations

import math
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

from seamline.sources._trace_context import TraceContext, format_traceparent, parse_traceparent

# Stricter than what the request-id parser accepts: an incoming id is echoed in a response
# header and written to logs, so only token characters of a sane length are reused.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}$")
_SAMPLE_SPACE = 2**56


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The ids of one server request: its own span, the caller's span, and the request id."""

    trace_id: str
    span_id: str
    parent_span_id: str | None  # None when this request started the trace
    sampled: bool
    request_id: str

    @property
    def traceparent(self) -> str:
        """The header value naming this request's span, for the browser or a downstream call."""
        return format_traceparent(TraceContext(self.trace_id, self.span_id, self.sampled))


_current: ContextVar[RequestContext | None] = ContextVar("seamline_request", default=None)


def current() -> RequestContext | None:
    """The context of the request being served, or None outside a request."""
    return _current.get()


def sampled(trace_id: str, rate: float) -> bool:
    """Head sampling decision for a trace this side starts; the browser SDK applies the same rule.

    The low 56 bits of the trace id, read as a number R, are kept when
    R >= floor((1 - rate) * 2^56) (OpenTelemetry's consistent probability sampling), so a
    trace started anywhere gets the same decision everywhere.
    """
    if not rate > 0:
        return False
    if rate >= 1:
        return True
    return int(trace_id[18:], 16) >= math.floor((1 - rate) * _SAMPLE_SPACE)


def new_id(nbytes: int) -> str:
    """A random non-zero id of `nbytes` bytes as lowercase hex."""
    while True:
        value = secrets.token_hex(nbytes)
        if value.strip("0"):
            return value


def start_request(traceparent: str | None, request_id: str | None, sample_rate: float = 1.0) -> RequestContext:
    """Continue the caller's trace when its traceparent is valid (and keep its decision), else start one."""
    parent = parse_traceparent(traceparent)
    if parent is None:
        trace_id = new_id(16)
        return RequestContext(trace_id, new_id(8), None, sampled(trace_id, sample_rate), _request_id(request_id))
    return RequestContext(parent.trace_id, new_id(8), parent.span_id, parent.sampled, _request_id(request_id))


def _request_id(incoming: str | None) -> str:
    if incoming:
        incoming = incoming.strip()
        if _SANE_REQUEST_ID.match(incoming):
            return incoming
    return secrets.token_hex(16)


def server_timing(ctx: RequestContext, app_ms: float | None = None) -> str:
    """The Server-Timing value that hands the trace context to the browser's performance entries."""
    value = f'traceparent;desc="{ctx.traceparent}"'
    if app_ms is not None:
        value += f", app;dur={app_ms:.1f}"
    return value


def traceparent_meta(ctx: RequestContext | None = None) -> str:
    """`<meta name="traceparent" ...>` for an HTML page, so the SDK links the page view to this request.

    Empty outside a request. The value is hex and dashes only, so it needs no escaping.
    """
    ctx = ctx or current()
    if ctx is None:
        return ""
    return f'<meta name="traceparent" content="{ctx.traceparent}">'
