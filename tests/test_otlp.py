"""The OTLP sources: both encodings agree, spans fail alone, browser spans map to client kinds."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamline.schema import EVENT_COLUMNS
from seamline.sources import BadRecord, Rejected, otlp_logs, otlp_traces
from seamline.sources._otlp_common import any_value, decode_id, framing

FIXTURES = Path(__file__).parent / "fixtures"
TRACES = FIXTURES / "otlp_traces" / "services.json"
_COLUMNS = frozenset(EVENT_COLUMNS)


def _make_binpb() -> ModuleType:
    path = FIXTURES / "otlp_traces" / "protobuf" / "make_binpb.py"
    spec = importlib.util.spec_from_file_location("make_binpb", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(module: ModuleType, data: bytes, **options: str) -> list:
    return list(module.make_parser(options)(data))


def test_protobuf_file_and_json_line_give_identical_rows() -> None:
    """The committed .binpb (line 1 of services.json in protobuf) parses to exactly the JSON rows."""
    json_rows = _parse(otlp_traces, TRACES.read_bytes().splitlines()[0])
    proto_rows = _parse(otlp_traces, (FIXTURES / "otlp_traces" / "protobuf" / "request.binpb").read_bytes())
    assert len(json_rows) == 3 and proto_rows == json_rows


def test_every_json_line_round_trips_through_protobuf() -> None:
    """Traces and logs fixtures re-encoded as protobuf (and forced as such) give the same rows."""
    to_protobuf = _make_binpb().to_protobuf
    cases = [
        (otlp_traces, FIXTURES / "otlp_traces" / "webjs.json", 0),
        (otlp_traces, TRACES, 0),
        (otlp_logs, FIXTURES / "otlp_logs" / "logs.json", 0),
        (otlp_logs, FIXTURES / "otlp_logs" / "logs.json", 1),
    ]
    for module, path, line_no in cases:
        line = path.read_bytes().splitlines()[line_no]
        body = to_protobuf(orjson.loads(line))
        assert _strip_invalid(_parse(module, body, encoding="protobuf")) == _strip_invalid(_parse(module, line))


def _strip_invalid(items: list) -> list:
    # An invalid id's reason quotes it as written: hex text in JSON, base64 of raw bytes in protobuf.
    for item in items:
        if not isinstance(item, Rejected):
            for key in [k for k in item.get("attributes", {}) if k.startswith("otlp.invalid_")]:
                del item["attributes"][key]
    return items


def test_collector_file_exporter_stream_is_read_message_by_message() -> None:
    """A stream of length-prefixed messages yields every span, with indexes running on."""
    body = (FIXTURES / "otlp_traces" / "protobuf" / "request.binpb").read_bytes()
    stream = (len(body).to_bytes(4, "big") + body) * 2
    rows = _parse(otlp_traces, stream)
    assert len(rows) == 6 and rows[:3] == rows[3:]
    with pytest.raises(BadRecord, match="ends inside"):
        _parse(otlp_traces, stream[:-5])


def test_an_invalid_span_is_rejected_alone() -> None:
    """Spans with bad ids or no start time are Rejected with their index; the others are rows."""
    items = _parse(otlp_traces, TRACES.read_bytes().splitlines()[1])
    rejected = [(i.index, i.reason) for i in items if isinstance(i, Rejected)]
    assert [index for index, _ in rejected] == [1, 2, 3, 4]
    assert "16 hex digits" in rejected[0][1] and "all zeros" in rejected[1][1]
    names = [row["name"] for row in items if not isinstance(row, Rejected)]
    assert names == ["POST /v1/charge", "ended before it started"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{nope", "invalid JSON"),
        (b'{"foo": 1}', "no resourceSpans"),
        (b"\x0a\x05garbage", "protobuf"),
        (b"[]", "neither OTLP/JSON"),
        (b'{"resourceSpans": 3}', "not a list"),
    ],
)
def test_unusable_requests_are_bad_records(data: bytes, reason: str) -> None:
    """Invalid JSON, neither signal and undecodable protobuf are rejected whole, with a reason."""
    with pytest.raises(BadRecord, match=reason):
        _parse(otlp_traces, data)


def test_encoding_option_is_enforced() -> None:
    """A forced encoding does not guess: JSON text under `protobuf` is a bad record, and vice versa."""
    line = TRACES.read_bytes().splitlines()[0]
    with pytest.raises(BadRecord, match="protobuf"):
        _parse(otlp_traces, line, encoding="protobuf")
    with pytest.raises(BadRecord, match="invalid JSON"):
        _parse(otlp_traces, b"\x0a\x00", encoding="json")
    with pytest.raises(ValueError, match="unknown encoding"):
        otlp_traces.make_parser({"encoding": "xml"})


def test_framing_follows_encoding_option_and_file_name() -> None:
    """Protobuf files are framed whole, OTLP/JSON by line."""
    assert framing({}, "traces-001.json") == "lines"
    assert framing({}, "traces.binpb") == "whole" and framing({}, "x.pb.gz") == "whole"
    assert framing({"encoding": "protobuf"}, "export.dat") == "whole"
    assert framing({"encoding": "json"}, "odd.pb") == "lines"


def test_ids_accept_hex_and_base64_and_refuse_the_rest() -> None:
    """Hex (JSON) and base64 (protobuf bytes) ids decode alike; wrong lengths and zeros are refused."""
    raw = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert decode_id("4BF92F3577B34DA6A3CE929D0E0E4736", 16) == (raw.hex(), None)
    assert decode_id(base64.b64encode(raw).decode(), 16) == (raw.hex(), None)
    assert decode_id("", 8) == (None, None)
    for bad in ("0" * 16, "xyz", "00f067aa0ba9", "zzzzzzzzzzzzzzzz", 42):
        assert decode_id(bad, 8)[1]


def test_any_value_variants() -> None:
    """Every AnyValue variant decodes: ints from strings, doubles from text, arrays, maps, bytes."""
    assert any_value({"intValue": "42"}) == 42
    assert any_value({"doubleValue": "NaN"}) != any_value({"doubleValue": "NaN"})  # NaN
    assert any_value({"boolValue": True}) is True
    assert any_value({"bytesValue": "3q2+7w=="}) == "3q2+7w=="
    assert any_value({"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 1}]}}) == ["a", 1]
    kv = {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}
    assert any_value(kv) == {"k": "v"}
    assert any_value({}) is None and any_value("junk") is None


def test_browser_spans_become_client_kinds() -> None:
    """webjs spans: documentLoad -> page_view, fetch/XHR -> client_request, clicks -> client_action."""
    rows = _parse(otlp_traces, (FIXTURES / "otlp_traces" / "webjs.json").read_bytes())
    kinds = {row["name"]: row["kind"] for row in rows}
    assert kinds == {
        "documentLoad": "page_view",
        "documentFetch": "client_request",
        "resourceFetch": "resource",
        '//*[@id="checkout"]': "client_action",
        "HTTP POST": "client_request",
        "HTTP GET": "client_request",
        "render cart": "span",
    }
    page = rows[0]
    assert page["session_id"] == "s_8f3k2m" and page["attributes"]["event.loadEventEnd"] == "1240.5"


def test_browser_logs_become_client_logs_and_errors() -> None:
    """webjs log records are client_log, or client_error when they carry exception attributes."""
    items = _parse(otlp_logs, (FIXTURES / "otlp_logs" / "logs.json").read_bytes().splitlines()[1])
    assert [row["kind"] for row in items] == ["client_log", "client_error"]
    assert items[1]["error_type"] == "TypeError" and items[1]["error_fingerprint"]


def test_defaults_fill_service_and_environment() -> None:
    """The service and environment options apply only where the resource says nothing."""
    span = {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": "00f067aa0ba902b7",
        "startTimeUnixNano": "1764410000000000000",
    }
    request = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    (row,) = _parse(otlp_traces, orjson.dumps(request), service="api", environment="dev")
    assert (row["service"], row["environment"], row["kind"]) == ("api", "dev", "span")


def test_sniff_tells_traces_from_logs() -> None:
    """Each OTLP source claims its own signal and not the other's."""
    traces = TRACES.read_bytes()[:2000]
    logs = (FIXTURES / "otlp_logs" / "logs.json").read_bytes()[:2000]
    assert otlp_traces.sniff(traces, "t.json") > 0.9 and otlp_logs.sniff(traces, "t.json") == 0
    assert otlp_logs.sniff(logs, "l.json") > 0.9 and otlp_traces.sniff(logs, "l.json") == 0
    assert otlp_traces.sniff(b"\x0a\x01", "traces.binpb") >= 0.5


