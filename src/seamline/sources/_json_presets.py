"""Field maps of the structured-log shapes json_log reads, one UPPER_CASE table per shape.

A preset says where each column lives in a record of its shape. Paths are dotted; a dotted
path matches nested objects, flattened dotted keys ("http.request.method" as one key) and any
mix of the two. Each field names a converter (`_json_values.CONVERTERS`); targets starting
with "_" are intermediate values (a stack to fingerprint, a traceparent to split, a request line,
an end time).

Earlier fields win over later ones for the same column; the COMMON fields come after every
preset's own, so a preset only lists what is particular to its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Field = tuple[str, str, str]  # (path, target column, converter name)


@dataclass(frozen=True, slots=True)
class Preset:
    """One log shape: how to recognise it and where its fields are."""

    name: str
    detect: tuple[tuple[str, type | None, int], ...]  # (path, required type, weight)
    fields: tuple[Field, ...]
    # Objects whose unmapped members go to attributes under this prefix instead of "<path>."
    spread: dict[str, str] = field(default_factory=dict)
    common_under: tuple[str, ...] = ()  # objects in which the COMMON fields apply too
    duration: str = "ms"  # converter for the unit-less duration/elapsed/latency keys


OTEL = Preset(
    "otel",
    detect=(
        ("Timestamp", None, 3),
        ("ObservedTimestamp", None, 2),
        ("SeverityText", None, 2),
        ("SeverityNumber", None, 2),
        ("Body", None, 2),
        ("TraceId", None, 1),
        ("SpanId", None, 1),
        ("Resource", None, 1),
        ("Attributes", None, 1),
        ("InstrumentationScope", None, 1),
    ),
    fields=(
        ("Timestamp", "ts", "ts"),
        ("ObservedTimestamp", "ts", "ts"),
        ("SeverityNumber", "level", "level_otel"),
        ("SeverityText", "level", "level"),
        ("Body", "message", "text"),
        ("EventName", "name", "scalar"),
        ("InstrumentationScope.Name", "name", "scalar"),
        ("InstrumentationScope.name", "name", "scalar"),
        ("TraceId", "trace_id", "trace_id"),
        ("SpanId", "span_id", "span_id"),
        ("TraceFlags", "trace_sampled", "sampled"),
        ("Resource.service.name", "service", "scalar"),
        ("Resource.service.version", "release", "scalar"),
        ("Resource.deployment.environment.name", "environment", "scalar"),
        ("Resource.deployment.environment", "environment", "scalar"),
        ("Resource.host.name", "host", "scalar"),
    ),
    spread={"Attributes": "", "Resource": "resource.", "InstrumentationScope": "scope."},
    common_under=("Attributes",),
)

ECS = Preset(
    "ecs",
    detect=(
        ("@timestamp", None, 3),
        ("ecs.version", None, 3),
        ("log.level", None, 2),
        ("message", str, 1),
        ("service.name", None, 1),
        ("event.dataset", None, 1),
        ("trace.id", None, 1),
    ),
    fields=(
        ("@timestamp", "ts", "ts"),
        ("log.level", "level", "level"),
        ("message", "message", "text"),
        ("log.logger", "name", "scalar"),
        ("trace.id", "trace_id", "trace_id"),
        ("span.id", "span_id", "span_id"),
        ("transaction.id", "span_id", "span_id"),  # the active span when no child span is open
        ("parent.id", "parent_span_id", "span_id"),
        ("service.name", "service", "scalar"),
        ("service.version", "release", "scalar"),
        ("service.environment", "environment", "scalar"),
        ("host.name", "host", "scalar"),
        ("host.hostname", "host", "scalar"),
        ("http.request.method", "http_method", "method"),
        ("http.request.id", "request_id", "id"),
        ("url.original", "url", "scalar"),
        ("url.path", "url", "scalar"),
        ("url.full", "url", "scalar"),
        ("http.response.status_code", "http_status", "status"),
        ("event.duration", "duration_ms", "ns"),
        ("http.request.body.bytes", "request_bytes", "bytes"),
        ("http.response.body.bytes", "response_bytes", "bytes"),
        ("user_agent.original", "user_agent", "scalar"),
        ("client.ip", "client_ip", "ip"),
        ("source.ip", "client_ip", "ip"),
        ("error.type", "error_type", "scalar"),
        ("error.message", "error_message", "scalar"),
        ("error.stack_trace", "_stack", "stack"),
    ),
)

PINO = Preset(  # pino and bunyan: numeric levels, pino-http's req/res objects
    "pino",
    detect=(
        ("level", int, 3),
        ("time", int, 1),
        ("pid", None, 1),
        ("hostname", None, 1),
        ("msg", None, 1),
        ("v", int, 1),
        ("responseTime", None, 2),
        ("req", dict, 1),
        ("res", dict, 1),
    ),
    fields=(
        ("time", "ts", "ts"),
        ("level", "level", "level_pino"),
        ("msg", "message", "text"),
        ("name", "name", "scalar"),
        ("hostname", "host", "scalar"),
        ("req.id", "request_id", "id"),
        ("req.method", "http_method", "method"),
        ("req.url", "url", "scalar"),
        ("req.headers.user-agent", "user_agent", "scalar"),
        ("req.headers.traceparent", "_traceparent", "scalar"),
        ("req.headers.x-request-id", "request_id", "id"),
        ("req.remoteAddress", "client_ip", "ip"),
        ("res.statusCode", "http_status", "status"),
        ("responseTime", "duration_ms", "ms"),
        ("err.type", "error_type", "scalar"),
        ("err.message", "error_message", "scalar"),
        ("err.stack", "_stack", "stack"),
    ),
)

STRUCTLOG = Preset(
    "structlog",
    detect=(("event", str, 3), ("timestamp", None, 1), ("level", str, 1), ("logger", None, 1)),
    fields=(
        ("timestamp", "ts", "ts"),
        ("level", "level", "level"),
        ("event", "message", "text"),
        ("logger", "name", "scalar"),
        ("exception", "_stack", "stack"),
    ),
)

LOGRUS = Preset(  # Go's encoding/json writes a time.Duration as integer nanoseconds
    "logrus",
    detect=(("time", str, 1), ("level", str, 1), ("msg", None, 1), ("func", None, 1), ("file", None, 1)),
    fields=(("time", "ts", "ts"), ("level", "level", "level"), ("msg", "message", "text")),
    duration="go_duration",
)

ZAP = Preset(  # production encoder: ts in epoch seconds, durations in float seconds
    "zap",
    detect=(
        ("ts", None, 3),
        ("caller", None, 2),
        ("level", str, 1),
        ("msg", None, 1),
        ("logger", None, 1),
        ("stacktrace", None, 2),
    ),
    fields=(
        ("ts", "ts", "ts"),
        ("level", "level", "level"),
        ("msg", "message", "text"),
        ("logger", "name", "scalar"),
        ("stacktrace", "_stack", "stack"),
    ),
    duration="s",
)

PYTHON = Preset(  # python-json-logger; `created` is exact where asctime is local and naive
    "python",
    detect=(
        ("levelname", None, 3),
        ("asctime", None, 2),
        ("created", None, 2),
        ("exc_info", None, 2),
        ("name", None, 1),
        ("message", None, 1),
        ("levelno", None, 1),
        ("funcName", None, 1),
        ("lineno", None, 1),
    ),
    fields=(
        ("created", "ts", "ts"),
        ("timestamp", "ts", "ts"),
        ("asctime", "ts", "ts"),
        ("levelname", "level", "level"),
        ("levelno", "level", "level_python"),
        ("message", "message", "text"),
        ("name", "name", "scalar"),
        ("exc_info", "_stack", "stack"),
        ("exc_text", "_stack", "stack"),
    ),
)

NGINX = Preset(  # nginx `log_format ... escape=json` keyed by nginx's variable names
    "nginx",
    detect=(
        ("remote_addr", str, 2),
        ("time_local", str, 2),
        ("time_iso8601", str, 2),
        ("msec", None, 2),
        ("body_bytes_sent", None, 2),
        ("request_time", None, 2),
        ("upstream_response_time", None, 1),
        ("http_user_agent", None, 1),
    ),
    fields=(  # nginx stamps a request when its response ends: the start is that minus request_time
        ("msec", "_end_ts", "ts"),
        ("time_iso8601", "_end_ts", "ts"),
        ("time_local", "_end_ts", "ts"),
        ("request_time", "duration_ms", "s"),
        ("upstream_response_time", "upstream_ms", "s"),
        ("remote_addr", "client_ip", "ip"),
        ("request_method", "http_method", "method"),
        ("request_uri", "url", "scalar"),
        ("request", "_request_line", "scalar"),
        ("status", "http_status", "status"),
        ("body_bytes_sent", "response_bytes", "bytes"),
        ("request_length", "request_bytes", "bytes"),
        ("http_user_agent", "user_agent", "scalar"),
        ("http_referer", "referrer", "scalar"),
        ("request_id", "request_id", "id"),
        ("http_x_request_id", "request_id", "id"),
        ("http_traceparent", "_traceparent", "scalar"),
    ),
)

CADDY = Preset(  # Caddy's access log (zap JSON): the request as an object, headers as lists
    "caddy",
    detect=(("request.uri", str, 3), ("resp_headers", dict, 3), ("bytes_read", None, 2), ("request.remote_ip", str, 1)),
    fields=(
        ("request.uri", "url", "scalar"),
        ("request.client_ip", "client_ip", "ip"),
        ("request.remote_ip", "client_ip", "ip"),
        ("request.headers.User-Agent", "user_agent", "first"),
        ("request.headers.Referer", "referrer", "first"),
        ("request.headers.Traceparent", "_traceparent", "first"),
        ("request.headers.X-Request-Id", "request_id", "first"),
        ("size", "response_bytes", "bytes"),
        ("bytes_read", "request_bytes", "bytes"),
    ),
    duration="s",
)

HEROKU = Preset(  # Heroku router lines (logfmt): `service` and `connect` are times, `fwd` the client
    "heroku",
    detect=(("dyno", str, 2), ("connect", str, 2), ("fwd", str, 2), ("at", str, 1), ("protocol", str, 1)),
    fields=(
        ("service", "duration_ms", "go_duration"),
        ("fwd", "client_ip", "ip"),
        ("bytes", "response_bytes", "bytes"),
        ("at", "level", "level"),
        ("code", "error_type", "scalar"),  # H12 and the other router error codes
        ("desc", "error_message", "scalar"),
    ),
)

GCP = Preset(  # Google Cloud Logging LogEntry (exports, `gcloud logging read --format=json` lines)
    "gcp",
    detect=(("logName", str, 2), ("insertId", str, 2), ("resource.type", str, 2), ("receiveTimestamp", str, 1)),
    fields=(
        ("timestamp", "ts", "ts"),
        ("receiveTimestamp", "ts", "ts"),
        ("severity", "level", "level"),
        ("textPayload", "message", "text"),
        ("jsonPayload.message", "message", "text"),
        ("httpRequest.requestMethod", "http_method", "method"),
        ("httpRequest.requestUrl", "url", "scalar"),
        ("httpRequest.status", "http_status", "status"),
        ("httpRequest.latency", "duration_ms", "go_duration"),
        ("httpRequest.remoteIp", "client_ip", "ip"),
        ("httpRequest.userAgent", "user_agent", "scalar"),
        ("httpRequest.referer", "referrer", "scalar"),
        ("httpRequest.requestSize", "request_bytes", "bytes"),
        ("httpRequest.responseSize", "response_bytes", "bytes"),
        ("trace", "trace_id", "gcp_trace"),
        ("logging.googleapis.com/trace", "trace_id", "gcp_trace"),
        ("jsonPayload.logging.googleapis.com/trace", "trace_id", "gcp_trace"),
        ("spanId", "span_id", "span_id"),
        ("resource.labels.service_name", "service", "scalar"),
        ("resource.labels.container_name", "service", "scalar"),
        ("resource.labels.revision_name", "release", "scalar"),
    ),
    common_under=("jsonPayload",),
)

JOURNALD = Preset(  # `journalctl -o json`: every value text, the time in µs, syslog priorities
    "journald",
    detect=(("__REALTIME_TIMESTAMP", str, 3), ("__CURSOR", str, 2), ("_BOOT_ID", str, 1), ("PRIORITY", str, 1)),
    fields=(
        ("__REALTIME_TIMESTAMP", "ts", "ts"),
        ("MESSAGE", "message", "journal_text"),
        ("PRIORITY", "level", "level_syslog"),
        ("_SYSTEMD_UNIT", "service", "systemd_unit"),
        ("SYSLOG_IDENTIFIER", "name", "scalar"),
        ("_HOSTNAME", "host", "scalar"),
    ),
)

LOG4J = Preset(  # Log4j 2 JsonLayout: the time as an instant object, or timeMillis before 2.11
    "log4j",
    detect=(
        ("instant", dict, 3),
        ("timeMillis", int, 3),
        ("loggerName", str, 2),
        ("loggerFqcn", None, 1),
        ("endOfBatch", bool, 1),
        ("thread", None, 1),
    ),
    fields=(
        ("instant", "ts", "log4j_instant"),
        ("timeMillis", "ts", "ts"),
        ("level", "level", "level"),
        ("loggerName", "name", "scalar"),
        ("message", "message", "text"),
        ("thrown.name", "error_type", "scalar"),
        ("thrown.message", "error_message", "scalar"),
    ),
)

GENERIC = Preset("generic", detect=(), fields=())

# Detection order breaks ties; GENERIC is the fallback when no preset scores.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (OTEL, ECS, PINO, STRUCTLOG, LOGRUS, ZAP, PYTHON, NGINX, CADDY, HEROKU, GCP, JOURNALD, LOG4J, GENERIC)
}
MIN_DETECT_SCORE = 3

# Spellings met across loggers and frameworks; "duration" is converted by the preset's unit.
COMMON: tuple[Field, ...] = (
    *(
        (p, "ts", "ts")
        for p in ("timestamp", "time", "ts", "@timestamp", "Timestamp", "datetime", "date", "asctime", "created")
    ),
    *(
        (p, "level", "level")
        for p in ("level", "severity", "lvl", "loglevel", "log.level", "levelname", "SeverityText")
    ),
    ("message", "message", "text"),
    ("msg", "message", "text"),
    ("logger", "name", "scalar"),
    ("logger_name", "name", "scalar"),
    ("log.logger", "name", "scalar"),
    *((p, "trace_id", "trace_id") for p in ("trace_id", "traceId", "trace.id", "traceid", "otelTraceID", "TraceId")),
    *((p, "span_id", "span_id") for p in ("span_id", "spanId", "span.id", "spanid", "otelSpanID", "SpanId")),
    ("parent_span_id", "parent_span_id", "span_id"),
    ("parentSpanId", "parent_span_id", "span_id"),
    ("trace_flags", "trace_sampled", "sampled"),
    ("traceFlags", "trace_sampled", "sampled"),
    ("otelTraceSampled", "trace_sampled", "sampled"),
    *(
        (p, "_traceparent", "scalar")
        for p in ("traceparent", "headers.traceparent", "req.headers.traceparent", "http.request.headers.traceparent")
    ),
    *(
        (p, "request_id", "id")
        for p in (
            "request_id",
            "requestId",
            "req_id",
            "reqId",
            "request.id",
            "http.request.id",
            "x_request_id",
            "x-request-id",
            "correlation_id",
            "correlationId",
            "http.request.header.x-request-id",
            "req.id",
            "amzn_trace_id",  # AWS load balancers' X-Amzn-Trace-Id, as services log it
            "x_amzn_trace_id",
            "x-amzn-trace-id",
        )
    ),
    *(
        (p, "http_method", "method")
        for p in ("http_method", "http.request.method", "http.method", "method", "request.method", "req.method")
    ),
    *(
        (p, "url", "scalar")
        for p in (
            "url",
            "http.url",
            "url.full",
            "url.original",
            "url.path",
            "http.target",
            "path",
            "uri",
            "request_uri",
            "request.url",
            "req.url",
            "http.path",
        )
    ),
    ("route", "route", "scalar"),
    ("http.route", "route", "scalar"),
    *(
        (p, "http_status", "status")
        for p in (
            "status",
            "status_code",
            "statusCode",
            "http_status",
            "http.status_code",
            "http.response.status_code",
            "response.status",
            "response.status_code",
            "res.statusCode",
        )
    ),
    *(
        (p, "duration_ms", "ms")
        for p in ("duration_ms", "elapsed_ms", "latency_ms", "took_ms", "response_time_ms", "responseTime")
    ),
    ("request_time", "duration_ms", "s"),
    ("duration_s", "duration_ms", "s"),
    ("duration_ns", "duration_ms", "ns"),
    ("duration_us", "duration_ms", "us"),
    *((p, "duration_ms", "duration") for p in ("duration", "elapsed", "latency", "took")),
    *((p, "request_bytes", "bytes") for p in ("request_bytes", "bytes_in", "request_size", "http.request.body.size")),
    *(
        (p, "response_bytes", "bytes")
        for p in (
            "response_bytes",
            "bytes_out",
            "bytes_sent",
            "body_bytes_sent",
            "response_size",
            "http.response.body.size",
        )
    ),
    *(
        (p, "user_agent", "scalar")
        for p in (
            "user_agent",
            "userAgent",
            "user_agent.original",
            "http.user_agent",
            "ua",
            "headers.user-agent",
            "req.headers.user-agent",
        )
    ),
    *(
        (p, "client_ip", "ip")
        for p in (
            "client_ip",
            "clientIp",
            "client.ip",
            "client.address",
            "remote_addr",
            "remote_ip",
            "remoteAddress",
            "source.ip",
            "ip",
            "x_forwarded_for",
            "req.remoteAddress",
            "req.headers.x-forwarded-for",
        )
    ),
    *(
        (p, "error_type", "scalar")
        for p in ("error_type", "error.type", "exception.type", "exc_type", "err.type", "error.kind")
    ),
    *(
        (p, "error_message", "text_str")
        for p in ("error_message", "error.message", "exception.message", "err.message", "error", "err")
    ),
    *(
        (p, "_stack", "stack")
        for p in (
            "stack",
            "stack_trace",
            "stacktrace",
            "error.stack",
            "error.stack_trace",
            "exception.stacktrace",
            "err.stack",
            "exc_info",
            "exception",
            "traceback",
        )
    ),
    *((p, "service", "scalar") for p in ("service", "service.name", "service_name", "app", "application")),
    *(
        (p, "environment", "scalar")
        for p in ("environment", "env", "deployment.environment", "deployment.environment.name", "service.environment")
    ),
    *((p, "release", "scalar") for p in ("release", "version", "service.version", "app_version")),
    *((p, "host", "scalar") for p in ("host", "hostname", "host.name", "host.hostname")),
    *((p, "session_id", "id") for p in ("session_id", "sessionId", "session.id")),
    *((p, "user_id", "id") for p in ("user_id", "userId", "user.id", "enduser.id")),
)
