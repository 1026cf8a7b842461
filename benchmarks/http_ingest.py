"""HTTP ingest throughput: 4 concurrent clients on loopback posting batches of 200 client events.

Prints sustained events/s and request latency percentiles, and as an in-run reference the
request rate of the same server's /healthz (the HTTP stack alone), so the cost of parsing
and committing is visible. Target: >= 20,000 events/s with p99 < 100 ms.
"""

from __future__ import annotations

import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from _server import Server, free_port

CLIENTS = 4
BATCH = 200
SECONDS = 15.0
T0 = 1_793_000_000_000.0


def make_body(worker: int, i: int) -> bytes:
    session = f"w{worker}-{i}"
    events = [
        {
            "type": "request",
            "id": f"{session}-{k}",
            "ts": T0 + k,
            "traceparent": f"00-{(worker * 1_000_000 + i * 1000 + k + 1):032x}-{(k + 1):016x}-01",
            "request": {
                "method": "GET",
                "url": f"https://shop.example/api/product/{k}",
                "status": 200,
                "duration": 12.5 + k,
                "initiator": "fetch",
            },
        }
        for k in range(BATCH)
    ]
    return orjson.dumps(
        {
            "v": 1,
            "sentAt": T0 + 500,
            "session": {"id": session, "anonymousId": f"a{worker}"},
            "context": {
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/131.0.0.0 Safari/537.36",
                "app": {"name": "shop-web", "release": "web@1"},
            },
            "events": events,
        }
    )


def load(port: int, path: str, bodies: list[list[bytes]] | None) -> tuple[int, list[float], int]:
    """Each client posts pre-built bodies (or GETs `path`) over one keep-alive connection."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def worker(w: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = 0
        mine: list[float] = []
        failed = 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            if bodies is not None:
                conn.request(
                    "POST", path, body=bodies[w][i % len(bodies[w])], headers={"content-type": "application/json"}
                )
            else:
                conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t)
            failed += response.status != 200
            i += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), latencies, errors


def server_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of the server process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), free_port())
        try:
            # Bodies are built before the clock starts, so the clients cost little CPU; a body is
            # re-sent only after all of its worker's distinct bodies went once.
            bodies = [[make_body(w, i) for i in range(1500)] for w in range(CLIENTS)]
            n_ref, lat_ref, _ = load(server.port, "/healthz", None)
            cpu_before = server_cpu_seconds(server.proc.pid)
            n, lat, errors = load(server.port, "/v1/client", bodies)
            cpu_after = server_cpu_seconds(server.proc.pid)
        finally:
            server.stop()
    events_per_s = n * BATCH / SECONDS
    print(f"clients={CLIENTS} batch={BATCH} duration={SECONDS:.0f}s")
    print(
        f"ingest: {n} requests, {events_per_s:,.0f} events/s, errors={errors}, "
        f"latency p50={pct(lat, 50):.1f} ms p99={pct(lat, 99):.1f} ms"
    )
    print(f"reference /healthz: {n_ref / SECONDS:,.0f} requests/s, p99={pct(lat_ref, 99):.1f} ms")
    print(f"ingest requests/s vs reference: {n / n_ref:.3f}")
    if cpu_before is not None and cpu_after is not None and n:
        # Less sensitive to other load on the machine than the rates (though not immune to it).
        print(f"server CPU per ingest request: {(cpu_after - cpu_before) / n * 1000:.1f} ms")
    met = events_per_s >= 20000 and pct(lat, 99) < 100
    print(f"target >= 20,000 events/s with p99 < 100 ms: {'MET' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
