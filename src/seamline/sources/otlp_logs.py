"""OpenTelemetry logs: OTLP/JSON ExportLogsServiceRequest per line, or a protobuf body.

One row per log record (kind "server_log"): time (observed time when the record has none),
level from SeverityNumber (else SeverityText), body as message (structured bodies as compact
JSON), trace and span ids, the resource's service/release/environment/host, HTTP and
exception attributes as columns; the rest in `attributes` ("resource."/"scope." prefixed for
resource and scope attributes). The scope name is the logger, stored as `name` unless the
record has an event name.

Browser records (resource telemetry.sdk.language = webjs) become client_log, or client_error
when they carry exception.* attributes. Options: `encoding` (auto | json | protobuf),
`service`, `environment` (defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from seamline.sources._base import BadRecord, Rejected, Row
from seamline.sources._otlp_common import (
    ATTRIBUTE_COLUMNS,
    PROTOBUF_SUFFIXES,
    any_value,
    as_text,
    attributes,
    decode_id,
    first_list,
    framing,
    get,
    load_requests,
    map_columns,
    nanos,
    resource_context,
    scope_context,
    severity_level,
    text_attributes,
)
from seamline.sources._stack import fingerprint

NAME = "otlp_logs"
DESCRIPTION = "OpenTelemetry logs: OTLP/JSON export requests (one per line) or OTLP protobuf"
FRAMING: Literal["lines", "whole"] = "lines"  # protobuf inputs: see framing()

__all__ = ["DESCRIPTION", "FRAMING", "NAME", "framing", "make_parser", "sniff"]


def _log_row(
    record: Any,
    index: int,
    base: Row,
    res_text: dict[str, str],
    scope_name: str | None,
    scope_text: dict[str, str],
    webjs: bool,
) -> Row | Rejected:
    if type(record) is not dict:
        return Rejected(f"log record #{index} is not an object", None, index)
    time = nanos(get(record, "timeUnixNano", "time_unix_nano"))
    time = time or nanos(get(record, "observedTimeUnixNano", "observed_time_unix_nano"))
    if time is None:
        raw = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
        return Rejected("log record has neither timeUnixNano nor observedTimeUnixNano", raw, index)
    row: Row = {}
    row["ts"] = time // 1000
    extra: dict[str, str] = {}
    for column, camel, snake, size in (("trace_id", "traceId", "trace_id", 16), ("span_id", "spanId", "span_id", 8)):
        value, problem = decode_id(get(record, camel, snake), size)
        if value:
            row[column] = value
        elif problem:  # a log line stays useful without its ids: keep it, say why they are gone
            extra[f"otlp.invalid_{column}"] = f"{camel} {problem}"
    level = severity_level(
        get(record, "severityNumber", "severity_number"), get(record, "severityText", "severity_text")
    )
    if level:
        row["level"] = level
    body = any_value(record.get("body"))
    if body is not None:
        row["message"] = as_text(body)
    flags = record.get("flags")
    if type(flags) is int and flags & 0xFF:
        row["trace_sampled"] = bool(flags & 1)
    event_name = get(record, "eventName", "event_name")
    name = event_name if isinstance(event_name, str) and event_name else scope_name
    if name:
        row["name"] = name
    attrs = attributes(record.get("attributes"))
    map_columns(attrs, ATTRIBUTE_COLUMNS, row)
    stack = row.pop("_stack", None)
    if stack or "error_type" in row:
        row["error_fingerprint"] = fingerprint(stack, row.get("error_type"), row.get("error_message"))
        if stack:
            extra["exception.stacktrace"] = stack
    for column, value in base.items():  # span/record attributes are more specific
        row.setdefault(column, value)
    if webjs:
        row["kind"] = "client_error" if stack or "error_type" in row else "client_log"
    else:
        row["kind"] = "server_log"
    merged = {**res_text, **scope_text, **text_attributes(attrs), **extra}
    if merged:
        row["attributes"] = merged
    return row


def _rows(request: dict[str, Any], defaults: Mapping[str, str], start_index: int) -> Iterator[Row | Rejected]:
    index = start_index
    resource_logs = get(request, "resourceLogs", "resource_logs")
    if type(resource_logs) is not list:
        raise BadRecord("resourceLogs is not a list")
    for rl in resource_logs:
        if type(rl) is not dict:
            yield Rejected(f"resourceLogs entry #{index} is not an object", None, index)
            index += 1
            continue
        base, res_text, webjs = resource_context(rl.get("resource"), defaults)
        for sl in first_list(rl, "scopeLogs", "scope_logs", "instrumentationLibraryLogs"):
            if type(sl) is not dict:
                continue
            scope_name, scope_text = scope_context(sl.get("scope") or sl.get("instrumentationLibrary"))
            for record in first_list(sl, "logRecords", "log_records"):
                yield _log_row(record, index, base, res_text, scope_name, scope_text, webjs)
                index += 1


def make_parser(options: Mapping[str, str]) -> Callable[[bytes], Iterable[Row | Rejected]]:
    """A parser for OTLP log export requests (JSON text or protobuf bytes)."""
    encoding = (options.get("encoding") or "auto").lower()
    encoding = "protobuf" if encoding == "proto" else encoding
    if encoding not in ("auto", "json", "protobuf"):
        raise ValueError(f"unknown encoding {encoding!r}; choose auto, json or protobuf")
    defaults = {k: options[k] for k in ("service", "environment") if options.get(k)}
    from seamline.sources.otlp_traces import _rows as other_rows  # each reads the other's lines of a mixed file

    def parse(data: bytes) -> list[Row | Rejected]:
        out: list[Row | Rejected] = []
        for own, request in load_requests(data, "resourceLogs", "resourceSpans", ExportLogsServiceRequest, encoding):
            out.extend((_rows if own else other_rows)(request, defaults, len(out)))
        return out

    return parse


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is an OTLP logs export (JSON lines, or protobuf by name)."""
    head = sample[:4096]
    if b'"resourceLogs"' in head or b'"resource_logs"' in head:
        return 0.95
    if filename.lower().endswith(PROTOBUF_SUFFIXES):
        return 0.6 if "log" in filename.lower() else 0.3
    return 0.0
