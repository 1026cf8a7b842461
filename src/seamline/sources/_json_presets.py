"""Field maps of the structured-log shapes json_log reads, one UPPER_CASE table per shape.

A preset says where each column lives in a record of its shape. Paths are dotted; a dotted
path matches nested objects, flattened dotted keys ("http.request.method" as one key) and any
mix of the two. Each field names a converter (the CONVERTERS table at the end); targets starting
with "_" are intermediate values (a stack to fingerprint, a traceparent to split).

Earlier fields win over later ones for the same column; the COMMON fields come after every
preset's own, so a preset only lists what is particular to its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from seamline.dictionary import HTTP_METHODS, LOG_LEVELS
from seamline.sources._time import BadTimestamp, any_to_us, epoch_to_us

Field = tuple[str, str, str]  # (path, target column, converter name)
MISS: Any = object()  # a converter's "not usable here": the raw value stays in attributes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_MAX_US = 10**16  # 2286-11-20: anything later is a unit mix-up, not a time
_HEX = frozenset("0123456789abcdef")
_ZERO_IDS = {16: "0" * 16, 32: "0" * 32}
_METHODS = frozenset(HTTP_METHODS)
_GO_UNITS: dict[str, float] = {
    "ns": 1e-6,
    "us": 1e-3,
    "µs": 1e-3,
    "μs": 1e-3,
    "ms": 1.0,
    "s": 1e3,
    "m": 6e4,
    "h": 3.6e6,
}
_fromiso = datetime.fromisoformat
_dumps = orjson.dumps


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
    p.name: p for p in (OTEL, ECS, PINO, STRUCTLOG, LOGRUS, ZAP, PYTHON, NGINX, LOG4J, GENERIC)
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

# Fields whose values must never be stored, wherever they sit (headers, context objects).
REDACT_KEYS: frozenset[str] = frozenset(
    k
    for base in (
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "x-api-key",
        "client_secret",
    )
    for k in (base, base.title(), base.upper())
)
REDACTED = "[redacted]"

# --- levels ----------------------------------------------------------------------------------
LEVEL_NAMES: dict[str, str] = {
    **{name: name for name in LOG_LEVELS},
    "verbose": "trace",
    "finest": "trace",
    "finer": "trace",
    "fine": "debug",
    "dbg": "debug",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "config": "info",
    "warning": "warn",
    "err": "error",
    "severe": "error",
    "dpanic": "error",
    "critical": "fatal",
    "crit": "fatal",
    "alert": "fatal",
    "emerg": "fatal",
    "emergency": "fatal",
    "panic": "fatal",
}
PINO_LEVELS: tuple[tuple[int, str], ...] = (
    (60, "fatal"),
    (50, "error"),
    (40, "warn"),
    (30, "info"),
    (20, "debug"),
    (0, "trace"),
)
PYTHON_LEVELS: tuple[tuple[int, str], ...] = (
    (50, "fatal"),
    (40, "error"),
    (30, "warn"),
    (20, "info"),
    (10, "debug"),
    (0, "trace"),
)


def level_from_number(number: int, table: tuple[tuple[int, str], ...]) -> str:
    """The level of the highest threshold `number` reaches (custom levels fall in between)."""
    for threshold, name in table:
        if number >= threshold:
            return name
    return table[-1][1]


def level_from_severity(number: int) -> str | None:
    """OpenTelemetry SeverityNumber 1..24 to a level (four numbers per level); None outside."""
    if 1 <= number <= 24:
        return LOG_LEVELS[(number - 1) // 4]
    return None


# --- converters: raw JSON value -> column value, or MISS to leave it in attributes -------------
def _text(v: Any) -> Any:
    t = type(v)
    if t is str:
        return v if v else MISS
    if t is bool:
        return "true" if v else "false"
    if t is int or t is float:
        return str(v)
    if v is None:
        return MISS
    return _dumps(v).decode()


def as_text(v: Any) -> str:
    """Any JSON value as attribute text."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int or t is float:
        return str(v)
    return _dumps(v).decode()


def _scalar(v: Any) -> Any:
    t = type(v)
    if t is str:
        return v if v else MISS
    if t is int or t is float:
        return str(v)
    return MISS


def _text_str(v: Any) -> Any:
    return v if type(v) is str and v else MISS


def _id(v: Any) -> Any:
    if type(v) is str:
        v = v.strip()
        return v if v and v != "-" else MISS
    if type(v) is int:
        return str(v)
    return MISS


def _dt_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        return (dt - _NAIVE_EPOCH) // _US
    return (dt - _EPOCH) // _US


def _ts(v: Any) -> Any:
    t = type(v)
    try:
        if t is str:
            if not v:
                return MISS
            if v[0].isdecimal() and (len(v) < 5 or v[4] != "-"):
                us = any_to_us(v)  # epoch text, or a shape fromisoformat lacks
            else:
                try:
                    us = _dt_us(_fromiso(v))
                except ValueError:
                    us = any_to_us(v)
        elif t is int or t is float:
            us = epoch_to_us(v)
        else:
            return MISS
    except (BadTimestamp, ValueError, OverflowError):
        return MISS
    return us if 0 < us < _MAX_US else MISS


