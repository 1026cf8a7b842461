"""AWS ALB access logs: detected (gzipped, as S3 delivers them), timed from arrival, linked by the trace header."""

from __future__ import annotations

import gzip
from pathlib import Path

from seamline.app import App
from seamline.sources import aws_alb, detect_source
from seamline.sources._framing import read_sample

FIXTURES = Path(__file__).parent / "fixtures"


def test_detection_claims_alb_logs_only() -> None:
    """ALB entries are recognised; the other formats' fixtures are not taken for them."""
    assert detect_source(read_sample(FIXTURES / "aws_alb" / "app.log"), "app.log")[0] == "aws_alb"
    others = ("nginx/combined.log", "envoy/sidecar.log", "syslog/mixed.log", "logfmt/app.logfmt", "apache/vhost.log")
    for other in others:
        assert aws_alb.sniff(read_sample(FIXTURES / other), other) == 0.0, other


def test_gzipped_alb_file_is_ingested_with_start_times_and_trace_header(app: App, tmp_path: Path) -> None:
    """ts is request_creation_time, duration runs to the response, X-Amzn-Trace-Id is the request id."""
    lines = (FIXTURES / "aws_alb" / "app.log").read_bytes().splitlines()[:3]
    path = tmp_path / "123456789012_elasticloadbalancing_eu-west-1_app.shop-prod.log.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    result = app.ingestor.ingest_file(path)
    assert (result.source, result.rows_stored, result.rows_quarantined) == ("aws_alb", 3, 0)
    first = app.store.query(
        "SELECT ts, duration_ms, upstream_ms, request_id, url FROM events ORDER BY position LIMIT 1"
    ).to_pylist()[0]
    assert first["ts"].isoformat() == "2026-11-29T10:00:00.007000+00:00"
    assert (first["duration_ms"], first["upstream_ms"]) == (143.0, 142.0)
    assert first["request_id"] == "Root=1-674991e0-3a5f9c2e5b1d4e6f8a0b2c4d"
    assert first["url"] == "/api/products?page=2"


def test_targets_that_log_the_trace_header_carry_the_same_request_id() -> None:
    """nginx's $http_x_amzn_trace_id and a JSON log's amzn_trace_id fill request_id with the ALB's value."""
    from seamline.sources import access_log, json_log

    header = "Root=1-674991e0-3a5f9c2e5b1d4e6f8a0b2c4d"
    log_format = '$remote_addr [$time_local] "$request" $status "$http_x_amzn_trace_id"'
    nginx = access_log.make_parser({"log_format": log_format})
    (row,) = nginx(f'10.0.0.2 [29/Nov/2026:10:00:00 +0000] "GET /api/products HTTP/1.1" 200 "{header}"'.encode())
    assert row["request_id"] == header
    (log,) = json_log.make_parser({})(
        f'{{"time": "2026-11-29T10:00:00Z", "level": "info", "msg": "ok", "amzn_trace_id": "{header}"}}'.encode()
    )
    assert log["request_id"] == header
