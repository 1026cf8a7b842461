"""The ingest pipeline loses nothing: every record read is stored or quarantined with a reason."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seamline.app import App
from seamline.schema import SCHEMA_VERSION
from seamline.settings import Settings
from seamline.sources import UnknownSource

GOOD = "2026-11-02T10:00:00Z|client_request|120.5|user-{i}"


def _lines(n: int, start: int = 0) -> str:
    return "".join(GOOD.format(i=i) + "\n" for i in range(start, start + n))


def _count(app: App, table: str, where: str = "true") -> int:
    return int(app.store.scalar(f"SELECT count(*) FROM {table} WHERE {where}"))


def _check_accounting(app: App, result) -> None:
    assert result.records_read == result.rows_stored + result.rows_quarantined
    assert _count(app, "events", f"ingest_batch_id = '{result.ingest_batch_id}'") == result.rows_stored
    assert _count(app, "quarantine", f"ingest_batch_id = '{result.ingest_batch_id}'") == result.rows_quarantined


def test_good_lines_are_stored_with_lineage(app: App, toy_source: str, tmp_path: Path) -> None:
    """Each line becomes one row that records its file, line number, batch and schema version."""
    path = tmp_path / "a.log"
    path.write_text(_lines(5))
    result = app.ingestor.ingest_file(path, source=toy_source)
    _check_accounting(app, result)
    rows = app.store.query("SELECT origin, position, source, schema_version FROM events ORDER BY position").to_pylist()
    assert [r["position"] for r in rows] == [1, 2, 3, 4, 5]
    assert {r["origin"] for r in rows} == {str(path.resolve())}
    assert {r["source"] for r in rows} == {"toy"} and {r["schema_version"] for r in rows} == {SCHEMA_VERSION}


def test_user_ids_are_pseudonymized_before_storage(app: App, toy_source: str, tmp_path: Path) -> None:
    """Raw user ids never reach the store; equal ids map to equal pseudonyms."""
    path = tmp_path / "a.log"
    path.write_text(_lines(3) + GOOD.format(i=0) + "\n")
    app.ingestor.ingest_file(path, source=toy_source)
    users = app.store.query("SELECT user_id FROM events ORDER BY position").column(0).to_pylist()
    assert not any("user-" in u for u in users)
    assert users[0] == users[3] and len(set(users)) == 3


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (b"\xff\xfe\xfa|client_request|1|u", "invalid UTF-8"),
        (bytes(range(0, 9)) + b"\x0b\x0c\x0e\x1f\x00garbage", "expected 4 fields"),
        (b"2026-11-02T10:00:00Z|client_request|fast|u", "wrong type"),
        (b"2026-11-02T10:00:00Z|client_request", "expected 4 fields"),
        (b"2026-11-02T10:00:00Z|not_a_kind|1|u", "unknown kind"),
        (b"not a time|client_request|1|u", "not an ISO 8601"),
        (b"2999-01-01T00:00:00Z|client_request|1|u", "too far in the future"),
        (b"1971-01-01T00:00:00Z|client_request|1|u", "too far in the past"),
    ],
)
def test_bad_line_is_quarantined_with_reason(
    app: App, toy_source: str, tmp_path: Path, bad_line: bytes, reason: str
) -> None:
    """A bad line among good ones is quarantined with its position and reason; the rest are stored."""
    path = tmp_path / "mixed.log"
    path.write_bytes(_lines(2).encode() + bad_line + b"\n" + _lines(2, start=2).encode())
    result = app.ingestor.ingest_file(path, source=toy_source)
    _check_accounting(app, result)
    assert result.rows_stored == 4 and result.rows_quarantined == 1
    row = app.store.query("SELECT position, reason, raw, raw_bytes FROM quarantine").to_pylist()[0]
    assert row["position"] == 3
    assert reason in row["reason"]
    assert row["raw_bytes"] > 0


def test_huge_line_is_quarantined_without_reading_it_into_memory(app: App, toy_source: str, tmp_path: Path) -> None:
    """A 10 MB line is quarantined as too long (first bytes kept) and the next lines still load."""
    path = tmp_path / "huge.log"
    with path.open("wb") as f:
        f.write(_lines(1).encode())
        f.write(b"x" * 10_000_000 + b"\n")
        f.write(_lines(1, start=1).encode())
    result = app.ingestor.ingest_file(path, source=toy_source)
    _check_accounting(app, result)
    row = app.store.query("SELECT position, reason, raw, raw_bytes FROM quarantine").to_pylist()[0]
    assert row["position"] == 2 and "exceeds max_line_bytes" in row["reason"]
    assert row["raw_bytes"] == 10_000_001 and len(row["raw"]) <= 4096
    assert result.rows_stored == 2


def test_truncated_gzip_keeps_what_was_readable(app: App, toy_source: str, tmp_path: Path) -> None:
    """A gzip file cut short stores the lines before the cut and quarantines the break."""
    data = gzip.compress(_lines(2000).encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    result = app.ingestor.ingest_file(path, source=toy_source)
    _check_accounting(app, result)
    assert 0 < result.rows_stored < 2000
    reasons = app.store.query("SELECT reason FROM quarantine").column(0).to_pylist()
    assert len(reasons) == 1 and "truncated" in reasons[0]


def test_duplicate_natural_keys_are_quarantined(app: App, toy_source: str, tmp_path: Path) -> None:
    """A record repeating an event id already ingested is quarantined as a duplicate, within and across runs."""
    path = tmp_path / "dup.log"
    line = "2026-11-02T10:00:00Z|client_request|1|u|evt-1\n"
    path.write_text(line + line + "2026-11-02T10:00:01Z|client_request|1|u|evt-2\n")
    result = app.ingestor.ingest_file(path, source=toy_source)
    _check_accounting(app, result)
    assert result.rows_stored == 2 and result.quarantine_reasons == {"duplicate record": 1}
    again = tmp_path / "dup2.log"
    again.write_text(line)
    retried = app.ingestor.ingest_file(again, source=toy_source)
    assert retried.rows_stored == 0 and retried.rows_quarantined == 1, "a resent record is caught across runs"


def test_reingest_adds_nothing_and_grown_file_adds_only_new_lines(app: App, toy_source: str, tmp_path: Path) -> None:
    """Ingesting a file twice stores it once; appended lines are picked up with continuing positions."""
    path = tmp_path / "grow.log"
    path.write_text(_lines(100))
    first = app.ingestor.ingest_file(path, source=toy_source)
    second = app.ingestor.ingest_file(path, source=toy_source)
    assert (first.rows_stored, second.rows_stored) == (100, 0)
    with path.open("a") as f:
        f.write(_lines(10, start=100))
    third = app.ingestor.ingest_file(path, source=toy_source)
    assert third.rows_stored == 10 and third.resumed_from_line == 100
    positions = app.store.query("SELECT position FROM events ORDER BY position").column(0).to_pylist()
    assert positions == list(range(1, 111))


def test_rotated_file_is_read_from_the_start(app: App, toy_source: str, tmp_path: Path) -> None:
    """A file replaced by different content (rotation) is read again from line 1."""
    path = tmp_path / "rot.log"
    path.write_text(_lines(5))
    app.ingestor.ingest_file(path, source=toy_source)
    path.write_text("2026-11-03T00:00:00Z|page_view|1|z\n" + _lines(2))
    result = app.ingestor.ingest_file(path, source=toy_source)
    assert result.rows_stored == 3 and result.resumed_from_line == 0


def test_small_batches_commit_checkpoints_with_rows(home: Path, toy_source: str, tmp_path: Path) -> None:
    """With tiny batches, rows and checkpoints commit together and the totals still add up."""
    application = App(Settings({"home": home, "batch_rows": 7}))
    path = tmp_path / "b.log"
    path.write_text(_lines(100))
    result = application.ingestor.ingest_file(path, source=toy_source)
    _check_accounting(application, result)
    offset = application.store.query("SELECT offset_bytes, lines FROM ingest_offsets").to_pylist()[0]
    assert offset == {"offset_bytes": path.stat().st_size, "lines": 100}
    run = application.store.query("SELECT status, records_read, rows_stored FROM ingest_batches").to_pylist()[0]
    assert run == {"status": "done", "records_read": 100, "rows_stored": 100}
    application.close()


def _duckdb_text(limit: str) -> str:
    """How DuckDB spells a memory limit once set (e.g. 256MB -> 244.1 MiB)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [limit])
    return str(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])  # type: ignore[index]


