"""Envoy and Istio sidecar access logs: detected, read in both default formats, and unwrapped from pod logs."""

from __future__ import annotations

from pathlib import Path

from seamline.app import App
from seamline.sources import container_log, detect_source, envoy
from seamline.sources._framing import read_sample

FIXTURES = Path(__file__).parent / "fixtures"
ISTIO_LINE = (
    '[2026-11-29T10:00:02.000Z] "GET /api/cart HTTP/1.1" 200 - via_upstream - "-" 0 230 7 6 "-" "Mozilla/5.0" '
    '"a1b2c3d4-0000-4000-8000-000000000002" "cart:80" "10.0.2.9:8080" outbound|80||cart 10.0.1.5:43210 '
    "10.96.0.12:80 10.0.1.5:51234 - default"
)


def test_detection_picks_envoy_over_the_access_log_sources() -> None:
    """The sidecar fixture is Envoy's; nginx and apache claim nothing there, Envoy nothing of theirs."""
    sample = read_sample(FIXTURES / "envoy" / "sidecar.log")
    assert detect_source(sample, "sidecar.log")[0] == "envoy"
    for other in ("nginx/combined.log", "apache/vhost.log", "json_log/zap.ndjson", "logfmt/app.logfmt"):
        assert envoy.sniff(read_sample(FIXTURES / other), other) == 0.0, other


def test_istio_fields_land_in_their_columns() -> None:
    """Start time, request id, durations, sizes and the downstream client; the rest under Envoy's names."""
    (row,) = envoy.make_parser({"service": "cart-sidecar"})(ISTIO_LINE.encode())
    assert row["ts"] == 1_795_946_402_000_000 and row["service"] == "cart-sidecar"
    assert (row["http_method"], row["url"], row["http_status"]) == ("GET", "/api/cart", 200)
    assert (row["duration_ms"], row["upstream_ms"], row["response_bytes"]) == (7.0, 6.0, 230)
    assert row["request_id"] == "a1b2c3d4-0000-4000-8000-000000000002" and row["client_ip"] == "10.0.1.5"
    assert row["attributes"]["upstream_cluster"] == "outbound|80||cart"


def test_sidecar_lines_in_a_pod_log_are_read_as_envoy(app: App, tmp_path: Path) -> None:
    """The istio-proxy container's CRI log yields request rows, not text."""
    path = tmp_path / f"var/log/pods/shop_cart-5d8c_{'0' * 8}-0000-0000-0000-{'0' * 12}/istio-proxy/0.log"
    path.parent.mkdir(parents=True)
    path.write_text(f"2026-11-29T10:00:02.001Z stdout F {ISTIO_LINE}\n2026-11-29T10:00:03Z stderr F starting\n")
    result = app.ingestor.ingest_file(path)
    assert (result.source, result.rows_stored, result.rows_quarantined) == ("container_log", 2, 0)
    rows = app.store.query("SELECT kind, http_status, service, request_id FROM events ORDER BY position").to_pylist()
    assert rows[0] == {
        "kind": "server_request",
        "http_status": 200,
        "service": "istio-proxy",
        "request_id": "a1b2c3d4-0000-4000-8000-000000000002",
    }
    assert rows[1]["kind"] == "server_log"
    assert container_log.sniff(path.read_bytes(), path.name) > envoy.sniff(path.read_bytes(), path.name)
