"""What access control costs per request: the same requests against a server with and without tokens.

Both servers run in this process's lifetime, one after the other, on the same machine, so the
ratio (auth on / auth off) is the figure to read; absolute numbers move with machine load.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from _access_home import prepare
from _server import running_server

REQUESTS = 300
_ids = iter(range(10**9))  # every batch a new session, across rounds
ROUNDS = 3
T0 = 1_793_000_000_000.0


def _batch(i: int) -> dict[str, object]:
    return {
        "v": 1,
        "sentAt": T0 + 100,
        "session": {"id": f"bench-{i}", "anonymousId": "anon"},
        "context": {"app": {"name": "shop-web", "release": "web@1", "environment": "bench"}},
        "events": [{"type": "action", "id": f"bench-{i}-0", "ts": T0, "action": {"kind": "click"}}],
    }


def _measure(url: str, headers: dict[str, str]) -> dict[str, float]:
    rates = {}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for label, call in (
            ("view GET /api/views/dictionary", lambda i: client.get("/api/views/dictionary")),
            ("ingest POST /v1/client", lambda i: client.post("/v1/client", json=_batch(next(_ids)))),
        ):
            call(-1)  # warm up
            started = time.perf_counter()
            for i in range(REQUESTS):
                r = call(i)
                assert r.status_code == 200, (label, r.status_code, r.text[:200])
            rates[label] = REQUESTS / (time.perf_counter() - started)
    return rates


def main() -> None:
    """Print requests per second with auth off and on (best of interleaved rounds), and their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        off_home, on_home = Path(tmp) / "off", Path(tmp) / "on"
        off_home.mkdir()
        on_home.mkdir()
        admin = prepare(on_home).admin
        off: dict[str, float] = {}
        on: dict[str, float] = {}
        # Both servers run at once and the rounds alternate, so load drifting on the machine hits both alike.
        with running_server(off_home) as off_server, running_server(on_home) as on_server:
            for _ in range(ROUNDS):
                for label, rate in _measure(off_server.url, {}).items():
                    off[label] = max(off.get(label, 0.0), rate)
                for label, rate in _measure(on_server.url, {"authorization": f"Bearer {admin}"}).items():
                    on[label] = max(on.get(label, 0.0), rate)
    print(f"{REQUESTS} sequential requests per round, best of {ROUNDS} interleaved rounds, one client")
    for label in off:
        ratio = on[label] / off[label]
        print(f"  {label:34s} auth off {off[label]:7.0f}/s   auth on {on[label]:7.0f}/s   ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
