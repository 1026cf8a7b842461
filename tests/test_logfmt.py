"""logfmt lines become the records json_log's presets read; prose and broken quoting are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from seamline.app import App
from seamline.sources import BadRecord, container_log, json_log, logfmt
from seamline.sources._framing import read_sample

FIXTURES = Path(__file__).parent / "fixtures"


def test_pairs_read_quotes_escapes_bare_keys_and_repeats() -> None:
    """Quoted values keep spaces and escapes, a bare key is true, the last of a repeated key wins."""
    record, prefix_ts, tag = logfmt.pairs('a=1 b="two words" c="say \\"hi\\"\\n" flag a=3 empty= d=x=y')
    assert record == {"a": "3", "b": "two words", "c": 'say "hi"\n', "flag": "true", "empty": "", "d": "x=y"}
    assert (prefix_ts, tag) == (None, None)


def test_a_leading_time_and_process_tag_are_read() -> None:
    """`heroku logs` style: the prefix time serves records without one; the tag is kept."""
    record, prefix_ts, tag = logfmt.pairs("2026-11-29T10:00:03.5+01:00 app[web.1]: at=info status=200")
    assert record == {"at": "info", "status": "200"}
    assert prefix_ts == 1_795_942_803_500_000 and tag == "app[web.1]"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Server started on port=8080 host=0.0.0.0", "more pairs than bare words"),
        ('level=info msg="never closed', "not logfmt at column 12"),
        ("only=one", "1 key=value pair"),
        ('a=b"c" d=e', "not logfmt at column 1"),
    ],
)
def test_prose_and_broken_lines_are_refused(line: str, reason: str) -> None:
    """What is not logfmt is a BadRecord naming why, so the pipeline quarantines it."""
    with pytest.raises(BadRecord, match=reason):
        logfmt.pairs(line)


def test_sniff_claims_logfmt_and_not_the_formats_beside_it() -> None:
    """logfmt files score; JSON, access-log and container files do not pass for logfmt."""
    assert logfmt.sniff(read_sample(FIXTURES / "logfmt" / "app.logfmt"), "app.logfmt") >= 0.5
    for other in ("json_log/structlog.ndjson", "nginx/combined.log", "apache/vhost.log", "segment/batch.ndjson"):
        assert logfmt.sniff(read_sample(FIXTURES / other), other) < 0.5, other
    cri = read_sample(FIXTURES / "container_log" / "cri.log")
    assert logfmt.sniff(cri, "cri.log") < container_log.sniff(cri, "cri.log")


def test_logfmt_file_is_detected_and_stored_whole(app: App, tmp_path: Path) -> None:
    """A logfmt file ingests by detection; every line is stored or quarantined with its reason."""
    path = tmp_path / "api.log"
    path.write_text(
        "time=2026-11-29T10:00:00Z level=info msg=ready port=8080\n"
        'time=2026-11-29T10:00:01Z level=error msg="db down" method=GET path=/api/cart status=503 duration=1.5s\n'
        "Server started on port=8080 host=0.0.0.0\n"
    )
    result = app.ingestor.ingest_file(path)
    assert (result.source, result.rows_stored, result.rows_quarantined) == ("logfmt", 2, 1)
    rows = app.store.query("SELECT kind, service, http_status, duration_ms FROM events ORDER BY position").to_pylist()
    assert rows == [
        {"kind": "server_log", "service": "api", "http_status": None, "duration_ms": None},
        {"kind": "server_request", "service": "api", "http_status": 503, "duration_ms": 1500.0},
    ]


def test_container_payloads_in_logfmt_are_read_as_logfmt() -> None:
    """A container writing logfmt gets columns, not one text message."""
    pod_dir = "shop_api-1_00000000-0000-0000-0000-000000000000"
    parser = container_log.make_parser({"path": f"/var/log/pods/{pod_dir}/api/0.log"})
    (row,) = parser(b"2026-11-29T10:00:00Z stdout F level=warn msg=slow status=200 method=GET path=/x")
    assert (row["level"], row["message"], row["http_status"], row["service"]) == ("warn", "slow", 200, "api")
    assert row["ts"] == 1_795_946_400_000_000  # the runtime's time: the record has none
    assert json_log.sniff(b"level=warn msg=slow\n", "x.log") == 0.0
