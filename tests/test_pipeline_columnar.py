"""File ingest through the chunk parser stores and quarantines exactly what the per-line path does."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from seamline.app import App
from seamline.settings import Settings
from seamline.sources import json_log

T = "2026-11-02T10:00:{s:02d}.{us:06d}+00:00"


def _line(i: int, **extra: Any) -> bytes:
    record = {
        "timestamp": T.format(s=i % 60, us=i),
        "level": "info",
        "event": "request finished",
        "logger": "shop.api.access",
        "trace_id": f"{i + 1:032x}",
        "span_id": f"{i + 1:016x}",
        "request_id": f"r-{i}",
        "method": "GET",
        "path": f"/api/product/{i % 7}?q=1",
        "status": 200 + (i % 3) * 100,
        "duration_ms": 12.5 + i,
        "user_id": f"u_{i % 5}" if i % 2 else None,
        "flags": {"new_checkout": "on"},
        **extra,
    }
    return orjson.dumps(record)


def _mixed_file() -> bytes:
    lines = [_line(i) for i in range(40)]
    lines[12] = b'{"timestamp": "2026-11-02T10:00:00Z", "event": "cut'  # invalid JSON
    lines[13] = b"[1, 2, 3]"  # not an object
    lines[14] = _line(14, timestamp="1999-01-01T00:00:00Z")  # too far in the past
    lines[15] = b"   "  # blank: counted, not a record
    lines[16] = _line(16, timestamp="not a time")  # no usable timestamp
    lines[17] = _line(17, error="boom", exception='Traceback (most recent call last):\n  File "a.py"\nKeyError: x')
    lines[18] = _line(18, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    lines[19] = b'{"time": 1793000000123, "level": 30, "msg": "pino line", "pid": 1, "hostname": "h"}'
    lines[20] = _line(20, status="200")  # another value type in a column
    lines[21] = b"x" * 3000  # over max_line_bytes below
    return b"\r\n".join(lines[:30]) + b"\r\n" + b"\n".join(lines[30:]) + b"\n"


@pytest.fixture(params=["chunked", "per_line"])
def path_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test once through the chunk parser and once with it switched off."""
    if request.param == "per_line":
        monkeypatch.setattr(json_log, "make_chunk_parser", lambda parser: None)
    yield request.param


def _ingest(home: Path, path: Path) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    app = App(Settings({"home": home, "max_line_bytes": 2048, "batch_rows": 16}))
    try:
        result = app.ingestor.ingest_file(path, source="json_log")
        skip = "* EXCLUDE (ingest_batch_id)"
        events = app.store.query(f"SELECT {skip} FROM events ORDER BY position, position_index").to_pylist()
        quarantine = app.store.query(
            "SELECT quarantine_id, position, position_index, reason, raw, raw_bytes FROM quarantine ORDER BY position"
        ).to_pylist()
        offsets = app.store.query("SELECT offset_bytes, lines FROM ingest_offsets").to_pylist()
    finally:
        app.close()
    return result, events, quarantine, offsets


def test_chunked_ingest_matches_per_line_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same rows (ids, lineage, attributes, pseudonyms), same quarantine entries, same checkpoint."""
    path = tmp_path / "api.ndjson"
    path.write_bytes(_mixed_file())
    monkeypatch.setenv("SEAMLINE_PSEUDONYM_KEY", "k" * 32)
    chunked = _ingest(tmp_path / "a", path)
    monkeypatch.setattr(json_log, "make_chunk_parser", lambda parser: None)
    per_line = _ingest(tmp_path / "b", path)
    result_a, events_a, quarantine_a, offsets_a = chunked
    result_b, events_b, quarantine_b, offsets_b = per_line
    assert events_a == events_b
    assert quarantine_a == quarantine_b
    assert offsets_a == offsets_b
    assert (result_a.records_read, result_a.rows_stored, result_a.rows_quarantined) == (
        result_b.records_read,
        result_b.rows_stored,
        result_b.rows_quarantined,
    )
    assert result_a.records_read == result_a.rows_stored + result_a.rows_quarantined == 39
    assert {q["position"] for q in quarantine_a} == {13, 14, 15, 17, 22}


def test_every_line_is_accounted_for_with_lineage(tmp_path: Path, path_kind: str) -> None:
    """Stored rows carry origin, line, index, schema version and position-based ids; nothing is lost."""
    path = tmp_path / "api.ndjson"
    path.write_bytes(b"\n".join(_line(i) for i in range(300)) + b"\n")
    result, events, quarantine, offsets = _ingest(tmp_path / "home", path)
    assert result.records_read == 300 and result.rows_stored == 300 and not quarantine
    assert [e["position"] for e in events] == list(range(1, 301))
    assert {e["origin"] for e in events} == {str(path.resolve())} and {e["position_index"] for e in events} == {0}
    assert len({e["event_id"] for e in events}) == 300 and events[0]["event_id"].endswith(":1:0")
    assert all(e["user_id"] is None or e["user_id"].startswith("p_") for e in events)  # pseudonymized
    assert offsets == [{"offset_bytes": path.stat().st_size, "lines": 300}]


def test_resume_reads_only_new_lines(tmp_path: Path, path_kind: str) -> None:
    """A grown file is resumed at its checkpoint; a re-run of an unchanged file adds nothing."""
    path = tmp_path / "api.ndjson"
    path.write_bytes(b"".join(_line(i) + b"\n" for i in range(50)))
    first, *_ = _ingest(tmp_path / "home", path)
    again, *_ = _ingest(tmp_path / "home", path)
    with path.open("ab") as f:
        f.write(b"".join(_line(i) + b"\n" for i in range(50, 80)))
    grown, events, _, offsets = _ingest(tmp_path / "home", path)
    assert (first.rows_stored, again.records_read, grown.records_read, grown.resumed_from_line) == (50, 0, 30, 50)
    assert [e["position"] for e in events] == list(range(1, 81))
    assert offsets == [{"offset_bytes": path.stat().st_size, "lines": 80}]


def test_truncated_gzip_keeps_readable_lines(tmp_path: Path, path_kind: str) -> None:
    """A cut gzip log stores the lines before the break and quarantines the break itself."""
    path = tmp_path / "api.ndjson.gz"
    body = b"".join(_line(i) + b"\n" for i in range(3000))
    path.write_bytes(gzip.compress(body)[:-2000])
    result, events, quarantine, _ = _ingest(tmp_path / "home", path)
    assert result.records_read == result.rows_stored + result.rows_quarantined
    assert 0 < len(events) < 3000 and len(quarantine) == 1
    assert "corrupt or truncated" in quarantine[0]["reason"]


def test_transactions_hold_exactly_batch_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks are cut so each transaction stores batch_rows rows (DuckDB's row group), bad lines aside."""
    lines = [_line(i) for i in range(300)]
    lines[40] = b"{not json"
    path = tmp_path / "api.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    app = App(Settings({"home": tmp_path / "home", "batch_rows": 16}))
    sizes: list[int] = []
    submit = app.writer.submit

    def counting(ops: Any, timeout: float | None = None) -> Any:
        sizes.extend(op.batch.num_rows for op in ops if getattr(op, "table", None) == "events")
        return submit(ops, timeout)

    monkeypatch.setattr(app.writer, "submit", counting)
    try:
        result = app.ingestor.ingest_file(path, source="json_log")
    finally:
        app.close()
    assert result.rows_stored == 299 and result.rows_quarantined == 1
    assert sizes[:-1] == [16] * (len(sizes) - 1) and sum(sizes) == 299
