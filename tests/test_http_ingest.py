"""HTTP ingest against a real `seamline serve` process: durable acks, limits, auth, errors."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from _server import Server, free_port, running_server
from seamline.store import DuckDBStore

T0 = 1_793_000_000_000.0  # 2026-10-25, epoch ms


def batch(session: str, n: int = 3, bad_index: int | None = None) -> dict:
    """A client wire-format batch with n click events (one malformed when asked)."""
    events = []
    for i in range(n):
        event = {
            "type": "action",
            "id": f"{session}-{i}",
            "ts": T0 + i * 10,
            "action": {"kind": "click", "target": f"button#b{i}"},
        }
        if i == bad_index:
            event["ts"] = "not a time"
        events.append(event)
    return {
        "v": 1,
        "sentAt": T0 + 1000,
        "session": {"id": session, "anonymousId": f"anon-{session}"},
        "context": {"app": {"name": "shop-web", "release": "web@1", "environment": "test"}},
        "events": events,
    }


def rows_for(home: Path, session: str) -> int:
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    try:
        return int(store.scalar("SELECT count(*) FROM events WHERE session_id = ?", [session]))
    finally:
        store.close()


def test_client_batch_is_stored_after_ack(home: Path) -> None:
    """An accepted client batch (JSON, text/plain and gzip) is in the store once the server stops."""
    with running_server(home) as server:
        r1 = httpx.post(server.url + "/v1/client", json=batch("s-json"))
        r2 = httpx.post(
            server.url + "/v1/client",
            content=orjson.dumps(batch("s-beacon")),
            headers={"content-type": "text/plain;charset=UTF-8"},
        )
        r3 = httpx.post(
            server.url + "/v1/client",
            content=gzip.compress(orjson.dumps(batch("s-gzip"))),
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert [r.status_code for r in (r1, r2, r3)] == [200, 200, 200]
        assert r1.json()["accepted"] == 3
    for session in ("s-json", "s-beacon", "s-gzip"):
        assert rows_for(home, session) == 3


def test_partial_batch_names_the_bad_event_and_quarantines_it(home: Path) -> None:
    """A batch with one bad event stores the rest and reports the rejection; the bad one is quarantined."""
    with running_server(home) as server:
        r = httpx.post(server.url + "/v1/client", json=batch("s-part", n=4, bad_index=2))
        assert r.status_code == 200
        body = r.json()
        assert body["accepted"] == 3 and body["quarantined"] == 1 and body["rejected"]
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    q = store.query("SELECT origin, position_index, reason FROM quarantine").to_pylist()
    store.close()
    assert len(q) == 1 and q[0]["origin"] == "http:/v1/client" and q[0]["position_index"] == 2


def test_bad_requests_get_clear_errors(home: Path) -> None:
    """Not-JSON is 400 with a reason, an oversized body 413, an empty body 400, a gzip bomb 413."""
    with running_server(home, {"SEAMLINE_MAX_BODY_BYTES": "100000"}) as server:
        r = httpx.post(server.url + "/v1/client", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]
        r = httpx.post(server.url + "/v1/client", content=b"x" * 200_000)
        assert r.status_code == 413
        r = httpx.post(server.url + "/v1/client", content=b"")
        assert r.status_code == 400
        bomb = gzip.compress(b"{" + b" " * 50_000_000 + b"}")
        r = httpx.post(server.url + "/v1/client", content=bomb, headers={"content-encoding": "gzip"})
        assert r.status_code == 413
        assert httpx.get(server.url + "/healthz").json()["status"] == "ok"


def test_token_is_required_when_configured(home: Path) -> None:
    """With an ingest token set, a request without it is 401 and with it is accepted."""
    with running_server(home, {"SEAMLINE_INGEST_TOKEN": "s3cret-token"}) as server:
        assert httpx.post(server.url + "/v1/client", json=batch("s-auth")).status_code == 401
        r = httpx.post(
            server.url + "/v1/client", json=batch("s-auth"), headers={"authorization": "Bearer s3cret-token"}
        )
        assert r.status_code == 200


def test_cors_preflight_allows_browsers_to_post(home: Path) -> None:
    """A browser preflight from another origin is answered so the SDK may post with traceparent."""
    with running_server(home) as server:
        r = httpx.options(
            server.url + "/v1/client",
            headers={
                "origin": "https://shop.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] in ("*", "https://shop.example")


def test_serve_refuses_public_bind_without_token(home: Path) -> None:
    """`seamline serve --host 0.0.0.0` without a token exits with a clear error."""
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "seamline.cli",
            "serve",
            "--home",
            str(home),
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "refusing to serve" in out.stderr


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_event(home: Path) -> None:
    """Under load, kill -9 the server: after restart every acknowledged batch is stored exactly once."""
    server = Server(home, free_port())
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(timeout=5) as http:
            i = 0
            while not stop.is_set():
                session = f"k{worker}-{i}"
                i += 1
                try:
                    r = http.post(server.url + "/v1/client", json=batch(session, n=20))
                except httpx.TransportError:
                    return  # the server is gone: this batch was never acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.append(session)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill_hard()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= 150, "the load did not get going"
    restarted = Server(home, free_port())  # replays DuckDB's write-ahead log on open
    restarted.stop()
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    rows = store.query("SELECT session_id, count(*) AS n FROM events GROUP BY session_id").to_pylist()
    counts = {r["session_id"]: r["n"] for r in rows}
    store.close()
    missing = [s for s in acked if counts.get(s) != 20]
    assert not missing, f"{len(missing)} acknowledged batches not stored exactly once, e.g. {missing[:3]}"
