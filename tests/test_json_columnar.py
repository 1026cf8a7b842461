"""The columnar json_log path yields exactly the rows the per-line parser yields, line for line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamline.schema import rows_to_batch
from seamline.sources import json_log

FIXTURES = Path(__file__).parent / "fixtures" / "json_log"
Outcome = list[dict[str, Any]] | str  # the rows of a line, or the reason it was rejected


def _line_outcome(parser: Any, line: bytes) -> Outcome:
    try:
        return rows_to_batch(list(parser(line))).to_pylist()
    except Exception as exc:  # the pipeline quarantines these with this reason
        return f"{type(exc).__name__}: {exc}"


def per_line(lines: Sequence[bytes], options: Mapping[str, str]) -> list[Outcome]:
    """Every line through the line parser, as the pipeline's per-line path does."""
    parser = json_log.make_parser(options)
    return [_line_outcome(parser, line) for line in lines]


def chunked(lines: Sequence[bytes], options: Mapping[str, str], size: int) -> list[Outcome]:
    """Lines through the chunk parser in chunks of `size`, its leftovers through the line parser."""
    parser = json_log.make_parser(options)
    chunk_parser = json_log.make_chunk_parser(parser)
    out: list[Outcome | None] = [None] * len(lines)
    i = 0
    while i < len(lines) and not chunk_parser.ready:
        out[i] = _line_outcome(parser, lines[i])
        i += 1
    for start in range(i, len(lines), size):
        part = lines[start : start + size]
        got = chunk_parser(part)
        assert got.batch.num_rows == len(got.lines)
        for row, index in zip(got.batch.to_pylist(), got.lines.to_pylist(), strict=True):
            out[start + index] = [row]
        for index in got.rest:
            out[start + index] = _line_outcome(parser, part[index])
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def _assert_same(lines: Sequence[bytes], options: Mapping[str, str], sizes: Sequence[int] = (1, 7, 1000)) -> None:
    expected = per_line(lines, options)
    for size in sizes:
        got = chunked(lines, options, size)
        for n, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert a == b, f"line {n + 1} (chunks of {size}): {lines[n][:200]!r}"


def _fixture_cases() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.suffix == ".ndjson")


@pytest.mark.parametrize("path", _fixture_cases(), ids=lambda p: p.stem)
def test_fixture_files_parse_alike(path: Path) -> None:
    """Each golden json_log fixture gives the same rows through both paths."""
    options_path = path.with_name(path.stem + ".options.json")
    options = orjson.loads(options_path.read_bytes()) if options_path.exists() else {}
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    _assert_same(lines, options)
    _assert_same(lines * 3, options)  # once the preset is fixed, repeats go the columnar way


def test_simulated_service_logs_parse_alike(simulated: Path) -> None:
    """The simulator's structlog and pino service logs give the same rows through both paths."""
    paths = sorted((simulated / "services").glob("*.ndjson"))
    assert paths
    for path in paths:
        lines = path.read_bytes().splitlines()[:3000]
        _assert_same(lines, {"path": str(path)}, sizes=(500, 4096))


def test_columnar_path_takes_most_lines(simulated: Path) -> None:
    """On a structlog service log, almost every line is read by the chunk parser, not left over."""
    path = simulated / "services" / "api.ndjson"
    lines = path.read_bytes().splitlines()[:5000]
    parser = json_log.make_parser({"path": str(path)})
    for line in lines[:5]:
        list(parser(line))
    got = json_log.make_chunk_parser(parser)(lines[5:])
    assert len(got.rest) < 0.02 * len(lines)


