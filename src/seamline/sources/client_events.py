"""Seamline browser SDK batches (docs/client-events.md, wire format v1), one batch per record.

The same parser reads a line of `client/*.ndjson` and the body of `POST /v1/client`. A batch
that cannot be trusted as a whole (not JSON, missing envelope fields) raises BadRecord; an
event that is malformed is rejected alone and the rest of the batch is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson

from seamline.sources._base import BadRecord, Parser, Rejected, Row
from seamline.sources._stack import fingerprint as stack_fingerprint
from seamline.sources._trace_context import trace_fields

NAME = "client_events"
DESCRIPTION = "Seamline browser SDK batches (NDJSON, one batch per line; also POST /v1/client)"
FRAMING = "lines"

SUPPORTED_VERSIONS = frozenset({1})
STACK_LIMIT = 4096
# Epoch milliseconds beyond this (year 5138) cannot be a clock reading and overflow µs math.
MAX_EPOCH_MS = 1e14
# Identify traits that name a person; they are dropped rather than stored as attributes.
PII_TRAITS = frozenset(
    {
        "email",
        "name",
        "firstname",
        "lastname",
        "fullname",
        "username",
        "displayname",
        "phone",
        "phonenumber",
        "mobile",
        "address",
        "street",
        "city",
        "postalcode",
        "zip",
        "zipcode",
        "birthday",
        "dateofbirth",
        "dob",
        "ssn",
        "ip",
    }
)
_PII_FRAGMENTS = ("email", "phone", "address")
_MAX_SAFE_INT = 2**53 - 1  # what a JavaScript sender can count exactly
_NUMBER = (int, float)


class _Invalid(ValueError):
    """One event cannot be stored; the message is the quarantine reason."""


# --- shared helpers (also used by the segment source) ----------------------------------------


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for reasons a person reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def show(value: object) -> str:
    """A decoded JSON value as short JSON text, for quarantine reasons."""
    text = orjson.dumps(value).decode()
    return text if len(text) <= 40 else text[:37] + "..."


def as_text(value: object) -> str | None:
    """A JSON value as attribute text: strings as-is, scalars as JSON literals, containers as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def url_path(url: str | None) -> str | None:
    """The path of a URL (or of a path with a query); '/' for a bare origin."""
    if not url:
        return None
    if url.startswith("/") and not url.startswith("//"):
        cut = min((i for i in (url.find("?"), url.find("#")) if i != -1), default=len(url))
        return url[:cut]
    try:
        return urlsplit(url).path or "/"
    except ValueError:  # e.g. an invalid IPv6 host
        return None


def is_pii_trait(key: str) -> bool:
    """True for traits that identify a person (email, name, phone, address and kin)."""
    norm = key.lower().replace("_", "").replace("-", "").replace(".", "").replace(" ", "")
    return norm in PII_TRAITS or any(f in norm for f in _PII_FRAGMENTS)


def add_prefixed(attrs: dict[str, str], prefix: str, values: Mapping[str, Any], pii: bool) -> None:
    """Copy an object's members into attributes as `<prefix><key>`, optionally minus PII traits."""
    for k, v in values.items():
        if v is None or (pii and is_pii_trait(k)):
            continue
        attrs[prefix + k] = as_text(v)  # type: ignore[assignment]


def segment_of(traits: Mapping[str, Any] | None) -> str | None:
    """The user segment named by traits (`segment`, else `plan`)."""
    if not traits:
        return None
    for key in ("segment", "plan"):
        v = traits.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def natural_id(namespace: str, *parts: str) -> str:
    """Event id from the sender's own ids, so a resent record is recognised as a duplicate."""
    text = "\x00".join((namespace, *parts))
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


# --- typed access ------------------------------------------------------------------------------


def _str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    v = obj.get(key)
    if v is None or isinstance(v, str):
        return v
    raise _Invalid(f"{where}{key} must be a string, got {json_type(v)}")


def _num(obj: Mapping[str, Any], key: str, where: str) -> float | None:
    v = obj.get(key)
    if v is None or type(v) is float or type(v) is int:  # the common cases, without isinstance chains
        return v
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _Invalid(f"{where}{key} must be a number, got {json_type(v)}")
    return v


def _int(obj: Mapping[str, Any], key: str, where: str, high: int | None = None) -> int | None:
    v = obj.get(key)
    if type(v) is int and 0 <= v <= (high if high is not None else _MAX_SAFE_INT):
        return v  # a whole number in range, as JSON integers mostly are
    v = _num(obj, key, where)
    if v is None:
        return None
    if v != int(v) or v < 0 or v > (high if high is not None else _MAX_SAFE_INT):
        limit = f"from 0 to {high}" if high is not None else "(non-negative, below 2^53)"
        raise _Invalid(f"{where}{key} must be a whole number {limit}, got {show(v)}")
    return int(v)


