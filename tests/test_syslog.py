"""Syslog files: the three line shapes are told apart from other formats and each message is read as what it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from seamline.app import App
from seamline.sources import detect_source, syslog
from seamline.sources._framing import read_sample

FIXTURES = Path(__file__).parent / "fixtures"


def test_detection_picks_syslog_and_leaves_the_other_formats_alone() -> None:
    """The mixed fixture is syslog; access logs, JSON, logfmt, container and Envoy files are not."""
    assert detect_source(read_sample(FIXTURES / "syslog" / "mixed.log"), "syslog")[0] == "syslog"
    others = (
        "nginx/combined.log", "apache/vhost.log", "json_log/zap.ndjson", "logfmt/app.logfmt",
        "container_log/cri.log", "envoy/sidecar.log",
    )  # fmt: skip
    for other in others:
        assert syslog.sniff(read_sample(FIXTURES / other), other) < 0.5, other


def test_bsd_times_take_this_year_unless_that_is_in_the_future() -> None:
    """A BSD stamp has no year: this year's date, or last year's when it would be more than a day ahead."""
    now = datetime.now(UTC).replace(microsecond=0)
    past = now - timedelta(hours=2)
    ts, *_ = syslog.split(f"{past:%b} {past.day:2d} {past:%H:%M:%S} h app: x")
    assert ts == int(past.timestamp()) * 1_000_000
    ahead = now + timedelta(days=3)
    ts, *_ = syslog.split(f"{ahead:%b} {ahead.day:2d} {ahead:%H:%M:%S} h app: x")
    assert datetime.fromtimestamp(ts / 1e6, UTC).year == ahead.year - 1  # December's lines read in January
    assert ts < int(now.timestamp()) * 1_000_000


def test_syslog_file_is_ingested_with_each_program_as_its_service(app: App, tmp_path: Path) -> None:
    """Programs become services, priorities levels; nothing is lost."""
    path = tmp_path / "syslog"
    path.write_text(
        "2026-11-29T10:00:00.5+00:00 web-1 shop-api[812]: "
        '{"level":"info","msg":"ready","ts":"2026-11-29T10:00:00.400Z"}\n'
        "<12>1 2026-11-29T10:00:01Z web-1 billing 77 - - invoice run slow\n"
        "garbage\n"
    )
    result = app.ingestor.ingest_file(path)
    assert (result.source, result.rows_stored, result.rows_quarantined) == ("syslog", 2, 1)
    rows = app.store.query("SELECT ts, service, host, level, message FROM events ORDER BY position").to_pylist()
    assert [(r["service"], r["host"], r["level"], r["message"]) for r in rows] == [
        ("shop-api", "web-1", "info", "ready"),
        ("billing", "web-1", "warn", "invoice run slow"),
    ]
    assert rows[0]["ts"].isoformat() == "2026-11-29T10:00:00.400000+00:00"  # the record's own time wins
