"""The segment source: Segment's timestamp correction, natural keys, envelope and per-type mapping."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamline.schema import rows_to_batch
from seamline.sources import BadRecord, Rejected
from seamline.sources._time import iso_to_us
from seamline.sources.segment import make_parser, parse_messages, sniff


def _parse(value: Any) -> list[Any]:
    return list(parse_messages(orjson.dumps(value)))


def _us(text: str) -> int:
    return iso_to_us(text)


def _track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "messageId": "m1", "anonymousId": "a1", "event": "Signed Up", **fields}


def test_untrusted_device_clock_is_corrected() -> None:
    """timestamp = receivedAt - (sentAt - device time); the device time stays raw in client_ts_raw."""
    (row,) = _parse(
        _track(timestamp="2025-11-29T10:00:00.000Z", sentAt="2025-11-29T10:00:02Z", receivedAt="2025-11-29T09:00:05Z")
    )
    assert row["ts"] == _us("2025-11-29T09:00:03Z")
    assert row["client_ts"] == _us("2025-11-29T10:00:00Z")
    assert row["client_ts_raw"] == "2025-11-29T10:00:00.000Z"
    assert row["clock_offset_ms"] == 3_597_000.0


def test_export_shape_keeps_its_corrected_timestamp() -> None:
    """With originalTimestamp, timestamp and no sentAt/receivedAt, timestamp is the event time."""
    (row,) = _parse(_track(originalTimestamp="2025-11-29T10:00:00+02:00", timestamp="2025-11-29T08:00:04Z"))
    assert row["ts"] == _us("2025-11-29T08:00:04Z")
    assert row["client_ts_raw"] == "2025-11-29T10:00:00+02:00" and "clock_offset_ms" not in row


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timestamp": "2025-11-29T10:00:00Z"}, "2025-11-29T10:00:00Z"),
        ({"originalTimestamp": "2025-11-29T10:00:00Z", "sentAt": "2025-11-29T10:00:01Z"}, "2025-11-29T10:00:00Z"),
        ({"receivedAt": "2025-11-29T10:00:07Z"}, "2025-11-29T10:00:07Z"),
    ],
)
def test_event_time_without_full_correction(fields: dict[str, str], expected: str) -> None:
    """Without sentAt and receivedAt both known, the device time (or the receive time) is used as is."""
    (row,) = _parse(_track(**fields))
    assert row["ts"] == _us(expected)


def test_received_at_option_enables_the_correction() -> None:
    """The HTTP endpoint's receive time (parser option) acts as receivedAt."""
    parser = make_parser({"received_at_ms": str(_us("2025-11-29T10:00:10Z") / 1000)})
    data = orjson.dumps(_track(timestamp="2025-11-29T10:00:00Z", sentAt="2025-11-29T10:00:05Z"))
    (row,) = list(parser(data))
    assert row["ts"] == _us("2025-11-29T10:00:05Z") and row["clock_offset_ms"] == -5000.0


def test_type_option_names_single_calls_without_a_type() -> None:
    """A body posted to a per-type endpoint (/v1/page) needs no type field; a batch still does."""
    parser = make_parser({"type": "page"})
    (row,) = list(parser(orjson.dumps({"anonymousId": "a", "name": "Home", "timestamp": "2025-11-29T10:00:00Z"})))
    assert row["kind"] == "page_view" and row["name"] == "Home"
    (bad,) = list(parser(orjson.dumps({"batch": [{"anonymousId": "a"}]})))
    assert isinstance(bad, Rejected) and "unknown message type" in bad.reason
    with pytest.raises(ValueError, match="option type"):
        make_parser({"type": "pageview"})


def test_message_id_is_the_natural_key() -> None:
    """The same messageId resent in another batch yields the same event_id; another id differs."""
    first = _parse({"batch": [_track(timestamp="2025-11-29T10:00:00Z")], "sentAt": "2025-11-29T10:00:01Z"})
    retry = _parse({"batch": [_track(timestamp="2025-11-29T10:00:00Z")], "sentAt": "2025-11-29T10:00:09Z"})
    other = _parse(_track(messageId="m2", timestamp="2025-11-29T10:00:00Z"))
    assert first[0]["event_id"] == retry[0]["event_id"] != other[0]["event_id"]


