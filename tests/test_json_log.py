"""The json_log source: preset detection, timestamps, field paths, stack fingerprints, robustness."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamline.app import App
from seamline.schema import EVENT_COLUMNS
from seamline.settings import Settings
from seamline.sources import BadRecord, Rejected, json_log
from seamline.sources._stack import exception_head, fingerprint, frames

FIXTURES = Path(__file__).parent / "fixtures" / "json_log"
_COLUMNS = frozenset(EVENT_COLUMNS)


def _one(line: dict | bytes, **options: str) -> dict:
    data = line if isinstance(line, bytes) else orjson.dumps(line)
    (row,) = json_log.make_parser(options)(data)
    assert not isinstance(row, Rejected)
    return row


@pytest.mark.parametrize(
    ("fixture", "preset"),
    [
        ("structlog", "structlog"),
        ("pino", "pino"),
        ("ecs", "ecs"),
        ("otel", "otel"),
        ("logrus", "logrus"),
        ("zap", "zap"),
        ("python", "python"),
    ],
)
def test_detects_the_preset_of_each_sample(fixture: str, preset: str) -> None:
    """The first lines of each sample file pick that file's preset, alone and as a file."""
    lines = (FIXTURES / f"{fixture}.ndjson").read_bytes().splitlines()
    first = orjson.loads(lines[0])
    assert json_log.detect_preset([first]) == preset
    parser = json_log.make_parser({})
    for line in lines[:3]:
        with contextlib.suppress(BadRecord):
            list(parser(line))
    assert parser.preset == preset  # type: ignore[attr-defined]


def test_preset_option_overrides_detection() -> None:
    """A named preset is used as given: `generic` does not read structlog's `event` as message."""
    line = {"timestamp": "2026-01-01T00:00:00Z", "event": "hello", "level": "info"}
    assert _one(line)["message"] == "hello"
    row = _one(line, preset="generic")
    assert "message" not in row and row["attributes"]["event"] == "hello"
    with pytest.raises(ValueError, match="unknown json_log preset"):
        json_log.make_parser({"preset": "syslog"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1764410000, 1764410000_000000),
        (1764410000.25, 1764410000_250000),
        (1764410000123, 1764410000_123000),
        (1764410000123456, 1764410000_123456),
        (1764410000123456789, 1764410000_123456),
        ("1764410000123456789", 1764410000_123456),
        ("1764410000.5", 1764410000_500000),
        ("2025-11-29T09:53:20Z", 1764410000_000000),
        ("2025-11-29T09:53:20.123456789Z", 1764410000_123456),
        ("2025-11-29T15:23:20.5+05:30", 1764410000_500000),
        ("2025-11-29T01:53:20-0800", 1764410000_000000),
        ("2025-11-29 09:53:20,250", 1764410000_250000),
        ("2025-11-29T09:53:20", 1764410000_000000),
        ("29/Nov/2025:10:53:20 +0100", 1764410000_000000),
    ],
)
def test_timestamp_variants(value: object, expected: int) -> None:
    """Epoch s/ms/µs/ns (numbers or text) and ISO 8601 with any offset all land on the same µs."""
    assert _one({"time": value, "msg": "x"})["ts"] == expected


@pytest.mark.parametrize("bad", [0, -5, True, "", "soon", [1], {"a": 1}, 1e300])
def test_unusable_timestamps_are_bad_records(bad: object) -> None:
    """A record whose only timestamp cannot be read is rejected with the field named."""
    with pytest.raises(BadRecord, match="timestamp"):
        list(json_log.make_parser({})(orjson.dumps({"time": bad, "msg": "x"})))


def test_nested_flattened_and_mixed_paths_map_alike() -> None:
    """`http.request.method` works as nested objects, as one dotted key, and as a mix."""
    ts = {"@timestamp": "2026-01-01T00:00:00Z", "message": "m", "ecs.version": "8"}
    nested = _one({**ts, "http": {"request": {"method": "GET"}, "response": {"status_code": 204}}})
    flat = _one({**ts, "http.request.method": "GET", "http.response.status_code": 204})
    mixed = _one({**ts, "http": {"request.method": "GET"}, "http.response": {"status_code": 204}})
    for row in (nested, flat, mixed):
        assert (row["http_method"], row["http_status"], row["kind"]) == ("GET", 204, "server_request")
        assert "attributes" not in row or not any(k.startswith("http") for k in row["attributes"])


def test_unmapped_fields_become_text_attributes() -> None:
    """Scalars become text, objects the preset does not read become compact JSON, nulls vanish."""
    row = _one(
        {
            "time": 1764410000,
            "msg": "x",
            "n": 3,
            "ok": False,
            "ratio": 0.5,
            "tags": ["a", "b"],
            "ctx": {"k": {"z": 1}},
            "none": None,
            "Authorization": "t",
        }
    )
    assert row["attributes"] == {
        "n": "3",
        "ok": "false",
        "ratio": "0.5",
        "tags": '["a","b"]',
        "ctx": '{"k":{"z":1}}',
        "Authorization": "[redacted]",
    }


