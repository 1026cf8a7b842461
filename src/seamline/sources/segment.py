"""Segment Tracking API calls: single messages or the `{"batch": [...], "sentAt"}` envelope.

Covers track, page, screen, identify, group and alias with Segment's four timestamps. The
device clock is not trusted: when the device time and both `sentAt` (device clock) and
`receivedAt` (server clock) are known, the event time is `receivedAt - (sentAt - device time)`,
as Segment computes `timestamp`; the device time is kept raw in client_ts_raw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import orjson

from seamline.sources._base import BadRecord, Parser, Rejected, Row
from seamline.sources._time import BadTimestamp, any_to_us
from seamline.sources.client_events import (
    MAX_EPOCH_MS,
    add_prefixed,
    json_type,
    natural_id,
    received_at_option,
    segment_of,
    show,
    url_path,
)

NAME = "segment"
DESCRIPTION = "Segment Tracking API messages (track/page/screen/identify/group/alias), NDJSON"
FRAMING = "lines"

# Standard page properties become columns, so they are not repeated as attributes (their url
# would carry the query unscrubbed).
PAGE_PROPERTIES = frozenset({"path", "url", "referrer", "search", "title"})
_MAX_US = int(MAX_EPOCH_MS * 1000)


class _Invalid(ValueError):
    """One message cannot be stored; the message is the quarantine reason."""


def _str(obj: Mapping[str, Any], key: str, where: str = "") -> str | None:
    v = obj.get(key)
    if v is None or isinstance(v, str):
        return v or None
    raise _Invalid(f"{where}{key} must be a string, got {json_type(v)}")


def _id(obj: Mapping[str, Any], key: str) -> str | None:
    # Segment ids are strings, but some server libraries send numeric user ids.
    v = obj.get(key)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return _str(obj, key)


def _obj(obj: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
    v = obj.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _Invalid(f"{where}{key} must be an object, got {json_type(v)}")
    return v


def _time(obj: Mapping[str, Any], key: str) -> tuple[int, str] | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise _Invalid(f"{key} must be an ISO 8601 string, got {json_type(v)}")
    try:
        us = any_to_us(v)
    except (BadTimestamp, OverflowError, ValueError) as exc:
        raise _Invalid(f"{key}: {exc}") from None
    if not -_MAX_US < us < _MAX_US:
        raise _Invalid(f"{key} is out of range: {show(v)}")
    return us, v if isinstance(v, str) else str(v)


def _times(msg: Mapping[str, Any], env: Mapping[str, Any], row: Row, default_received_us: int | None) -> None:
    """Event time, device time and clock offset from Segment's four timestamps."""
    original, timestamp = _time(msg, "originalTimestamp"), _time(msg, "timestamp")
    sent = _time(msg, "sentAt") or _time(env, "sentAt")
    received = _time(msg, "receivedAt") or _time(env, "receivedAt")
    if received is None and default_received_us is not None:
        received = (default_received_us, "")
    # Raw client payloads carry the device time in `timestamp`; Segment's exports move it to
    # `originalTimestamp` and store the corrected time in `timestamp`.
    device = original or timestamp
    if received:
        row["received_at"] = received[0]
    if device:
        row["client_ts"], row["client_ts_raw"] = device
    if device and sent and received:
        offset_us = sent[0] - received[0]
        row["clock_offset_ms"] = offset_us / 1000
        row["ts"] = device[0] - offset_us
    elif timestamp:
        row["ts"] = timestamp[0]
    elif device:
        row["ts"] = device[0]
    elif received:
        row["ts"] = received[0]  # the API stamps receipt time when the caller gave none
    else:
        raise _Invalid("no timestamp (timestamp, originalTimestamp or receivedAt)")


# --- per type --------------------------------------------------------------------------------

Fill = Callable[[dict[str, Any], Row, dict[str, str]], None]


