"""The client_events source: envelope checks, the clock-offset rule, natural keys, per-event rejection."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamline.app import App
from seamline.schema import rows_to_batch
from seamline.sources import BadRecord, Rejected, get_source
from seamline.sources.client_events import STACK_LIMIT, make_parser, natural_id, parse_batch, sniff

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _batch(events: list[Any], **envelope: Any) -> dict[str, Any]:
    batch: dict[str, Any] = {
        "v": 1,
        "sentAt": 1764410010000.0,
        "session": {"id": "s_1", "anonymousId": "a_1"},
        "events": events,
    }
    batch.update(envelope)
    return batch


def _parse(batch: Any, **kwargs: Any) -> list[Any]:
    return list(parse_batch(orjson.dumps(batch), **kwargs))


def _track(eid: str = "e1", ts: float = 1764410000000.0) -> dict[str, Any]:
    return {"type": "track", "id": eid, "ts": ts, "event": "Clicked"}


def test_offset_applied_when_sent_and_received_are_known() -> None:
    """With sentAt and receivedAt, offset = sentAt - receivedAt and ts = client_ts - offset."""
    (row,) = _parse(_batch([_track(ts=1764410000000.5)], receivedAt=1764410012500.25))
    assert row["clock_offset_ms"] == pytest.approx(-2500.25)
    assert row["client_ts"] == 1764410000000500
    assert row["ts"] == 1764410000000500 + 2500250
    assert row["received_at"] == 1764410012500250


def test_no_offset_without_received_at() -> None:
    """Without receivedAt the device time is used as is and the offset stays null."""
    (row,) = _parse(_batch([_track(ts=1764410000000)]))
    assert row["ts"] == row["client_ts"] == 1764410000000000
    assert "clock_offset_ms" not in row and "received_at" not in row


def test_received_at_option_stands_in_for_a_missing_received_at() -> None:
    """The HTTP endpoint's receive time (parser option) gives the same correction as a receivedAt."""
    parser = make_parser({"received_at_ms": "1764410011000"})
    (row,) = list(parser(orjson.dumps(_batch([_track()]))))
    assert row["clock_offset_ms"] == -1000.0 and row["ts"] == 1764410001000000
    (kept,) = list(parser(orjson.dumps(_batch([_track()], receivedAt=1764410010000.0))))
    assert kept["clock_offset_ms"] == 0.0


def test_client_ts_raw_is_the_number_as_sent() -> None:
    """client_ts_raw keeps the event's ts text: integers without a fraction, fractions exactly."""
    rows = _parse(_batch([_track("a", 1764410000000), _track("b", 1764410001004.2)]))
    assert [r["client_ts_raw"] for r in rows] == ["1764410000000", "1764410001004.2"]


def test_retried_batch_yields_the_same_event_ids() -> None:
    """An SDK retry of a batch (new sentAt/receivedAt) gives equal natural keys; other sessions differ."""
    first = _parse(_batch([_track("e1"), _track("e2")], receivedAt=1764410010040.0))
    retry = _parse(_batch([_track("e1"), _track("e2")], sentAt=1764410015000.0, receivedAt=1764410015040.0))
    other = _parse(_batch([_track("e1")], session={"id": "s_2"}))
    assert [r["event_id"] for r in first] == [r["event_id"] for r in retry]
    assert [r["ts"] for r in first] == [r["ts"] for r in retry]
    assert len({r["event_id"] for r in first}) == 2
    assert first[0]["event_id"] == natural_id("client", "s_1", "e1")
    assert other[0]["event_id"] != first[0]["event_id"]


def test_retried_batch_is_stored_once(app: App, tmp_path: Path) -> None:
    """Through the pipeline, the resent copy of a batch is quarantined as a duplicate, not stored twice."""
    line = orjson.dumps(_batch([_track("e1"), _track("e2")], receivedAt=1764410010040.0))
    path = tmp_path / "events-001.ndjson"
    path.write_bytes(line + b"\n" + line + b"\n")
    result = app.ingestor.ingest_file(path, source="client_events")
    assert result.rows_stored == 2 and result.rows_quarantined == 2
    assert set(result.quarantine_reasons) == {"duplicate record"}