def test_access_records_are_server_requests_and_others_server_logs() -> None:
    """Method plus status makes an access record; either alone keeps it a log line."""
    base = {"time": 1764410000, "msg": "x"}
    assert _one({**base, "method": "GET", "status": 200})["kind"] == "server_request"
    assert _one({**base, "method": "GET"})["kind"] == "server_log"
    assert _one({**base, "status": "ok", "method": "Orders.Create"})["kind"] == "server_log"


def test_service_comes_from_record_then_option_then_file_stem() -> None:
    """The record's service wins; the `service` option and then the file stem fill gaps."""
    line = {"time": 1764410000, "msg": "x"}
    assert _one({**line, "service": "a"}, service="b", path="/x/c.ndjson")["service"] == "a"
    assert _one(line, service="b", path="/x/c.ndjson")["service"] == "b"
    assert _one(line, path="/var/log/services/cart.ndjson.gz")["service"] == "cart"
    assert _one(line, environment="staging")["environment"] == "staging"


def test_levels_are_normalised_per_preset() -> None:
    """Names, pino numbers, Python levelno and OTel severity numbers all map onto six levels."""
    assert _one({"time": 1, "level": "WARNING", "msg": "x", "ts": 1764410000})["level"] == "warn"
    assert _one({"time": 1764410000000, "level": 50, "pid": 1, "hostname": "h", "msg": "x"})["level"] == "error"
    assert (
        _one({"created": 1764410000.0, "levelno": 40, "levelname": "?", "name": "n", "message": "x"})["level"]
        == "error"
    )
    assert _one({"Timestamp": "1764410000000000000", "SeverityNumber": 21, "Body": "x"})["level"] == "fatal"


def test_ids_are_validated_and_traceparent_fills_gaps() -> None:
    """Ids must be hex of the right length; a traceparent header supplies trace and parent ids."""
    row = _one(
        {
            "time": 1764410000,
            "msg": "x",
            "trace_id": "xyz",
            "span_id": "0" * 16,
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        }
    )
    assert row["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert row["parent_span_id"] == "b7ad6b7169203331" and row["trace_sampled"] is False
    assert "span_id" not in row and row["attributes"]["trace_id"] == "xyz"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{nope", "invalid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b'{"msg": "no time"}', "no timestamp field"),
        (b"\xff\xfe", "invalid JSON"),
    ],
)
def test_unusable_records_are_bad_records(data: bytes, reason: str) -> None:
    """Invalid JSON, non-objects and records without a timestamp raise BadRecord with a reason."""
    with pytest.raises(BadRecord, match=reason):
        list(json_log.make_parser({})(data))


_PY_STACK = """Traceback (most recent call last):
  File "/app/shop/orders.py", line {a}, in store
    db.insert(order)
  File "/app/shop/db.py", line {b}, in {fn}
    raise IntegrityError(key)
shop.db.IntegrityError: duplicate key {key}"""
_JS_STACK = """TypeError: x is undefined
    at addItem (https://{host}/static/app.{hash}.js:{a}:17)
    at {fn} (https://{host}/static/vendor.js:1:{b})"""


def test_stack_fingerprint_survives_line_numbers_ids_and_builds() -> None:
    """Line/column numbers, ids, bundle hashes and origins do not change the fingerprint."""
    one = _PY_STACK.format(a=91, b=12, fn="insert", key="0x7f3a9c")
    two = _PY_STACK.format(a=97, b=40, fn="insert", key="0x11aa22")
    assert fingerprint(one, "shop.db.IntegrityError") == fingerprint(two, "shop.db.IntegrityError")
    js1 = _JS_STACK.format(host="shop.example", hash="3f9a2b", a=42, fn="onClick", b=2000)
    js2 = _JS_STACK.format(host="staging.shop.example", hash="77c0d1", a=45, fn="onClick", b=2417)
    assert fingerprint(js1, "TypeError") == fingerprint(js2, "TypeError")


def test_stack_fingerprint_differs_for_different_frames_or_types() -> None:
    """Another function on the stack, or another exception type, is another group."""
    base = _PY_STACK.format(a=91, b=12, fn="insert", key="k")
    other = _PY_STACK.format(a=91, b=12, fn="upsert", key="k")
    assert fingerprint(base, "E") != fingerprint(other, "E")
    assert fingerprint(base, "E") != fingerprint(base, "F")
    js1 = _JS_STACK.format(host="h", hash="3f9a2b", a=1, fn="onClick", b=1)
    js2 = _JS_STACK.format(host="h", hash="3f9a2b", a=1, fn="onSubmit", b=1)
    assert fingerprint(js1) != fingerprint(js2)
    assert fingerprint(None) is None and fingerprint(None, "E") is not None