def _check(items: object) -> None:
    for item in items:  # type: ignore[attr-defined]
        if isinstance(item, Rejected):
            assert isinstance(item.reason, str) and item.reason
            continue
        assert set(item) <= _COLUMNS and isinstance(item["ts"], int)
        assert all(isinstance(v, str) for v in item.get("attributes", {}).values())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Any bytes give rows, Rejected or BadRecord from both parsers, as JSON or as protobuf."""
    for module in (otlp_traces, otlp_logs):
        for encoding in ("auto", "protobuf"):
            with contextlib.suppress(BadRecord):
                _check(_parse(module, data, encoding=encoding))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
_SPAN_KEYS = st.sampled_from(
    [
        "traceId",
        "spanId",
        "parentSpanId",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "kind",
        "status",
        "attributes",
        "events",
        "links",
        "flags",
        "name",
        "timeUnixNano",
        "body",
        "severityNumber",
        "severityText",
    ]
)
_VALID = {
    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
    "spanId": "00f067aa0ba902b7",
    "startTimeUnixNano": "1764410000000000000",
    "timeUnixNano": "1764410000000000000",
}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_SPAN_KEYS, _JSON, max_size=6), _JSON)
def test_arbitrary_span_and_log_shapes_never_crash(fields: dict, resource: object) -> None:
    """Spans and log records with fields of any JSON type give a row, a Rejected or a BadRecord."""
    record = {**_VALID, **fields}
    for module, outer, scopes, inner in (
        (otlp_traces, "resourceSpans", "scopeSpans", "spans"),
        (otlp_logs, "resourceLogs", "scopeLogs", "logRecords"),
    ):
        request = {outer: [{"resource": resource, scopes: [{"scope": resource, inner: [record]}]}]}
        with contextlib.suppress(BadRecord):
            _check(_parse(module, orjson.dumps(request)))


def test_a_file_mixing_spans_and_logs_is_read_whole_by_either_source(tmp_path: Path) -> None:
    """One collector file exporter in both pipelines writes both signals to one file; every line is stored."""
    from seamline.app import App
    from seamline.settings import Settings

    spans = (FIXTURES / "otlp_traces" / "services.json").read_bytes().splitlines()[0]
    logs = (FIXTURES / "otlp_logs" / "logs.json").read_bytes().splitlines()[0]
    mixed = tmp_path / "otel-export.json"
    mixed.write_bytes(logs + b"\n" + spans + b"\n")
    span_rows = [r for r in _parse(otlp_traces, spans) if not isinstance(r, Rejected)]
    log_rows = [r for r in _parse(otlp_logs, logs) if not isinstance(r, Rejected)]
    expected = {"spans": len(span_rows), "logs": len(log_rows)}
    assert expected["spans"] and expected["logs"]
    for source in ("otlp_traces", "otlp_logs"):
        app = App(Settings({"home": tmp_path / source}))
        try:
            result = app.ingestor.ingest_file(mixed, source=source)
            assert result.rows_stored == expected["spans"] + expected["logs"]
            counts = app.store.query("SELECT position, count(*) AS n FROM events GROUP BY 1").to_pylist()
            by_line = {c["position"]: c["n"] for c in counts}
        finally:
            app.close()
        assert by_line == {1: expected["logs"], 2: expected["spans"]}