def _log4j_instant(v: Any) -> Any:
    """Log4j's {"epochSecond": s, "nanoOfSecond": ns} to microseconds."""
    if type(v) is not dict:
        return MISS
    seconds, nanos = v.get("epochSecond"), v.get("nanoOfSecond", 0)
    if type(seconds) is not int or type(nanos) is not int or not 0 <= nanos < 1_000_000_000:
        return MISS
    us = seconds * 1_000_000 + nanos // 1000
    return us if 0 < us < _MAX_US else MISS


def _hex_id(v: Any, size: int) -> Any:
    if type(v) is not str:
        return MISS
    if len(v) == 16 and size == 32:
        v = "0" * 16 + v  # 64-bit trace ids (Zipkin, older Jaeger) are left-padded
    if len(v) != size:
        return MISS
    if not v.islower():
        v = v.lower()
    if not _HEX.issuperset(v) or v == _ZERO_IDS[size]:
        return MISS
    return v


def _trace_id(v: Any) -> Any:
    return _hex_id(v, 32)


def _span_id(v: Any) -> Any:
    return _hex_id(v, 16)


def _level(v: Any) -> Any:
    if type(v) is str:
        name = LEVEL_NAMES.get(v) or LEVEL_NAMES.get(v.strip().lower())
        if name:
            return name
        return level_from_number(int(v), PINO_LEVELS) if v.isdecimal() else MISS
    if type(v) is int:
        return level_from_number(v, PINO_LEVELS)
    return MISS


def _level_python(v: Any) -> Any:
    return level_from_number(v, PYTHON_LEVELS) if type(v) is int else _level(v)


def _level_otel(v: Any) -> Any:
    if type(v) is int:
        return level_from_severity(v) or MISS
    return MISS


def _method(v: Any) -> Any:
    if type(v) is not str:
        return MISS
    if not v.isupper():
        v = v.upper()
    return v if v in _METHODS else MISS


def _status(v: Any) -> Any:
    if type(v) is str and v.isdecimal() and len(v) == 3:
        v = int(v)
    return v if type(v) is int and 100 <= v <= 599 else MISS


def _count(v: Any) -> Any:
    if type(v) is str and v.isdecimal() and len(v) < 19:
        v = int(v)
    return v if type(v) is int and 0 <= v < 1 << 62 else MISS


def _go_duration_ms(text: str) -> Any:
    """Go duration text ("150ms", "1.5s", "2m3.5s") in milliseconds."""
    total, i, n = 0.0, 0, len(text)
    if not n:
        return MISS
    while i < n:
        j = i
        while j < n and (text[j].isdigit() or text[j] == "."):
            j += 1
        k = j
        while k < n and not (text[k].isdigit() or text[k] == "."):
            k += 1
        unit = _GO_UNITS.get(text[j:k])
        if j == i or unit is None:
            return MISS
        try:
            total += float(text[i:j]) * unit
        except ValueError:
            return MISS
        i = k
    return total


def _scaled(factor: float) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        t = type(v)
        if (t is int or t is float) and v >= 0:
            return v * factor
        if t is str:
            try:
                number = float(v)
            except ValueError:
                return _go_duration_ms(v)
            return number * factor if number >= 0 else MISS
        return MISS

    return convert


def _go_duration(v: Any) -> Any:
    t = type(v)
    if t is int and v >= 0:
        return v / 1e6  # encoding/json: integer nanoseconds
    if t is float and v >= 0:
        return v * 1e3  # zap-style float seconds
    return _go_duration_ms(v) if t is str else MISS


def _sampled(v: Any) -> Any:
    t = type(v)
    if t is bool:
        return v
    if t is int:
        return bool(v & 1)
    if t is str:
        if v in ("true", "false"):
            return v == "true"
        try:
            return bool(int(v, 16) & 1)
        except ValueError:
            return MISS
    return MISS


def _ip(v: Any) -> Any:
    if type(v) is not str:
        return MISS
    first = v.split(",", 1)[0].strip() if "," in v else v.strip()
    if first.count(":") == 1:  # Go's RemoteAddr and friends: host:port
        first = first.partition(":")[0]
    elif first.startswith("[") and "]" in first:  # [v6]:port
        first = first[1 : first.index("]")]
    return first if first and first != "-" else MISS


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "ts": _ts,
    "log4j_instant": _log4j_instant,
    "text": _text,
    "scalar": _scalar,
    "text_str": _text_str,
    "id": _id,
    "stack": _text_str,
    "trace_id": _trace_id,
    "span_id": _span_id,
    "sampled": _sampled,
    "level": _level,
    "level_pino": _level,
    "level_python": _level_python,
    "level_otel": _level_otel,
    "method": _method,
    "status": _status,
    "bytes": _count,
    "ip": _ip,
    "ms": _scaled(1.0),
    "s": _scaled(1e3),
    "us": _scaled(1e-3),
    "ns": _scaled(1e-6),
    "go_duration": _go_duration,
}
KEEP_RAW = frozenset({"_stack", "_traceparent", "_request_line"})  # mapped and still shown as-is in attributes
TIME_TARGETS = ("ts", "_end_ts")  # a record's time: its start, or its end (start = end - duration)