def test_request_traceparent_is_the_client_span() -> None:
    """A request's injected traceparent names the client span itself: span_id, no parent."""
    ev = {
        "type": "request",
        "id": "r",
        "ts": 1764410000000,
        "traceparent": TRACEPARENT,
        "request": {"method": "get", "url": "/api/x", "status": 200, "duration": 12.5},
    }
    (row,) = _parse(_batch([ev]))
    assert row["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert row["span_id"] == "00f067aa0ba902b7" and "parent_span_id" not in row
    assert row["http_method"] == "GET" and row["trace_sampled"] is True


def test_page_view_traceparent_is_the_parent() -> None:
    """A page view's traceparent is the server's document span, so it becomes parent_span_id."""
    ev = {
        "type": "page_view",
        "id": "p",
        "ts": 1764410000000,
        "traceparent": TRACEPARENT,
        "page": {"url": "https://shop.example/product/9?x=1"},
        "nav": {"load": 900.5, "dns": 3},
    }
    (row,) = _parse(_batch([ev]))
    assert row["parent_span_id"] == "00f067aa0ba902b7" and "span_id" not in row
    assert row["page"] == "/product/9" and row["duration_ms"] == 900.5
    assert row["attributes"] == {"nav.load": "900.5", "nav.dns": "3"}


def test_bad_event_is_rejected_alone() -> None:
    """Events with an unknown type, no ts or a wrong field type are rejected with their index and JSON."""
    bad = [
        {"type": "swipe", "id": "x", "ts": 1},
        {"type": "track", "id": "y", "event": "E"},
        {"type": "request", "id": "z", "ts": 1764410000000, "request": {"status": "200"}},
    ]
    items = _parse(_batch([_track("ok1"), *bad, _track("ok2")]))
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [r.index for r in rejected] == [1, 2, 3]
    assert "unknown event type" in rejected[0].reason and "ts is missing" in rejected[1].reason
    assert "request.status must be a number" in rejected[2].reason
    assert orjson.loads(rejected[2].raw) == bad[2]
    assert len([i for i in items if isinstance(i, dict)]) == 2


@pytest.mark.parametrize(
    ("batch", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "must be a JSON object"),
        ({"sentAt": 1, "session": {"id": "s"}, "events": [1]}, "v (wire format version) is missing"),
        ({"v": 2, "sentAt": 1, "session": {"id": "s"}, "events": [1]}, "unsupported wire format version"),
        ({"v": 1, "session": {"id": "s"}, "events": [1]}, "sentAt is missing"),
        ({"v": 1, "sentAt": 1, "session": {}, "events": [1]}, "session.id is missing"),
        ({"v": 1, "sentAt": 1, "session": {"id": "s"}}, "events is missing"),
        ({"v": 1, "sentAt": 1, "session": {"id": "s"}, "events": "x"}, "events must be an array"),
    ],
)
def test_bad_batch_is_rejected_whole(batch: Any, reason: str) -> None:
    """A batch that is not JSON or lacks an envelope field raises BadRecord naming the problem."""
    data = batch if isinstance(batch, bytes) else orjson.dumps(batch)
    with pytest.raises(BadRecord, match=re.escape(reason)):
        list(parse_batch(data))


def test_flags_merge_and_identify_drops_pii() -> None:
    """Event flags override batch flags; identify keeps plan/segment but drops email, name, phone."""
    ident = {
        "type": "identify",
        "id": "i",
        "ts": 1764410000000,
        "userId": "u_9",
        "flags": {"b": True},
        "traits": {"email": "a@b.co", "lastName": "Doe", "phone_number": "1", "plan": "pro", "seats": 3},
    }
    (row,) = _parse(_batch([ident], context={"flags": {"a": "on", "b": "off"}}))
    assert row["feature_flags"] == {"a": "on", "b": "true"}
    assert row["attributes"] == {"trait.plan": "pro", "trait.seats": "3"}
    assert row["user_id"] == "u_9" and row["segment"] == "pro"


def test_error_stack_is_truncated_and_fingerprinted() -> None:
    """An error keeps at most 4 KB of its stack and gets a fingerprint from the full stack."""
    stack = "Error: boom\n" + "\n".join(f"    at f{i} (https://x/app.js:1:{i})" for i in range(400))
    error = {"type": "Error", "message": "boom", "stack": stack}
    ev = {"type": "error", "id": "e", "ts": 1764410000000, "error": error}
    (row,) = _parse(_batch([ev]))
    assert len(row["attributes"]["stack"].encode()) <= STACK_LIMIT
    assert row["error_fingerprint"] and row["error_type"] == "Error"


def test_fixture_rows_fit_the_schema() -> None:
    """Every row the golden fixtures produce builds into an Arrow batch of the unified schema."""
    rows = []
    for path in sorted((Path(__file__).parent / "fixtures" / "client_events").glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(BadRecord):
                rows += [r for r in parse_batch(line) if isinstance(r, dict)]
    assert rows_to_batch(rows).num_rows == len(rows) > 10


def test_sniff_and_registry() -> None:
    """The registry finds the module, and sniff recognises a batch but not a Segment call."""
    assert get_source("client_events").NAME == "client_events"
    assert sniff(orjson.dumps(_batch([_track()])), "events-001.ndjson") >= 0.9
    assert sniff(b'{"type":"track","messageId":"m","userId":"u","event":"E"}', "x.ndjson") == 0.0


_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_EVENT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["page_view", "action", "request", "resource", "error", "vital", "visibility", "track", "identify", "bogus"]
        ),
        "id": st.one_of(st.text(min_size=1, max_size=4), _JSON),
        "ts": st.one_of(st.floats(min_value=1.7e12, max_value=1.8e12), _JSON),
    },
    optional={
        k: _JSON
        for k in (
            "page",
            "nav",
            "action",
            "request",
            "resource",
            "error",
            "vital",
            "state",
            "event",
            "properties",
            "traits",
            "userId",
            "flags",
            "traceparent",
            "actionId",
            "visibility",
        )
    },
)
_ENVELOPE = st.fixed_dictionaries(
    {
        "v": st.one_of(st.just(1), _JSON),
        "sentAt": st.one_of(st.floats(1.7e12, 1.8e12), _JSON),
        "session": st.one_of(
            st.fixed_dictionaries(
                {"id": st.text(min_size=1, max_size=4)}, optional={"anonymousId": _JSON, "userId": _JSON}
            ),
            _JSON,
        ),
        "events": st.one_of(st.lists(st.one_of(_EVENT, _JSON), min_size=1, max_size=4), _JSON),
    },
    optional={"receivedAt": st.one_of(st.floats(1.7e12, 1.8e12), _JSON), "context": _JSON},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_JSON, _ENVELOPE))
def test_arbitrary_json_never_crashes(value: Any) -> None:
    """Any JSON value yields rows that fit the schema, Rejected items, or BadRecord — never another error."""
    try:
        items = list(parse_batch(orjson.dumps(value)))
    except BadRecord:
        return
    rows = [i for i in items if isinstance(i, dict)]
    assert all(isinstance(i, Rejected) and i.index is not None for i in items if not isinstance(i, dict))
    if rows:
        assert rows_to_batch(rows).num_rows == len(rows)
