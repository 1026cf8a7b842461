"""Seamline's own instrumentation for Python web apps.

`SeamlineMiddleware` (ASGI) and `SeamlineWSGIMiddleware` (WSGI) continue the browser's
W3C trace context, hand it back in `Server-Timing`, and write one structured log line per
request that Seamline's `json_log` source reads; `TraceContextFilter` puts the same ids on
the app's own log records; `traceparent_meta()` renders the tag that links an HTML page's
page view to the request that served it. See docs/instrumentation.md.
"""

from seamline.instrument._context import RequestContext, current, sampled, start_request, traceparent_meta
from seamline.instrument._sinks import FileSink, HttpSink, StreamSink, open_sink
from seamline.instrument.asgi import SeamlineMiddleware
from seamline.instrument.logging import JsonFormatter, TraceContextFilter
from seamline.instrument.wsgi import SeamlineWSGIMiddleware

__all__ = [
    "FileSink",
    "HttpSink",
    "JsonFormatter",
    "RequestContext",
    "SeamlineMiddleware",
    "SeamlineWSGIMiddleware",
    "StreamSink",
    "TraceContextFilter",
    "current",
    "open_sink",
    "sampled",
    "start_request",
    "traceparent_meta",
]
