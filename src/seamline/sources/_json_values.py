"""How json_log reads values: the converters presets name, value text, redaction, log levels.

A converter takes one JSON value and returns the column's value, or MISS when the value is not
usable there (the raw value then stays in `attributes`). `_json_columnar` holds exact
vectorised twins of the common ones; tests hold both to the same results.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from seamline.dictionary import HTTP_METHODS, LOG_LEVELS
from seamline.sources._time import BadTimestamp, any_to_us, epoch_to_us

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


def _first(v: Any) -> Any:
    """The first of a header's values, as Go's http.Header writes them ({"User-Agent": ["curl"]})."""
    if type(v) is list and v and type(v[0]) is str and v[0]:
        return v[0]
    return MISS


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


def _gcp_trace(v: Any) -> Any:
    """`projects/<project>/traces/<trace id>` (Cloud Logging's trace field) or a bare id."""
    if type(v) is not str:
        return MISS
    return _hex_id(v.rpartition("/")[2], 32)


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


_SYSLOG_LEVELS = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")  # severities 0..7


def _level_syslog(v: Any) -> Any:
    if type(v) is str and len(v) == 1 and "0" <= v <= "7":
        return _SYSLOG_LEVELS[int(v)]
    if type(v) is int and 0 <= v <= 7:
        return _SYSLOG_LEVELS[v]
    return _level(v)


def _journal_text(v: Any) -> Any:
    """journald writes a message that is not UTF-8 as an array of byte values; odd bytes show as \\xNN."""
    if type(v) is list and v and all(type(b) is int and 0 <= b < 256 for b in v):
        return bytes(v).decode("utf-8", "backslashreplace")
    return _text(v)


def _systemd_unit(v: Any) -> Any:
    """`nginx.service` names the service nginx; other units (`cron.timer`) stay whole."""
    if type(v) is not str or not v:
        return MISS
    return v.removesuffix(".service") or MISS


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
    "first": _first,
    "text": _text,
    "scalar": _scalar,
    "text_str": _text_str,
    "id": _id,
    "stack": _text_str,
    "trace_id": _trace_id,
    "span_id": _span_id,
    "gcp_trace": _gcp_trace,
    "sampled": _sampled,
    "level": _level,
    "level_pino": _level,
    "level_python": _level_python,
    "level_otel": _level_otel,
    "level_syslog": _level_syslog,
    "systemd_unit": _systemd_unit,
    "journal_text": _journal_text,
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