# Keys the presets map (several spellings of one column), keys they redact, and keys they keep.
KEYS = (
    "timestamp",
    "time",
    "ts",
    "@timestamp",
    "created",
    "level",
    "levelno",
    "severity",
    "msg",
    "message",
    "event",
    "trace_id",
    "traceId",
    "span_id",
    "request_id",
    "req_id",
    "status",
    "statusCode",
    "duration_ms",
    "duration",
    "latency",
    "responseTime",
    "method",
    "url",
    "path",
    "route",
    "user_id",
    "client_ip",
    "ip",
    "error",
    "err",
    "exception",
    "stack",
    "traceparent",
    "trace_flags",
    "bytes_sent",
    "service",
    "host",
    "password",
    "token",
    "flags",
    "extra",
    "logger",
    "release",
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(
        [
            0,
            1,
            200,
            404,
            599,
            600,
            30,
            50,
            1_793_000_000,
            1_793_000_000_123,
            1_793_000_000_123_456,
            1_793_000_000_123_456_789,
            -5,
            2**62,
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 12.5, 1e-7, 1793000000.5, 1.5e12, 2.5, 3.5]),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "-",
            " x ",
            "GET",
            "get",
            "PATCH",
            "info",
            "WARNING",
            "Err",
            "30",
            "2026-11-02T00:00:09.419041+00:00",
            "2026-11-02T00:00:09Z",
            "2026-11-02 00:00:09.5",
            "2026-02-30T00:00:00Z",
            "2026-11-02T00:00:09.1234567Z",
            "2026-11-02T23:59:60+05:30",
            "1793000000",
            "1793000000.25",
            "02/Nov/2026:10:00:00 +0000",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "00f067aa0ba902b7",
            "0" * 32,
            "a3ce929d0e0e4736",
            "10.1.2.3",
            "10.1.2.3:5000, 10.0.0.1",
            "[::1]:80",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "150ms",
            "1.5s",
            "2m3.5s",
            "/api/x?y=1",
            'Traceback (most recent call last):\n  File "a.py", line 1, in f\nValueError: bad',
            "TypeError: x is undefined\n    at f (app.js:1:2)",
        ]
    ),
    st.dictionaries(
        st.sampled_from(["a", "b", "id", "method", "statusCode"]),
        st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=3),
        max_size=2,
    ),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=2),
)


@st.composite
def _logs(draw: st.DrawFn) -> list[bytes]:
    shapes = draw(
        st.lists(st.lists(st.sampled_from(KEYS), min_size=1, max_size=8, unique=True), min_size=1, max_size=3)
    )
    records = []
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        shape = draw(st.sampled_from(shapes))
        records.append(orjson.dumps({key: draw(VALUES) for key in shape}))
    return records


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    lines=_logs(),
    preset=st.sampled_from(["structlog", "pino", "generic", "zap", "logrus", "python", "ecs"]),
    size=st.integers(min_value=1, max_value=30),
)
def test_random_records_parse_alike(lines: list[bytes], preset: str, size: int) -> None:
    """Any mix of value types, bad timestamps, ids and nested values gives identical rows on both paths."""
    options = {"preset": preset, "service": "svc", "environment": "test"}
    expected = per_line(lines, options)
    got = chunked(lines, options, size)
    for n, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a == b, f"line {n + 1}: {lines[n]!r}"


def test_float_attributes_read_as_python_writes_them() -> None:
    """Float values kept as attributes read as Python's float text, with and without nulls in the column."""
    floats = (100.0, 0.1, 1e16, -0.0, 2.5e-07, 123456789.125)
    lines = [orjson.dumps({"timestamp": 1_700_000_000 + i, "ratio": v}) for i, v in enumerate(floats)]
    with_nulls = [*lines, orjson.dumps({"timestamp": 1_700_000_100, "ratio": None})]
    for case in (lines, with_nulls):
        _assert_same(case * 2, {"preset": "generic"}, sizes=(len(case) * 2,))
    got = chunked(lines * 2, {"preset": "generic"}, size=len(lines) * 2)
    assert [dict(row[0]["attributes"])["ratio"] for row in got[-len(floats) :]] == [  # type: ignore[index]
        "100.0",
        "0.1",
        "1e+16",
        "-0.0",
        "2.5e-07",
        "123456789.125",
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_chunk_parse_leaves_the_collector_as_it_found_it(enabled: bool) -> None:
    """The cyclic collector is paused only while a chunk is parsed, and left off if it was off, even on error."""
    import gc

    parser = json_log.make_parser({"preset": "generic"})
    chunk_parser = json_log.make_chunk_parser(parser)
    lines = [orjson.dumps({"timestamp": 1_700_000_000 + i, "msg": "x"}) for i in range(50)]
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert chunk_parser(lines).batch.num_rows == 50
        assert gc.isenabled() is enabled
        with pytest.raises(TypeError):
            chunk_parser(None)  # type: ignore[arg-type]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
