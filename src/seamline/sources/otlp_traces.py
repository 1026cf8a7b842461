"""OpenTelemetry traces: OTLP/JSON ExportTraceServiceRequest per line, or a protobuf body.

One row per span (kind "span"): start time, duration, ids, kind and status, the resource's
service/release/environment/host, HTTP semantic conventions (old and new names), and the
first exception event as error fields. Other span attributes stay in `attributes` under their
own names, resource and scope attributes under "resource." and "scope.", other events as
"event.<name>" = milliseconds after the span start.

Browser spans (resource telemetry.sdk.language = webjs) become client kinds: documentLoad ->
page_view, documentFetch and fetch/XHR client spans -> client_request, resourceFetch ->
resource, user-interaction spans -> client_action.

A span without valid ids or start time is rejected alone; the rest of the request is kept.
Options: `encoding` (auto | json | protobuf), `service`, `environment` (defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from seamline.sources._base import BadRecord, Rejected, Row
from seamline.sources._otlp_common import (
    ATTRIBUTE_COLUMNS,
    CLIENT_SPAN_NAMES,
    EXCEPTION_COLUMNS,
    PROTOBUF_SUFFIXES,
    SERVER_PEER_COLUMNS,
    SPAN_KINDS,
    SPAN_STATUSES,
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
    text_attributes,
)
from seamline.sources._stack import fingerprint

NAME = "otlp_traces"
DESCRIPTION = "OpenTelemetry traces: OTLP/JSON export requests (one per line) or OTLP protobuf"
FRAMING: Literal["lines", "whole"] = "lines"  # protobuf inputs: see framing()

__all__ = ["DESCRIPTION", "FRAMING", "NAME", "framing", "make_parser", "sniff"]


def _reject(span: Any, index: int, reason: str) -> Rejected:
    raw = orjson.dumps(span, option=orjson.OPT_NON_STR_KEYS) if isinstance(span, dict) else None
    return Rejected(reason, raw, index)


def _events(span: dict[str, Any], start: int, row: Row, attrs: dict[str, str]) -> str | None:
    """Fold span events into the row: the first exception to error fields, others to attributes."""
    stack: str | None = None
    for event in first_list(span, "events"):
        if type(event) is not dict:
            continue
        name = event.get("name")
        ev_attrs = attributes(event.get("attributes"))
        if name == "exception" and stack is None and "error_type" not in row and "error_message" not in row:
            map_columns(ev_attrs, EXCEPTION_COLUMNS, row)
            stack = row.pop("_stack", None) or ""
            attrs.update(text_attributes(ev_attrs))
            continue
        if not isinstance(name, str) or not name:
            continue
        key = f"event.{name}"
        if key in attrs:
            continue  # repeated events keep their first occurrence
        at = nanos(get(event, "timeUnixNano", "time_unix_nano"))
        attrs[key] = f"{(at - start) / 1e6:g}" if at else ""
        if ev_attrs:
            attrs[f"{key}.attributes"] = orjson.dumps(ev_attrs, option=orjson.OPT_NON_STR_KEYS).decode()
    return stack or None


def _client_kind(span: dict[str, Any], row: Row, attrs: dict[str, Any], scope: str | None) -> str:
    """The kind of a browser span, and its name fixed up for actions."""
    kind = CLIENT_SPAN_NAMES.get(row.get("name") or "")
    if kind:
        return kind
    if (scope and scope.endswith("user-interaction")) or "event_type" in attrs:
        target = attrs.get("target_xpath") or attrs.get("target_element")
        if isinstance(target, str) and target:
            attrs["span.name"] = row.get("name")
            row["name"] = target  # the action's target descriptor, as client_events names it
        return "client_action"
    if row.get("span_kind") == "client" and ("url" in row or "http_method" in row):
        return "client_request"
    return "span"


def _span_row(
    span: Any,
    index: int,
    base: Row,
    res_text: dict[str, str],
    scope_name: str | None,
    scope_text: dict[str, str],
    webjs: bool,
) -> Row | Rejected:
    if type(span) is not dict:
        return Rejected(f"span #{index} is not an object", None, index)
    label = span.get("name") if isinstance(span.get("name"), str) else ""
    trace_id, problem = decode_id(get(span, "traceId", "trace_id"), 16)
    if problem or trace_id is None:
        return _reject(span, index, f"span {label!r}: traceId {problem or 'is missing'}")
    span_id, problem = decode_id(get(span, "spanId", "span_id"), 8)
    if problem or span_id is None:
        return _reject(span, index, f"span {label!r}: spanId {problem or 'is missing'}")
    start = nanos(get(span, "startTimeUnixNano", "start_time_unix_nano"))
    if start is None:
        return _reject(span, index, f"span {label!r}: no startTimeUnixNano")
    row: Row = {}
    row["ts"] = start // 1000
    row["trace_id"] = trace_id
    row["span_id"] = span_id
    extra: dict[str, str] = {}
    parent, problem = decode_id(get(span, "parentSpanId", "parent_span_id"), 8)
    if parent:
        row["parent_span_id"] = parent
    elif problem:
        extra["otlp.invalid_parent_span_id"] = f"parentSpanId {problem}"
    end = nanos(get(span, "endTimeUnixNano", "end_time_unix_nano"))
    if end is not None and end >= start:
        row["duration_ms"] = (end - start) / 1e6
    if label:
        row["name"] = label
    kind = span.get("kind")
    if type(kind) in (int, str) and kind in SPAN_KINDS:
        row["span_kind"] = SPAN_KINDS[kind]
    status = span.get("status")
    status_message = None
    if type(status) is dict:
        code = status.get("code", 0)
        row["span_status"] = SPAN_STATUSES.get(code, "unset") if type(code) in (int, str) else "unset"
        if isinstance(status.get("message"), str) and status["message"]:
            status_message = status["message"]
    else:
        row["span_status"] = "unset"
    flags = span.get("flags")
    if type(flags) is int and flags & 0xFF:
        row["trace_sampled"] = bool(flags & 1)  # the low byte is the W3C trace-flags byte
    attrs = attributes(span.get("attributes"))
    map_columns(attrs, ATTRIBUTE_COLUMNS, row)
    if row.get("span_kind") == "server":
        map_columns(attrs, SERVER_PEER_COLUMNS, row)
    query = attrs.get("url.query")
    if isinstance(query, str) and query and isinstance(row.get("url"), str) and "?" not in row["url"]:
        row["url"] = f"{row['url']}?{query}"
        del attrs["url.query"]
    stack = row.pop("_stack", None)
    stack = _events(span, start, row, extra) or stack
    if status_message:
        if row.get("span_status") == "error" and "error_message" not in row:
            row["error_message"] = status_message
        else:
            extra["status.message"] = status_message
    if stack or "error_type" in row:
        row["error_fingerprint"] = fingerprint(stack, row.get("error_type"), row.get("error_message"))
        if stack:
            extra["exception.stacktrace"] = stack
    state = get(span, "traceState", "trace_state")
    if isinstance(state, str) and state:
        extra["trace_state"] = state
    links = []
    for link in first_list(span, "links"):
        if type(link) is dict:
            linked_trace = decode_id(get(link, "traceId", "trace_id"), 16)[0]
            linked_span = decode_id(get(link, "spanId", "span_id"), 8)[0]
            if linked_trace and linked_span:
                links.append(f"{linked_trace}-{linked_span}")
    if links:
        extra["links"] = orjson.dumps(links).decode()
    for column, value in base.items():  # span/record attributes are more specific
        row.setdefault(column, value)
    row["kind"] = _client_kind(span, row, attrs, scope_name) if webjs else "span"
    merged = {**res_text, **scope_text, **text_attributes(attrs), **extra}
    if merged:
        row["attributes"] = merged
    return row


def _rows(request: dict[str, Any], defaults: Mapping[str, str], start_index: int) -> Iterator[Row | Rejected]:
    index = start_index
    resource_spans = get(request, "resourceSpans", "resource_spans")
    if type(resource_spans) is not list:
        raise BadRecord("resourceSpans is not a list")
    for rs in resource_spans:
        if type(rs) is not dict:
            yield Rejected(f"resourceSpans entry #{index} is not an object", None, index)
            index += 1
            continue
        base, res_text, webjs = resource_context(rs.get("resource"), defaults)
        for ss in first_list(rs, "scopeSpans", "scope_spans", "instrumentationLibrarySpans"):
            if type(ss) is not dict:
                continue
            scope_name, scope_text = scope_context(ss.get("scope") or ss.get("instrumentationLibrary"))
            for span in first_list(ss, "spans"):
                yield _span_row(span, index, base, res_text, scope_name, scope_text, webjs)
                index += 1


def make_parser(options: Mapping[str, str]) -> Callable[[bytes], Iterable[Row | Rejected]]:
    """A parser for OTLP trace export requests (JSON text or protobuf bytes)."""
    encoding = (options.get("encoding") or "auto").lower()
    encoding = "protobuf" if encoding == "proto" else encoding
    if encoding not in ("auto", "json", "protobuf"):
        raise ValueError(f"unknown encoding {encoding!r}; choose auto, json or protobuf")
    defaults = {k: options[k] for k in ("service", "environment") if options.get(k)}
    from seamline.sources.otlp_logs import _rows as other_rows  # each reads the other's lines of a mixed file

    def parse(data: bytes) -> list[Row | Rejected]:
        out: list[Row | Rejected] = []
        for own, request in load_requests(data, "resourceSpans", "resourceLogs", ExportTraceServiceRequest, encoding):
            out.extend((_rows if own else other_rows)(request, defaults, len(out)))
        return out

    return parse


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is an OTLP traces export (JSON lines, or protobuf by name)."""
    head = sample[:4096]
    if b'"resourceSpans"' in head or b'"resource_spans"' in head:
        return 0.95
    if filename.lower().endswith(PROTOBUF_SUFFIXES):
        return 0.6 if "trace" in filename.lower() or "span" in filename.lower() else 0.4
    return 0.0