def test_envelope_rejects_bad_messages_alone() -> None:
    """A bad message in a batch is rejected with its index; the others are kept."""
    items = _parse(
        {
            "batch": [
                _track(timestamp="2025-11-29T10:00:00Z"),
                {"type": "track", "userId": "u"},
                {"type": "fly", "userId": "u"},
                5,
            ],
            "sentAt": "2025-11-29T10:00:01Z",
        }
    )
    assert isinstance(items[0], dict)
    assert [(i.index, i.reason.split(":")[0]) for i in items[1:]] == [
        (1, "message 1 (track)"),
        (2, "message 2 (fly)"),
        (3, "message 3"),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"nope", "not JSON"),
        ([1], "must be a JSON object"),
        ({"batch": {}}, "batch must be an array"),
        ({"batch": []}, "batch is empty"),
        ({"type": "track", "event": "E"}, "neither userId nor anonymousId"),
        ({"type": "x", "userId": "u"}, "unknown message type"),
    ],
)
def test_unusable_call_is_a_bad_record(value: Any, reason: str) -> None:
    """A single call that cannot be stored raises BadRecord with the reason."""
    with pytest.raises(BadRecord, match=reason):
        list(parse_messages(value if isinstance(value, bytes) else orjson.dumps(value)))


def test_each_type_maps_to_its_kind() -> None:
    """track, page, screen, identify, group and alias land on their kinds with their names."""
    t = {"timestamp": "2025-11-29T10:00:00Z", "userId": "u1"}
    calls = [
        {"type": "track", "event": "Paid", "properties": {"amount": 5}},
        {"type": "page", "name": "Home", "properties": {"url": "https://x.example/p/1?token=s", "referrer": "r"}},
        {"type": "screen", "name": "Cart"},
        {"type": "identify", "traits": {"email": "e@x.io", "plan": "pro"}},
        {"type": "group", "groupId": "g1", "traits": {"industry": "retail"}},
        {"type": "alias", "previousId": "anon-1"},
    ]
    rows = [_parse({**c, **t})[0] for c in calls]
    assert [r["kind"] for r in rows] == ["track", "page_view", "page_view", "identify", "client_log", "client_log"]
    assert [r.get("name") for r in rows] == ["Paid", "Home", "Cart", None, "group", "alias"]
    assert rows[0]["attributes"] == {"prop.amount": "5"}
    assert rows[1]["page"] == "/p/1" and "attributes" not in rows[1]  # the url (and its token) is not copied
    assert rows[2]["attributes"] == {"screen": "true"}
    assert rows[3]["attributes"] == {"trait.plan": "pro"} and rows[3]["segment"] == "pro"
    assert rows[4]["attributes"] == {"group_id": "g1", "trait.industry": "retail"}
    assert "anon-1" not in orjson.dumps(rows[5]).decode()
    assert rows_to_batch(rows).num_rows == 6


def test_context_fields() -> None:
    """context.userAgent, page, ip and traits fill user_agent, page, referrer, client_ip and segment."""
    ctx = {
        "userAgent": "UA/1",
        "ip": "198.51.100.7",
        "traits": {"segment": "smb"},
        "page": {"url": "https://x.example/a/b?c=d", "referrer": "https://ref.example/"},
    }
    (row,) = _parse(_track(context=ctx, timestamp="2025-11-29T10:00:00Z", userId="u"))
    assert (row["user_agent"], row["client_ip"], row["segment"]) == ("UA/1", "198.51.100.7", "smb")
    assert row["page"] == "/a/b" and row["referrer"] == "https://ref.example/"
    assert row["user_id"] == "u" and row["anonymous_id"] == row["device_id"] == "a1"


def test_sniff() -> None:
    """Segment calls are recognised; client SDK batches are not."""
    assert sniff(orjson.dumps(_track()), "events.ndjson") >= 0.9
    assert sniff(b'{"batch": [{"type": "page", "messageId": "m"}]}', "s.json") >= 0.9
    assert sniff(b'{"v":1,"sentAt":1,"session":{"id":"s"},"events":[]}', "client.ndjson") == 0.0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=15,
)
_MESSAGE = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "screen", "identify", "group", "alias", "x"])},
    optional={
        k: st.one_of(st.text(max_size=6), _JSON)
        for k in (
            "userId",
            "anonymousId",
            "messageId",
            "event",
            "name",
            "groupId",
            "previousId",
            "properties",
            "traits",
            "context",
            "timestamp",
            "originalTimestamp",
            "sentAt",
            "receivedAt",
        )
    },
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_JSON, _MESSAGE, st.fixed_dictionaries({"batch": st.lists(st.one_of(_MESSAGE, _JSON), max_size=3)})))
def test_arbitrary_json_never_crashes(value: Any) -> None:
    """Any JSON value yields rows that fit the schema, Rejected items, or BadRecord — never another error."""
    try:
        items = list(parse_messages(orjson.dumps(value)))
    except BadRecord:
        return
    rows = [i for i in items if not isinstance(i, Rejected)]
    if rows:
        assert rows_to_batch(rows).num_rows == len(rows)
