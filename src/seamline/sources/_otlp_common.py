"""Shared OTLP decoding for otlp_traces and otlp_logs: bodies, AnyValue, ids, resources.

Both encodings are read into the same JSON-shaped dicts so one decoder serves them: OTLP/JSON
is loaded with orjson; protobuf is parsed with opentelemetry-proto's classes and rendered with
`MessageToDict`, which writes bytes as base64 where OTLP/JSON writes ids as hex — ids are told
apart by length (32/16 hex digits against 24/12 base64 characters). A protobuf body is one
message, or the collector file exporter's stream of messages each after a 4-byte big-endian
length.

Browser telemetry (resource `telemetry.sdk.language` = webjs) maps to client kinds; see
`CLIENT_SPAN_NAMES` and the sources' kind choices.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import orjson
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message

from seamline.dictionary import HTTP_METHODS
from seamline.sources._base import BadRecord, Row
from seamline.sources._json_values import LEVEL_NAMES, REDACT_KEYS, REDACTED, level_from_severity

_HEX = "0123456789abcdef"
_METHODS = frozenset(HTTP_METHODS)
_MAX_DEPTH = 16  # AnyValue nesting kept as structure; deeper values become null
PROTOBUF_SUFFIXES = (".pb", ".binpb", ".pb.gz", ".binpb.gz")

SPAN_KINDS: dict[int | str, str] = {
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
    "SPAN_KIND_INTERNAL": "internal",
    "SPAN_KIND_SERVER": "server",
    "SPAN_KIND_CLIENT": "client",
    "SPAN_KIND_PRODUCER": "producer",
    "SPAN_KIND_CONSUMER": "consumer",
}
SPAN_STATUSES: dict[int | str, str] = {
    0: "unset",
    1: "ok",
    2: "error",
    "STATUS_CODE_UNSET": "unset",
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
}


# --- value converters: attribute value -> column value, or None ---------------------------------
def _text(v: Any) -> str | None:
    if isinstance(v, list):  # header attributes are string arrays: the first value counts
        v = v[0] if v else None
    if isinstance(v, str):
        return v or None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return None


def _method(v: Any) -> str | None:
    text = _text(v)
    upper = text.upper() if text else None
    return upper if upper in _METHODS else None


def _status(v: Any) -> int | None:
    if isinstance(v, str) and v.isdecimal() and len(v) == 3:
        v = int(v)
    return v if type(v) is int and 0 <= v <= 599 else None


def _count(v: Any) -> int | None:
    if isinstance(v, str) and v.isdecimal() and len(v) < 19:
        v = int(v)
    return v if type(v) is int and 0 <= v < 1 << 62 else None


def _ip(v: Any) -> str | None:
    text = _text(v)
    first = text.split(",", 1)[0].strip() if text else ""
    return first or None


Converter = Callable[[Any], Any]

# Semantic-convention attributes -> columns, new names before old; the first present wins and
# the later spellings stay in attributes.
ATTRIBUTE_COLUMNS: tuple[tuple[str, str, Converter], ...] = (
    ("http.request.method", "http_method", _method),
    ("http.method", "http_method", _method),
    ("http.response.status_code", "http_status", _status),
    ("http.status_code", "http_status", _status),
    ("http.route", "route", _text),
    ("url.full", "url", _text),
    ("http.url", "url", _text),
    ("url.path", "url", _text),
    ("http.target", "url", _text),
    ("user_agent.original", "user_agent", _text),
    ("http.user_agent", "user_agent", _text),
    ("client.address", "client_ip", _ip),
    ("http.client_ip", "client_ip", _ip),
    ("http.request.body.size", "request_bytes", _count),
    ("http.request_content_length", "request_bytes", _count),
    ("http.response.body.size", "response_bytes", _count),
    ("http.response_content_length", "response_bytes", _count),
    ("http.request.header.x-request-id", "request_id", _text),
    ("http.request.header.x-correlation-id", "request_id", _text),
    ("request.id", "request_id", _text),
    ("request_id", "request_id", _text),
    ("http.request_id", "request_id", _text),
    ("session.id", "session_id", _text),
    ("enduser.id", "user_id", _text),
    ("user.id", "user_id", _text),
    ("exception.type", "error_type", _text),
    ("exception.message", "error_message", _text),
    ("exception.stacktrace", "_stack", _text),
)
EXCEPTION_COLUMNS = ATTRIBUTE_COLUMNS[-3:]
# On a server span the peer is the client; on a client span it is the server, so these only
# count for server spans.
SERVER_PEER_COLUMNS: tuple[tuple[str, str, Converter], ...] = (
    ("network.peer.address", "client_ip", _ip),
    ("net.sock.peer.addr", "client_ip", _ip),
    ("net.peer.ip", "client_ip", _ip),
)
RESOURCE_COLUMNS: tuple[tuple[str, str, Converter], ...] = (
    ("service.name", "service", _text),
    ("service.version", "release", _text),
    ("deployment.environment.name", "environment", _text),
    ("deployment.environment", "environment", _text),
    ("host.name", "host", _text),
    ("k8s.pod.name", "host", _text),
    ("session.id", "session_id", _text),
    ("user_agent.original", "user_agent", _text),
    ("browser.user_agent", "user_agent", _text),
)
# Browser instrumentation span names -> client kinds. documentFetch is the document request
# itself, so it is a client_request; only documentLoad is the page view (one per load).
CLIENT_SPAN_NAMES: dict[str, str] = {
    "documentLoad": "page_view",
    "documentFetch": "client_request",
    "resourceFetch": "resource",
}


# --- AnyValue and attributes ---------------------------------------------------------------------
def _int_value(v: Any) -> Any:
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def _double_value(v: Any) -> Any:
    try:
        return float(v)  # JSON writes NaN and infinities as strings
    except (TypeError, ValueError):
        return v


def any_value(value: Any, depth: int = 0) -> Any:
    """An OTLP AnyValue (JSON-shaped) as a Python value; bytes stay base64 text."""
    if type(value) is not dict or depth > _MAX_DEPTH:
        return None
    for key, v in value.items():
        if key in ("stringValue", "string_value"):
            return v
        if key in ("intValue", "int_value"):
            return _int_value(v)
        if key in ("boolValue", "bool_value"):
            return v
        if key in ("doubleValue", "double_value"):
            return _double_value(v)
        if key in ("arrayValue", "array_value"):
            items = v.get("values") if type(v) is dict else None
            return [any_value(x, depth + 1) for x in items] if type(items) is list else []
        if key in ("kvlistValue", "kvlist_value"):
            items = v.get("values") if type(v) is dict else None
            return attributes(items, depth + 1)
        if key in ("bytesValue", "bytes_value"):
            return v
    return None


def attributes(items: Any, depth: int = 0) -> dict[str, Any]:
    """A KeyValue list as a dict; entries without a string key are skipped."""
    out: dict[str, Any] = {}
    if type(items) is not list:
        return out
    for kv in items:
        if type(kv) is dict:
            key = kv.get("key")
            if type(key) is str:
                out[key] = any_value(kv.get("value"), depth)
    return out


def as_text(value: Any) -> str | None:
    """An attribute value as stored text: scalars as written, arrays and maps as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def text_attributes(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Attributes as text under a prefix; secrets redacted, nulls dropped."""
    out: dict[str, str] = {}
    for key, value in values.items():
        text = as_text(value)
        if text is None:
            continue
        last = key.rsplit(".", 1)[-1]
        out[prefix + key] = REDACTED if last in REDACT_KEYS or last.lower() in REDACT_KEYS else text
    return out


def map_columns(attrs: dict[str, Any], table: tuple[tuple[str, str, Converter], ...], row: Row) -> None:
    """Move the attributes the table names into row columns (first spelling present wins)."""
    for key, column, convert in table:
        if column in row or key not in attrs:
            continue
        value = convert(attrs[key])
        if value is not None:
            row[column] = value
            del attrs[key]


# --- ids, times, levels ----------------------------------------------------------------------------
def decode_id(value: Any, size: int) -> tuple[str | None, str | None]:
    """(hex id, None), (None, None) when absent, or (None, problem) when invalid.

    OTLP/JSON writes ids as hex; protobuf bytes rendered to JSON are base64.
    """
    if value is None or value == "":
        return None, None
    if not isinstance(value, str):
        return None, f"is a {type(value).__name__}, not a string"
    if len(value) == 2 * size:
        hex_id = value.lower()
        if hex_id.strip(_HEX):
            return None, f"{value[:40]!r} is not hex"
    elif len(value) == 4 * ((size + 2) // 3) and value.endswith("="):  # ids are never 3n bytes
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None, f"{value[:40]!r} is neither hex nor base64"
        if len(raw) != size:
            return None, f"{value[:40]!r} decodes to {len(raw)} bytes, expected {size}"
        hex_id = raw.hex()
    else:
        return None, f"{value[:40]!r} has {len(value)} characters, expected {2 * size} hex digits"
    if not hex_id.strip("0"):
        return None, "is all zeros"
    return hex_id, None


def nanos(value: Any) -> int | None:
    """A *UnixNano field (decimal string or number) as int; None when absent or zero."""
    if isinstance(value, str):
        if not value.isdecimal() or len(value) > 20:
            return None
        value = int(value)
    elif isinstance(value, float) and value == value and abs(value) < 1e20:
        value = int(value)
    return value if type(value) is int and value > 0 else None


def severity_level(number: Any, text: Any) -> str | None:
    """A level from SeverityNumber (int or enum name), else from SeverityText."""
    if type(number) is int:
        level = level_from_severity(number)
        if level:
            return level
    elif isinstance(number, str) and number.startswith("SEVERITY_NUMBER_"):
        found = LEVEL_NAMES.get(number.rsplit("_", 1)[-1].rstrip("0123456789").lower())
        if found:
            return found
    if isinstance(text, str) and text:
        return LEVEL_NAMES.get(text) or LEVEL_NAMES.get(text.strip().lower())
    return None


def first_list(obj: dict[str, Any], *keys: str) -> list[Any]:
    """The first of `keys` holding a list (camelCase, snake_case, legacy names)."""
    for key in keys:
        value = obj.get(key)
        if type(value) is list:
            return value
    return []


def get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field under its OTLP/JSON name or its protobuf field name."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


# --- bodies ---------------------------------------------------------------------------------------
def framing(options: Mapping[str, str], filename: str = "") -> Literal["lines", "whole"]:
    """How to frame an input: protobuf files are one binary body, OTLP/JSON is one request a line."""
    encoding = (options.get("encoding") or "auto").lower()
    if encoding in ("protobuf", "proto"):
        return "whole"
    if encoding == "json":
        return "lines"
    return "whole" if filename.lower().endswith(PROTOBUF_SUFFIXES) else "lines"


def _proto_messages(data: bytes, cls: type[Message], guessed: bool) -> list[Message]:
    try:
        if len(data) >= 4 and data[0] == 0:  # a file exporter stream: length, message, ...
            messages, i = [], 0
            while i < len(data):
                if i + 4 > len(data):
                    raise BadRecord(f"protobuf stream ends inside a length prefix at byte {i}")
                size = int.from_bytes(data[i : i + 4], "big")
                i += 4
                if i + size > len(data):
                    raise BadRecord(f"protobuf stream ends inside a {size}-byte message at byte {i}")
                messages.append(cls.FromString(data[i : i + size]))
                i += size
            return messages
        return [cls.FromString(data)]
    except (DecodeError, RuntimeError, ValueError) as exc:
        if guessed:
            raise BadRecord(
                f"neither OTLP/JSON (no '{{' at the start) nor a valid OTLP protobuf {cls.__name__}: {exc}"
            ) from None
        raise BadRecord(f"not a valid OTLP protobuf {cls.__name__}: {exc}") from None


def load_requests(
    data: bytes, field: str, other: str, cls: type[Message], encoding: str
) -> Iterator[tuple[bool, dict[str, Any]]]:
    """The JSON-shaped export requests in one record (a JSON line or a protobuf body), each with
    True when it holds `field`, False when it holds the `other` signal: one collector file
    exporter serving both the traces and the logs pipeline writes both kinds into one file."""
    body = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    is_json = body[:1] == b"{" if encoding == "auto" else encoding == "json"
    if is_json:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRecord(f"invalid JSON: {exc}") from None
        if type(request) is not dict:
            raise BadRecord(f"not an OTLP/JSON {cls.__name__}: a JSON {type(request).__name__}")
        snake = _snake(field)
        if field not in request and snake not in request:
            if other in request or _snake(other) in request:
                yield False, request
                return
            raise BadRecord(f"not an OTLP/JSON {cls.__name__}: no {field}")
        yield True, request
        return
    if not data:
        return
    messages = _proto_messages(data, cls, guessed=encoding == "auto")
    if not any(m.ListFields() for m in messages):
        raise BadRecord(f"protobuf body holds no {field}: not an OTLP {cls.__name__}?")
    for message in messages:
        yield True, MessageToDict(message, use_integers_for_enums=True)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def resource_context(resource: Any, defaults: Mapping[str, str]) -> tuple[Row, dict[str, str], bool]:
    """Columns from a resource, its other attributes as "resource.*" text, and whether it is a browser."""
    attrs = attributes(resource.get("attributes")) if type(resource) is dict else {}
    webjs = attrs.get("telemetry.sdk.language") == "webjs"
    base: Row = {}
    map_columns(attrs, RESOURCE_COLUMNS, base)
    for column in ("service", "environment"):
        if column not in base and defaults.get(column):
            base[column] = defaults[column]
    return base, text_attributes(attrs, "resource."), webjs


def scope_context(scope: Any) -> tuple[str | None, dict[str, str]]:
    """The scope name and its fields as "scope.*" text."""
    if type(scope) is not dict:
        return None, {}
    name = scope.get("name") if isinstance(scope.get("name"), str) else None
    out = text_attributes(attributes(scope.get("attributes")), "scope.")
    if name:
        out["scope.name"] = name
    version = scope.get("version")
    if isinstance(version, str) and version:
        out["scope.version"] = version
    return name, out
