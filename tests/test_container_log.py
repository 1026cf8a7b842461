"""Container runtime logs (Docker json-file, Kubernetes CRI) are unwrapped and read as what the container wrote."""

from __future__ import annotations

import json
from pathlib import Path

from seamline.app import App
from seamline.sources import container_log, json_log
from seamline.sources._framing import read_sample

FIXTURES = Path(__file__).parent / "fixtures"
POD_UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def test_container_and_service_come_from_the_path() -> None:
    """Both Kubernetes layouts name namespace, pod and container; Docker's names the container id."""
    link = "/var/log/containers/web-5d8c_shop_nginx-" + "ab" * 32 + ".log"
    assert container_log.container_of(link) == (
        {"k8s.namespace.name": "shop", "k8s.pod.name": "web-5d8c", "k8s.container.name": "nginx"},
        "nginx",
    )
    pods = f"/var/log/pods/shop_web-5d8c_{POD_UID}/nginx/0.log"
    assert container_log.container_of(pods) == container_log.container_of(link)
    docker_id = "cd" * 32
    assert container_log.container_of(f"/var/lib/docker/containers/{docker_id}/{docker_id}-json.log") == (
        {"container.id": "cdcdcdcdcdcd"},
        None,
    )
    assert container_log.container_of("/tmp/app.log") == ({}, None)


def test_sniff_claims_runtime_logs_and_nothing_else() -> None:
    """Docker and CRI files score high; the JSON logs and access logs they wrap do not."""
    for name in ("docker.log", "cri.log"):
        path = FIXTURES / "container_log" / name
        assert container_log.sniff(read_sample(path), name) >= 0.8
    for other in (FIXTURES / "json_log" / "structlog.ndjson", FIXTURES / "nginx" / "combined.log"):
        assert container_log.sniff(read_sample(other), other.name) == 0.0
    docker_line = (FIXTURES / "container_log" / "docker.log").read_bytes().splitlines()[0]
    assert json_log.sniff(docker_line + b"\n", "x.log") < container_log.sniff(docker_line + b"\n", "x.log")


def test_pod_log_is_ingested_whole_with_its_payloads_read(app: App, tmp_path: Path) -> None:
    """Auto-detected; JSON, access-log and text payloads all stored, broken wrappers quarantined, nothing lost."""
    path = tmp_path / "var/log/pods" / f"shop_checkout-7d9f_{POD_UID}" / "api" / "0.log"
    path.parent.mkdir(parents=True)
    payload = json.dumps({"level": "error", "msg": "payment declined", "error": "card expired"})
    path.write_text(
        f"2026-11-29T10:00:00.000001Z stdout F {payload}\n"
        "2026-11-29T10:00:01Z stdout F 10.0.0.9 - - [29/Nov/2026:10:00:01 +0000] "
        '"GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.31"\n'
        "2026-11-29T10:00:02Z stderr F Killed\n"
        "2026-11-29T10:00:03Z nonsense\n"
    )
    result = app.ingestor.ingest_file(path)
    assert result.source == "container_log"
    assert (result.records_read, result.rows_stored, result.rows_quarantined) == (4, 3, 1)
    rows = app.store.query(
        "SELECT position, kind, ts, service, message, level, http_status, attributes['k8s.pod.name'] AS pod, "
        "attributes['container.stream'] AS stream FROM events ORDER BY position"
    ).to_pylist()
    assert [(r["position"], r["kind"], r["service"], r["pod"]) for r in rows] == [
        (1, "server_log", "api", "checkout-7d9f"),
        (2, "server_request", "api", "checkout-7d9f"),
        (3, "server_log", "api", "checkout-7d9f"),
    ]
    assert rows[0]["message"] == "payment declined" and rows[0]["level"] == "error"
    assert rows[0]["ts"].isoformat() == "2026-11-29T10:00:00.000001+00:00"  # the runtime's time: the record has none
    assert rows[1]["http_status"] == 200
    assert (rows[2]["message"], rows[2]["stream"]) == ("Killed", "stderr")
    quarantined = app.store.query("SELECT position, reason FROM quarantine").to_pylist()
    assert [q["position"] for q in quarantined] == [4]
    assert quarantined[0]["reason"].startswith("neither a Docker json-file entry")
