"""Quarantined records can be re-ingested after a fix, keeping their lineage."""

from __future__ import annotations

from pathlib import Path

from seamline.app import App
from seamline.quarantine import reingest


def test_reingest_with_corrected_options_stores_and_marks_entries(app: App, toy_source: str, tmp_path: Path) -> None:
    """Lines rejected under the wrong separator are stored once re-ingested with the right one."""
    path = tmp_path / "mixed.log"
    path.write_text(
        "2026-11-02T10:00:00Z|page_view|1|u1\n"
        "2026-11-02T10:00:01Z;client_request;2;u2\n"
        "2026-11-02T10:00:02Z;client_request;3;u3\n"
    )
    first = app.ingestor.ingest_file(path, source=toy_source)
    assert (first.rows_stored, first.rows_quarantined) == (1, 2)
    still = reingest(app.ingestor)
    assert still.still_failing == 2 and still.resolved == 0
    fixed = reingest(app.ingestor, options={"sep": ";"})
    assert fixed.resolved == 2 and fixed.stored_rows == 2
    rows = app.store.query("SELECT position, kind FROM events ORDER BY position").to_pylist()
    assert rows == [
        {"position": 1, "kind": "page_view"},
        {"position": 2, "kind": "client_request"},
        {"position": 3, "kind": "client_request"},
    ]
    assert app.store.scalar("SELECT count(*) FROM quarantine WHERE reingested_at IS NULL") == 0
    assert reingest(app.ingestor).considered == 0, "resolved entries are not tried again"


def test_long_line_is_recovered_from_the_file_not_the_truncated_raw(
    home: Path, toy_source: str, tmp_path: Path
) -> None:
    """The full line is read back from the origin file even though the quarantine kept only its start."""
    from seamline.settings import Settings

    application = App(Settings({"home": home, "quarantine_raw_bytes": 16}))
    path = tmp_path / "l.log"
    path.write_text("2026-11-02T10:00:00Z;client_request;2;" + "u" * 200 + "\n")
    application.ingestor.ingest_file(path, source=toy_source)
    assert len(application.store.scalar("SELECT raw FROM quarantine")) == 16
    result = reingest(application.ingestor, options={"sep": ";"})
    assert result.resolved == 1
    path.unlink()
    application.close()


def test_entry_whose_file_is_gone_and_raw_truncated_is_unrecoverable(
    home: Path, toy_source: str, tmp_path: Path
) -> None:
    """When neither the file nor the full raw text exists, the entry is reported unrecoverable and kept."""
    from seamline.settings import Settings

    application = App(Settings({"home": home, "quarantine_raw_bytes": 16}))
    path = tmp_path / "gone.log"
    path.write_text("2026-11-02T10:00:00Z;client_request;2;" + "u" * 200 + "\n")
    application.ingestor.ingest_file(path, source=toy_source)
    path.unlink()
    result = reingest(application.ingestor, options={"sep": ";"})
    assert result.unrecoverable == 1 and result.resolved == 0
    assert application.store.scalar("SELECT count(*) FROM quarantine WHERE reingested_at IS NULL") == 1
    application.close()