def _obj(obj: Mapping[str, Any], key: str, where: str, required: bool = False) -> dict[str, Any]:
    v = obj.get(key)
    if v is None:
        if required:
            raise _Invalid(f"{where}{key} is missing")
        return {}
    if not isinstance(v, dict):
        raise _Invalid(f"{where}{key} must be an object, got {json_type(v)}")
    return v


def _flags(obj: Mapping[str, Any], where: str) -> dict[str, str]:
    raw = _obj(obj, "flags", where)
    out: dict[str, str] = {}
    for k, v in raw.items():
        if isinstance(v, dict | list) or v is None:
            raise _Invalid(f"{where}flags.{k} must be a string, number or boolean")
        out[k] = as_text(v)  # type: ignore[assignment]
    return out


# --- per event type: fill the row's kind-specific columns ----------------------------------------

Fill = Callable[[dict[str, Any], Row, dict[str, str]], None]


def _page_view(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    nav = _obj(ev, "nav", "nav.")
    for k, v in nav.items():
        if k == "type":
            attrs["nav.type"] = _str(nav, k, "nav.")  # type: ignore[assignment]
        elif v is not None:
            attrs["nav." + k] = as_text(_num(nav, k, "nav."))  # type: ignore[assignment]
    row["duration_ms"] = nav.get("load")
    row["response_bytes"] = _int(nav, "transferSize", "nav.")
    # The document's traceparent names the server's span, which is this view's parent.
    row.update(trace_fields(_str(ev, "traceparent", "")))


def _action(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    action = _obj(ev, "action", "", required=True)
    row["name"] = _str(action, "target", "action.")
    kind, name = _str(action, "kind", "action."), _str(action, "name", "action.")
    if kind is not None:
        attrs["action.kind"] = kind
    if name is not None:
        attrs["action.name"] = name
    row.update(trace_fields(_str(ev, "traceparent", "")))


def _request(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    req = _obj(ev, "request", "", required=True)
    method = _str(req, "method", "request.")
    row["http_method"] = method.upper() if method else None
    row["url"] = _str(req, "url", "request.")
    row["http_status"] = _int(req, "status", "request.", 999)
    row["duration_ms"] = _num(req, "duration", "request.")
    row["request_bytes"] = _int(req, "requestBytes", "request.")
    row["response_bytes"] = _int(req, "responseBytes", "request.")
    initiator = _str(req, "initiator", "request.")
    if initiator is not None:
        attrs["initiator"] = initiator
    for k, v in _obj(req, "serverTiming", "request.").items():
        dur = v.get("dur") if isinstance(v, dict) else v
        attrs["server_timing." + k] = as_text(dur)  # type: ignore[assignment]
    # The SDK injected this traceparent, so its span id is this client span itself; the
    # server's span will name it as parent.
    ctx = trace_fields(_str(ev, "traceparent", ""))
    if ctx:
        row["trace_id"] = ctx["trace_id"]
        row["span_id"] = ctx["parent_span_id"]
        row["trace_sampled"] = ctx["trace_sampled"]


def _resource(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    res = _obj(ev, "resource", "", required=True)
    row["url"] = _str(res, "url", "resource.")
    row["duration_ms"] = _num(res, "duration", "resource.")
    row["response_bytes"] = _int(res, "transferSize", "resource.")
    initiator = _str(res, "initiatorType", "resource.")
    if initiator is not None:
        attrs["initiator"] = initiator


def _error(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    err = _obj(ev, "error", "", required=True)
    etype, message = _str(err, "type", "error."), _str(err, "message", "error.")
    stack = _str(err, "stack", "error.")
    row["error_type"], row["error_message"] = etype, message
    row["error_fingerprint"] = stack_fingerprint(stack, etype, message)
    if stack:
        if len(stack) > STACK_LIMIT // 4:  # only then can it exceed the limit in UTF-8
            stack = stack.encode()[:STACK_LIMIT].decode(errors="ignore")
        attrs["stack"] = stack
    for key in ("source", "filename"):
        v = _str(err, key, "error.")
        if v is not None:
            attrs["error." + key] = v
    for key in ("line", "col"):
        n = _int(err, key, "error.")
        if n is not None:
            attrs["error." + key] = str(n)
    row.update(trace_fields(_str(ev, "traceparent", "")))


def _vital(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    vital = _obj(ev, "vital", "", required=True)
    row["name"] = _str(vital, "name", "vital.")
    row["value"] = _num(vital, "value", "vital.")
    rating = _str(vital, "rating", "vital.")
    if rating is not None:
        attrs["rating"] = rating


def _visibility(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    state = _str(ev, "state", "")
    if state is None:
        raise _Invalid("state is missing")
    row["visibility"] = state


def _track(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    name = _str(ev, "event", "")
    if not name:
        raise _Invalid("event (the track name) is missing")
    row["name"] = name
    add_prefixed(attrs, "prop.", _obj(ev, "properties", ""), pii=False)


def _identify(ev: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    user = _str(ev, "userId", "")
    if user:
        row["user_id"] = user
    traits = _obj(ev, "traits", "")
    add_prefixed(attrs, "trait.", traits, pii=True)
    segment = segment_of(traits)
    if segment:
        row["segment"] = segment


# wire type -> (stored kind, filler)
EVENT_TYPES: dict[str, tuple[str, Fill]] = {
    "page_view": ("page_view", _page_view),
    "action": ("client_action", _action),
    "request": ("client_request", _request),
    "resource": ("resource", _resource),
    "error": ("client_error", _error),
    "vital": ("web_vital", _vital),
    "visibility": ("visibility", _visibility),
    "track": ("track", _track),
    "identify": ("identify", _identify),
}


# --- the batch ---------------------------------------------------------------------------------


def _epoch_ms(value: object) -> bool:
    # The range test also rejects NaN and infinities; type() rather than isinstance keeps bools out.
    return type(value) in _NUMBER and 0 <= value < MAX_EPOCH_MS  # type: ignore[operator]


def _batch_context(batch: dict[str, Any], default_received_at: float | None) -> tuple[Row, dict[str, str], int]:
    """Columns shared by every event of the batch, the batch flags, and the clock offset (µs)."""
    where = "batch: "
    sent_at = batch.get("sentAt")
    if sent_at is None:
        raise BadRecord(f"{where}sentAt is missing")
    if not _epoch_ms(sent_at):
        raise BadRecord(f"{where}sentAt must be epoch milliseconds, got {show(sent_at)}")
    received_at = batch.get("receivedAt")
    if received_at is None:
        received_at = default_received_at
    elif not _epoch_ms(received_at):
        raise BadRecord(f"{where}receivedAt must be epoch milliseconds, got {show(received_at)}")
    session = batch.get("session")
    if not isinstance(session, dict):
        raise BadRecord(f"{where}session is missing" if session is None else f"{where}session must be an object")
    try:
        session_id = _str(session, "id", "session.")
        anonymous_id = _str(session, "anonymousId", "session.")
        user_id = _str(session, "userId", "session.")
        ctx = _obj(batch, "context", "")
        app = _obj(ctx, "app", "context.")
        page = _obj(ctx, "page", "context.")
        net = _obj(ctx, "network", "context.")
        base: Row = {
            "session_id": session_id,
            "anonymous_id": anonymous_id,
            "device_id": anonymous_id,
            "user_id": user_id,
            "service": _str(app, "name", "context.app."),
            "release": _str(app, "release", "context.app."),
            "environment": _str(app, "environment", "context.app."),
            "user_agent": _str(ctx, "userAgent", "context."),
            "page": url_path(_str(page, "url", "context.page.")),
            "referrer": _str(page, "referrer", "context.page."),
            "network_type": _str(net, "effectiveType", "context.network."),
            "network_rtt_ms": _num(net, "rtt", "context.network."),
            "region": _str(ctx, "region", "context."),
            "segment": _str(ctx, "segment", "context."),
        }
        flags = _flags(ctx, "context.")
    except _Invalid as exc:
        raise BadRecord(f"{where}{exc}") from None
    if not session_id:
        raise BadRecord(f"{where}session.id is missing")
    # Absent and empty values stay out of the rows (they would be nulls anyway).
    base = {k: v for k, v in base.items() if v is not None and v != ""}
    offset_us = 0
    if received_at is not None:
        base["received_at"] = round(received_at * 1000)
        offset_ms = sent_at - received_at
        base["clock_offset_ms"] = offset_ms
        offset_us = round(offset_ms * 1000)
    return base, flags, offset_us


def _event(ev: object, flags: dict[str, str], offset_us: int, key: Any) -> Row:
    """The event's own columns; the batch's shared ones (`_batch_context`) are merged by the caller."""
    if not isinstance(ev, dict):
        raise _Invalid(f"event must be an object, got {json_type(ev)}")
    etype = ev.get("type")
    spec = EVENT_TYPES.get(etype) if isinstance(etype, str) else None
    if spec is None:
        raise _Invalid(f"unknown event type {show(etype)}")
    eid = ev.get("id")
    if not isinstance(eid, str) or not eid:
        raise _Invalid("id is missing" if eid is None else "id must be a non-empty string")
    ts = ev.get("ts")
    if ts is None:
        raise _Invalid("ts is missing")
    if not _epoch_ms(ts):
        raise _Invalid(f"ts must be epoch milliseconds, got {show(ts)}")
    row: Row = {}
    client_us = round(ts * 1000)
    row["kind"] = spec[0]
    row["client_ts"] = client_us
    row["client_ts_raw"] = str(ts)
    row["ts"] = client_us - offset_us
    # Same digest as natural_id("client", session, id), from a hasher primed with the session.
    hasher = key.copy()
    hasher.update(eid.encode())
    row["event_id"] = hasher.hexdigest()
    if "page" in ev:
        page = _obj(ev, "page", "")
        path, referrer = url_path(_str(page, "url", "page.")), _str(page, "referrer", "page.")
        if path:
            row["page"] = path
        if referrer:
            row["referrer"] = referrer
    own_flags = _flags(ev, "") if "flags" in ev else None
    if own_flags:
        row["feature_flags"] = {**flags, **own_flags}
    elif flags:
        row["feature_flags"] = flags
    if "visibility" in ev:
        visibility = _str(ev, "visibility", "")
        if visibility is not None:
            row["visibility"] = visibility
    attrs: dict[str, str] = {}
    if "actionId" in ev:
        action_id = _str(ev, "actionId", "")
        if action_id is not None:
            attrs["action_id"] = action_id
    spec[1](ev, row, attrs)
    if attrs:
        row["attributes"] = attrs
    return row


def parse_shared(record: bytes, received_at_ms: float | None = None) -> tuple[Row, list[Row | Rejected]]:
    """The columns every event of a batch shares, and each event's own columns (or its Rejected).

    A row of `parse_batch` is the shared columns updated with the event's own; the HTTP path
    builds Arrow columns from this form directly, so the shared values are not copied per event.
    """
    try:
        batch = orjson.loads(record)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"batch is not JSON: {exc}") from None
    if not isinstance(batch, dict):
        raise BadRecord(f"batch must be a JSON object, got {json_type(batch)}")
    v = batch.get("v")
    if v is None:
        raise BadRecord("batch: v (wire format version) is missing")
    if not isinstance(v, int) or isinstance(v, bool) or v not in SUPPORTED_VERSIONS:
        raise BadRecord(f"batch: unsupported wire format version v={show(v)}")
    events = batch.get("events")
    if events is None:
        raise BadRecord("batch: events is missing")
    if not isinstance(events, list):
        raise BadRecord(f"batch: events must be an array, got {json_type(events)}")
    if not events:
        raise BadRecord("batch: events is empty")
    base, flags, offset_us = _batch_context(batch, received_at_ms)
    key = hashlib.blake2b(f"client\x00{base['session_id']}\x00".encode(), digest_size=10)
    items: list[Row | Rejected] = []
    for i, ev in enumerate(events):
        try:
            items.append(_event(ev, flags, offset_us, key))
        except _Invalid as exc:
            where = f"event {i}" + (
                f" ({ev['type']})" if isinstance(ev, dict) and isinstance(ev.get("type"), str) else ""
            )
            items.append(Rejected(f"{where}: {exc}", raw=orjson.dumps(ev).decode(), index=i))
    return base, items


def parse_batch(record: bytes, received_at_ms: float | None = None) -> Iterator[Row | Rejected]:
    """Rows for the valid events of one batch, Rejected for each invalid one.

    `received_at_ms` is the collector's clock when the batch itself carries no receivedAt
    (the HTTP endpoint passes its receive time this way).
    """
    base, items = parse_shared(record, received_at_ms)
    for item in items:
        yield item if isinstance(item, Rejected) else {**base, **item}


def sniff(sample: bytes, filename: str) -> float:
    """Confident when lines look like SDK batches (a v/sentAt/session/events envelope)."""
    head = sample.lstrip()[:4096]
    if not head.startswith(b"{"):
        return 0.0
    keys = (b'"sentAt"', b'"session"', b'"events"', b'"v"')
    found = sum(k in head for k in keys)
    if found == len(keys):
        return 0.95
    return 0.3 if found >= 2 and b"client" in filename.encode(errors="ignore") else 0.0


def received_at_option(options: Mapping[str, Any]) -> float | None:
    """The `received_at_ms` option (epoch ms, server clock) as a number, if given."""
    value = options.get("received_at_ms")
    if value is None or value == "":
        return None
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"option received_at_ms must be epoch milliseconds, got {value!r}") from None
    if not _epoch_ms(ms):
        raise ValueError(f"option received_at_ms must be epoch milliseconds, got {value!r}")
    return ms


def make_shared_parser(options: Mapping[str, str]) -> Callable[[bytes], tuple[Row, list[Row | Rejected]]]:
    """`parse_shared` with the parser options of `make_parser` (used for HTTP bodies)."""
    return partial(parse_shared, received_at_ms=received_at_option(options))


def make_parser(options: Mapping[str, str]) -> Parser:
    """The batch parser; option `received_at_ms` stands in for a missing batch receivedAt."""
    received_at_ms = received_at_option(options)
    if received_at_ms is None:
        return parse_batch
    return partial(parse_batch, received_at_ms=received_at_ms)