def test_stack_frames_and_head_across_languages() -> None:
    """Frames are found in Python, V8, Firefox, Java and Go stacks; the head gives type and message."""
    go = "main.charge(0xc000012)\n\t/app/pay.go:57 +0x1d\nmain.handle()\n\t/app/http.go:140"
    assert frames(go) == ["main.charge(<addr>)", "/app/pay.go +<addr>", "main.handle()", "/app/http.go"]
    assert frames("fn@https://x.example/app.js:3:4") == ["fn@/app.js"]
    java = "java.lang.IllegalStateException: no price\n\tat co.Price.lookup(Price.java:57)"
    assert frames(java) == ["at co.Price.lookup(Price.java)"]
    assert exception_head(java) == ("java.lang.IllegalStateException", "no price")
    assert exception_head(_PY_STACK.format(a=1, b=2, fn="f", key="k")) == ("shop.db.IntegrityError", "duplicate key k")
    assert exception_head(go) == (None, None)


def test_sniff_prefers_log_lines_and_leaves_other_formats_alone() -> None:
    """Log lines score high; OTLP exports and client batches score low."""
    sample = (FIXTURES / "structlog.ndjson").read_bytes()
    assert json_log.sniff(sample, "checkout.ndjson") >= 0.5
    assert json_log.sniff(b'{"resourceSpans": []}\n', "x.json") < 0.2
    assert json_log.sniff(b'{"v":1,"sentAt":1,"events":[]}\n', "events-001.ndjson") < 0.2
    assert json_log.sniff(b'127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2\n', "a.log") == 0.0


def _check_items(items: object) -> None:
    for item in items:  # type: ignore[attr-defined]
        if isinstance(item, Rejected):
            continue
        assert set(item) <= _COLUMNS and isinstance(item["ts"], int)
        assert all(isinstance(v, str) for v in item.get("attributes", {}).values())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Any bytes give rows, Rejected items or BadRecord; never another exception."""
    with contextlib.suppress(BadRecord):
        _check_items(json_log.make_parser({})(data))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "time",
        "ts",
        "timestamp",
        "level",
        "msg",
        "event",
        "http",
        "req",
        "res",
        "err",
        "error",
        "stack",
        "trace_id",
        "status",
        "method",
        "duration",
        "Resource",
        "Attributes",
        "log.level",
        "@timestamp",
        "created",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEYS | st.text(max_size=8), _JSON, max_size=8))
def test_arbitrary_json_objects_never_crash(record: dict) -> None:
    """Log-shaped objects with values of any type give a valid row or a BadRecord."""
    with contextlib.suppress(BadRecord):
        _check_items(json_log.make_parser({})(orjson.dumps(record)))


@pytest.fixture
def lenient_app(home: Path) -> Iterator[App]:
    """An app that accepts the fixtures' old timestamps, so every row reaches the batch builder."""
    application = App(Settings({"home": home, "max_past_days": 100_000}))
    yield application
    application.close()


def test_pipeline_stores_every_line_or_quarantines_it(lenient_app: App, tmp_path: Path) -> None:
    """Through the whole pipeline, rows of every preset build into the store without type errors."""
    app = lenient_app
    now_ms = int(time.time() * 1000)
    lines = []
    for name in ("structlog", "pino", "ecs", "otel", "logrus", "zap", "python"):
        for line in (FIXTURES / f"{name}.ndjson").read_bytes().splitlines():
            lines.append(line)
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = app.ingestor.ingest_file(path, source="json_log")
    assert result.records_read == result.rows_stored + result.rows_quarantined
    allowed = ("invalid JSON", "no timestamp", "unreadable timestamp", "not a JSON object")
    assert all(key.startswith(allowed) for key in result.quarantine_reasons), result.quarantine_reasons
    assert (result.rows_stored, result.rows_quarantined) == (27, 8)
    fresh = tmp_path / "fresh.ndjson"
    fresh.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "level": 30,
                    "time": now_ms + i,
                    "pid": 1,
                    "hostname": "h",
                    "msg": "ok",
                    "req": {"method": "GET", "url": "/x"},
                    "res": {"statusCode": 200},
                    "responseTime": i,
                }
            )
            + b"\n"
            for i in range(50)
        )
    )
    result = app.ingestor.ingest_file(fresh, source="json_log")
    assert (result.rows_stored, result.rows_quarantined) == (50, 0)


def test_better_spelling_wins_and_the_other_stays_visible() -> None:
    """With two spellings of a column, the preset's own wins wherever it sits; the other is kept."""
    nested = _one({"request_id": "b", "level": 30, "time": 1764410000000, "pid": 1, "req": {"id": "a"}})
    assert nested["request_id"] == "a" and nested["attributes"]["request_id"] == "b"
    flat = _one({"time": 1764410000, "timestamp": "2025-11-29T09:53:21Z", "event": "e", "level": "info"})
    assert flat["ts"] == 1764410001_000000 and flat["attributes"]["time"] == "1764410000"