def test_file_ingest_caps_the_database_memory_and_restores_it(app: App, toy_source: str, tmp_path: Path) -> None:
    """A file ingest runs under ingest_memory_limit; afterwards, even after a failure, memory_limit holds again."""
    path = tmp_path / "a.log"
    path.write_text(_lines(50))
    seen: list[str] = []
    reader = app.store.cursor()

    def progress(_: int) -> None:
        seen.append(reader.execute("SELECT current_setting('memory_limit')").fetchone()[0])  # type: ignore[index]

    app.ingestor.ingest_file(path, source=toy_source, progress=progress)
    assert seen and set(seen) == {_duckdb_text(app.settings.ingest_memory_limit)}
    configured = _duckdb_text(app.settings.memory_limit)
    assert reader.execute("SELECT current_setting('memory_limit')").fetchone()[0] == configured  # type: ignore[index]
    with pytest.raises(UnknownSource, match="nope"):
        app.ingestor.ingest_file(path, source="nope")
    assert reader.execute("SELECT current_setting('memory_limit')").fetchone()[0] == configured  # type: ignore[index]


def test_unreadable_memory_limit_is_a_clear_error(home: Path, toy_source: str, tmp_path: Path) -> None:
    """A memory setting DuckDB cannot read names the setting and its variable, and nothing is ingested."""
    from seamline.store import StoreError

    path = tmp_path / "a.log"
    path.write_text(_lines(3))
    application = App(Settings({"home": home, "ingest_memory_limit": "lots"}))
    try:
        with pytest.raises(StoreError, match=r"ingest_memory_limit.*SEAMLINE_INGEST_MEMORY_LIMIT.*'lots'"):
            application.ingestor.ingest_file(path, source=toy_source)
        assert _count(application, "events") == 0
    finally:
        application.close()
    with pytest.raises(StoreError, match="SEAMLINE_MEMORY_LIMIT"):
        _ = App(Settings({"home": home, "memory_limit": "much"})).store


def test_file_starting_with_a_byte_order_mark_is_detected_and_read_whole(app: App, tmp_path: Path) -> None:
    """A BOM (as PowerShell and .NET write) neither hides the format nor costs the first line."""
    path = tmp_path / "win.ndjson"
    lines = [
        '{"time":"2026-11-02T10:00:00Z","level":"info","msg":"started","func":"main","file":"a.go"}',
        '{"time":"2026-11-02T10:00:01Z","level":"warn","msg":"slow","func":"main","file":"a.go"}',
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    result = app.ingestor.ingest_file(path)
    assert (result.source, result.rows_stored, result.rows_quarantined) == ("json_log", 2, 0)
    rows = app.store.query("SELECT position, message, level FROM events ORDER BY position").to_pylist()
    assert rows == [
        {"position": 1, "message": "started", "level": "info"},
        {"position": 2, "message": "slow", "level": "warn"},
    ]