def _track(msg: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    name = _str(msg, "event")
    if not name:
        raise _Invalid("event (the track name) is missing")
    row["name"] = name
    add_prefixed(attrs, "prop.", _obj(msg, "properties"), pii=False)


def _page(msg: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    props = _obj(msg, "properties")
    row["name"] = _str(msg, "name")
    path = _str(props, "path", "properties.") or url_path(_str(props, "url", "properties."))
    if path:
        row["page"] = path
    referrer = _str(props, "referrer", "properties.")
    if referrer:
        row["referrer"] = referrer
    category = _str(msg, "category")
    if category:
        attrs["category"] = category
    add_prefixed(attrs, "prop.", {k: v for k, v in props.items() if k not in PAGE_PROPERTIES}, pii=False)


def _screen(msg: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    _page(msg, row, attrs)
    attrs["screen"] = "true"


def _identify(msg: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    traits = _obj(msg, "traits")
    add_prefixed(attrs, "trait.", traits, pii=True)
    segment = segment_of(traits)
    if segment:
        row["segment"] = segment


def _group(msg: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    row["name"] = "group"
    group_id = _id(msg, "groupId")
    if not group_id:
        raise _Invalid("groupId is missing")
    attrs["group_id"] = group_id
    add_prefixed(attrs, "trait.", _obj(msg, "traits"), pii=True)


def _alias(msg: dict[str, Any], row: Row, attrs: dict[str, str]) -> None:
    # previousId is a raw identifier with no pseudonymized column to go to, so it is not kept.
    row["name"] = "alias"
    if not _id(msg, "previousId"):
        raise _Invalid("previousId is missing")


# Segment type -> (stored kind, filler)
MESSAGE_TYPES: dict[str, tuple[str, Fill]] = {
    "track": ("track", _track),
    "page": ("page_view", _page),
    "screen": ("page_view", _screen),
    "identify": ("identify", _identify),
    "group": ("client_log", _group),
    "alias": ("client_log", _alias),
}


def _context(ctx: dict[str, Any], row: Row) -> None:
    """Columns from the message context (user agent, page, ip, app, traits)."""
    page = _obj(ctx, "page", "context.")
    app = _obj(ctx, "app", "context.")
    values = {
        "user_agent": _str(ctx, "userAgent", "context."),
        "client_ip": _str(ctx, "ip", "context."),
        "page": _str(page, "path", "context.page.") or url_path(_str(page, "url", "context.page.")),
        "referrer": _str(page, "referrer", "context.page."),
        "service": _str(app, "name", "context.app."),
        "release": _str(app, "version", "context.app."),
        "os": _str(_obj(ctx, "os", "context."), "name", "context.os."),
        "segment": segment_of(_obj(ctx, "traits", "context.")),
    }
    if _obj(ctx, "network", "context.").get("wifi") is True:
        values["network_type"] = "wifi"
    for k, v in values.items():
        if v is not None:
            row[k] = v


def _message(msg: object, env: Mapping[str, Any], default_received_us: int | None, call_type: str | None = None) -> Row:
    if not isinstance(msg, dict):
        raise _Invalid(f"message must be an object, got {json_type(msg)}")
    mtype = msg.get("type", call_type)
    spec = MESSAGE_TYPES.get(mtype) if isinstance(mtype, str) else None
    if spec is None:
        raise _Invalid(f"unknown message type {show(mtype)}")
    user_id, anonymous_id = _id(msg, "userId"), _id(msg, "anonymousId")
    if not user_id and not anonymous_id:
        raise _Invalid("message has neither userId nor anonymousId")
    row: Row = {"kind": spec[0]}
    if user_id:
        row["user_id"] = user_id
    if anonymous_id:
        row["anonymous_id"] = row["device_id"] = anonymous_id
    message_id = _id(msg, "messageId")
    if message_id:
        row["event_id"] = natural_id("segment", message_id)
    _times(msg, env, row, default_received_us)
    _context(_obj(msg, "context") or _obj(env, "context"), row)
    attrs: dict[str, str] = {}
    spec[1](msg, row, attrs)
    if attrs:
        row["attributes"] = attrs
    return row


def parse_messages(
    record: bytes, received_at_ms: float | None = None, call_type: str | None = None
) -> Iterator[Row | Rejected]:
    """Rows for one Segment call or batch envelope; Rejected for each unusable message.

    `received_at_ms` is the collector's clock for calls that carry no receivedAt (the HTTP
    endpoint passes its receive time, as Segment's API stamps receivedAt). `call_type` is the
    type of a single call that does not name one (`POST /v1/track` bodies carry no `type`).
    """
    default_received_us = round(received_at_ms * 1000) if received_at_ms is not None else None
    try:
        data = orjson.loads(record)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRecord(f"a Segment call must be a JSON object, got {json_type(data)}")
    if "batch" in data:
        messages = data["batch"]
        if not isinstance(messages, list):
            raise BadRecord(f"batch must be an array, got {json_type(messages)}")
        if not messages:
            raise BadRecord("batch is empty")
        env: Mapping[str, Any] = data
    else:
        messages, env = [data], {}
    for i, msg in enumerate(messages):
        try:
            yield _message(msg, env, default_received_us, None if env else call_type)
        except _Invalid as exc:
            if env:
                kind = msg.get("type") if isinstance(msg, dict) else None
                where = f"message {i}" + (f" ({kind})" if isinstance(kind, str) else "")
                yield Rejected(f"{where}: {exc}", raw=orjson.dumps(msg).decode(), index=i)
            else:
                raise BadRecord(str(exc)) from None


def sniff(sample: bytes, filename: str) -> float:
    """Confident when lines are Segment calls (a type and messageId or anonymousId/userId)."""
    head = sample.lstrip()[:4096]
    if not head.startswith(b"{"):
        return 0.0
    if b'"events"' in head and b'"session"' in head:
        return 0.0  # a Seamline SDK batch
    has_type = any(
        b'"type":"%s"' % t in head.replace(b'": "', b'":"')
        for t in (b"track", b"page", b"screen", b"identify", b"group", b"alias")
    )
    has_ids = b'"messageId"' in head or b'"anonymousId"' in head or b'"userId"' in head
    if has_type and has_ids:
        return 0.9
    return 0.4 if has_ids and b"segment" in filename.encode(errors="ignore") else 0.0


def make_parser(options: Mapping[str, str]) -> Parser:
    """The message parser.

    Options: `received_at_ms` stands in for a missing receivedAt; `type` (track, page, ...) is
    the type of single calls without one, as for the per-type endpoints.
    """
    received_at_ms = received_at_option(options)
    call_type = options.get("type") or None
    if call_type is not None and call_type not in MESSAGE_TYPES:
        raise ValueError(f"option type must be one of {', '.join(MESSAGE_TYPES)}, got {call_type!r}")
    if received_at_ms is None and call_type is None:
        return parse_messages
    return partial(parse_messages, received_at_ms=received_at_ms, call_type=call_type)
