"""Correlation headers: W3C traceparent/tracestate, b3 single header, request ids.

Parsing follows the W3C Trace Context rules: lowercase hex only, all-zero ids are invalid,
version ff is invalid, and a future version is read by its first four fields when what
follows them starts with a dash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_TRACESTATE_KEY = re.compile(r"^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$")
_TRACESTATE_VALUE = re.compile(r"^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The ids one hop passes to the next."""

    trace_id: str
    span_id: str
    sampled: bool
    version: int = 0


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in _HEX for c in text)


_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def parse_traceparent(value: str | None) -> TraceContext | None:
    """Parse a traceparent header; None when it is absent or invalid (then a new trace starts)."""
    if not value:
        return None
    value = value.strip()
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    if version == "00":
        if len(value) != 55:
            return None
    elif len(value) > 55 and value[55] != "-":
        return None  # a future version may append fields, but only after a dash
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1), int(version, 16))


def format_traceparent(ctx: TraceContext) -> str:
    """The version-00 header for a context."""
    return f"00-{ctx.trace_id}-{ctx.span_id}-{'01' if ctx.sampled else '00'}"


def parse_tracestate(value: str | None) -> dict[str, str]:
    """Members of a tracestate header in order; invalid members are skipped, at most 32 kept."""
    members: dict[str, str] = {}
    if not value:
        return members
    for part in value.split(","):
        part = part.strip(" \t")
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep or not _TRACESTATE_KEY.match(key) or not _TRACESTATE_VALUE.match(val):
            continue
        if key not in members:
            members[key] = val
        if len(members) == 32:
            break
    return members


def parse_b3(value: str | None) -> TraceContext | None:
    """Parse the b3 single header `{trace}-{span}[-{sampled}[-{parent}]]`; 64-bit ids are left-padded."""
    if not value:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 2:
        return None  # "0", "1" or "d" alone carries a decision but no ids
    trace_id, span_id = parts[0], parts[1]
    if len(trace_id) == 16:
        trace_id = "0" * 16 + trace_id
    if not (_is_hex(trace_id, 32) and _is_hex(span_id, 16)):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    sampled = len(parts) < 3 or parts[2] in ("1", "d")
    return TraceContext(trace_id, span_id, sampled)


def clean_request_id(value: str | None) -> str | None:
    """A request id as sent (X-Request-ID, X-Correlation-ID, nginx $request_id), or None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value in ("", "-") or not _REQUEST_ID.match(value):
        return None
    return value


def trace_fields(traceparent: str | None = None, b3: str | None = None) -> dict[str, object]:
    """Row fields (trace_id, parent_span_id, trace_sampled) from whichever header parses.

    The span id in an incoming header is the caller's span, so it becomes this record's
    parent_span_id.
    """
    ctx = parse_traceparent(traceparent) or parse_b3(b3)
    if ctx is None:
        return {}
    return {"trace_id": ctx.trace_id, "parent_span_id": ctx.span_id, "trace_sampled": ctx.sampled}
