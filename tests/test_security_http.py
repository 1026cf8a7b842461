"""Attacks on a real `seamline serve`: SQL injection, path traversal, oversized, nested and compressed
bodies, malformed protobuf, odd content types and slow bodies. Each gets a clear 4xx and the
server stays healthy."""

from __future__ import annotations

import gzip
import itertools
import os
import re
import sys
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest
from google.rpc.status_pb2 import Status

from _security_http import (
    CANARY_SECRET,
    DROP,
    FIXTURES,
    SQLI,
    Route,
    app_routes,
    leaks,
    raw_request,
    seed_home,
    trickle,
)
from _server import Server, running_server
from seamline.store import DuckDBStore

sys.path.insert(0, str(FIXTURES / "otlp_traces" / "protobuf"))
RECENT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
LIMIT = 1_000_000  # max_body_bytes of the limits server
SLOW_S = 2.0  # body_timeout_seconds of the limits server


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with fixture data and a canary table, shared by this module's servers."""
    home = tmp_path_factory.mktemp("security") / "home"
    home.mkdir()
    seed_home(home)
    return home


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[Route]:
    """Every route of the app, read from a throwaway instance."""
    home = tmp_path_factory.mktemp("routes") / "home"
    home.mkdir()
    return app_routes(home)


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a 1 MB body limit and a 2 s body deadline."""
    home = tmp_path_factory.mktemp("limits") / "home"
    home.mkdir()
    env = {"SEAMLINE_MAX_BODY_BYTES": str(LIMIT), "SEAMLINE_BODY_TIMEOUT_SECONDS": str(SLOW_S)}
    with running_server(home, env) as server:
        yield server


def _healthy(server: Server) -> None:
    r = httpx.get(server.url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok", "the server stays healthy"


def _clean_4xx(r: httpx.Response, *allowed: int) -> None:
    assert 400 <= r.status_code < 500, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:300]}"
    if allowed:
        assert r.status_code in allowed, f"{r.status_code} not in {allowed}: {r.text[:300]}"
    assert not leaks(r.text), f"leaked {leaks(r.text)}: {r.text[:300]}"


# --- SQL injection ---------------------------------------------------------------------------
def _concrete(path: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        path = path.replace("{" + key + "}", quote(value, safe=""))
    return path


def test_route_list_covers_the_api(routes: list[Route]) -> None:
    """The route list read from the app holds the ingest, view, saved-view, SDK and page routes."""
    paths = {r.path for r in routes}
    for expected in ("/v1/client", "/v1/traces", "/api/views/{name}", "/api/saved-views/{view_id}", "/sdk/{name}", "/"):
        assert expected in paths
    assert len(routes) >= 25


def _cases(route: Route, payloads: Iterator[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """(concrete path, query) pairs putting an injection in each path and query parameter in turn."""
    from seamline.views import VIEWS

    if route.path == "/api/views/{name}":
        yield _concrete(route.path, {"name": DROP}), {}
        for name, view in sorted(VIEWS.items()):
            path = f"/api/views/{name}"
            yield path, {}
            for param in (*route.query_params, *(p.name for p in view.params)):
                yield path, {param: next(payloads)}
        return
    plain = _concrete(route.path, dict.fromkeys(route.path_params, "x"))
    for param in route.path_params:
        for payload in (DROP, next(payloads)):
            yield _concrete(route.path, {p: (payload if p == param else "x") for p in route.path_params}), {}
    yield plain, {}
    for param in route.query_params:
        yield plain, {param: next(payloads)}


def test_sql_injection_through_every_parameter(seeded: Path, routes: list[Route]) -> None:
    """Injections in every path, query and body parameter of every route: no 500, no SQL error text, canary intact."""
    payloads = itertools.cycle(SQLI)
    env = {"SEAMLINE_CORRELATE_INTERVAL_SECONDS": "0"}  # correlated beforehand; no refresh mid-test
    with running_server(seeded, env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        # Second-order first: injected strings stored through ingest then reach every view below.
        _ingest_injections(client)
        requests: list[tuple[str, str, dict[str, str], bytes | None]] = []
        for route in routes:
            if route.path.startswith("/v1/"):
                payload = next(payloads)
                requests.append(("POST", route.path, {"service": payload, "preset": payload}, b"{}"))
                continue
            for method in sorted(route.methods - {"HEAD"}):
                for path, query in _cases(route, payloads):
                    payload = next(iter(query.values()), None) or next(payloads)
                    requests.append((method, path, query, _body_for(route.path, payload)))

        def send(request: tuple[str, str, dict[str, str], bytes | None]) -> str | None:
            method, path, query, body = request
            try:
                r = client.request(method, path, params=query, content=body)
            except httpx.TransportError as exc:
                return f"{method} {path} {query} -> {type(exc).__name__}: {exc}"
            if r.status_code >= 500 or leaks(r.text):
                return f"{method} {path} {query} -> {r.status_code} {leaks(r.text)}: {r.text[:300]}"
            return None

        with ThreadPoolExecutor(4) as pool:  # the server reads with a cursor per request; use that
            failures = [f for f in pool.map(send, requests) if f]
        assert not failures, "\n".join(failures[:10])
        sent = len(requests)
        _healthy(server)
    assert sent > 200, f"only {sent} requests were sent"
    store = DuckDBStore(seeded / "seamline.duckdb", read_only=True)
    try:
        assert store.query("SELECT id, secret FROM security_canary").to_pylist() == [{"id": 1, "secret": CANARY_SECRET}]
        assert {"events", "quarantine", "saved_views"} <= set(store.tables())
        names = set(store.query("SELECT name FROM saved_views").column(0).to_pylist())
        assert names & set(SQLI), "injections arrive as plain text in the data, never as SQL"
        pages = set(store.query("SELECT DISTINCT page FROM transaction_facts").column(0).to_pylist())
        assert pages & set(SQLI), "the views above read injected strings back from the facts"
    finally:
        store.close()
    assert not Path("/tmp/seamline-h7-leak.csv").exists() and not Path("/tmp/seamline-h7.db").exists()


def _body_for(path: str, payload: str) -> bytes | None:
    if not path.startswith("/api/saved-views"):
        return None
    return orjson.dumps(
        {
            "name": payload,
            "team": payload,
            "page": "failures",
            "query": f"range=24h&release={payload}",
            "description": payload,
            "based_on": payload,
        }
    )


def _ingest_injections(client: httpx.Client) -> None:
    """Client batches, Segment calls and log lines whose string fields are injections, sent live."""
    from _security_http import poison_batch

    r = client.post("/v1/client", content=orjson.dumps(poison_batch(100)))
    assert r.status_code < 500 and not leaks(r.text), r.text[:300]
    for payload in SQLI:
        log = {"timestamp": RECENT, "level": "error", "message": payload, "route": payload}
        r = client.post("/v1/json-logs", params={"service": payload}, content=orjson.dumps(log))
        assert r.status_code < 500 and not leaks(r.text), r.text[:300]
        call = {"type": "track", "event": payload, "userId": payload, "timestamp": RECENT}
        r = client.post("/v1/track", content=orjson.dumps(call))
        assert r.status_code < 500 and not leaks(r.text), r.text[:300]


# --- path traversal --------------------------------------------------------------------------
TRAVERSALS = (
    "..%2F..%2F..%2F..%2Fpyproject.toml",
    "..%2f..%2fserver.py",
    "%2e%2e%2f%2e%2e%2fsettings.js",
    "..%5C..%5Cserver.py",
    "....%2F%2F....%2F%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "..",
    "%2e%2e",
    ".env",
    "seamline.min.js%00.txt",
    "..%252F..%252Fetc%252Fpasswd",
    "..%c0%af..%c0%afetc%c0%afpasswd",
)


def test_path_traversal_is_refused(limits_server: Server, routes: list[Route], tmp_path: Path) -> None:
    """Names with dot segments, encoded slashes or NULs, on every route taking a name, never serve an outside file."""
    secret = "traversal-canary-4411"
    outside = tmp_path / "outside.js"
    outside.write_text(f"var s='{secret}';")
    rel = os.path.relpath(outside, Path(__file__).parent.parent / "src" / "seamline" / "web" / "static")
    extra = (rel.replace("/", "%2F"), str(outside).replace("/", "%2F"))
    server = limits_server
    static = ("/sdk/{name}", "/ui/static/{name}")
    named = [r.path for r in routes if r.path_params and "GET" in r.methods]
    assert set(static) <= set(named)
    for template in named:
        # Every trick on the static file routes; a sample on routes that look a name up in the store.
        names = TRAVERSALS + extra if template in static else (TRAVERSALS[0], TRAVERSALS[2], TRAVERSALS[9], extra[1])
        for name in names:
            decoded = name.replace("%2F", "/").replace("%2f", "/")
            for value in {name, decoded}:
                target = template
                for param in re.findall(r"{(\w+)(?::\w+)?}", template):
                    target = re.sub(r"{" + param + r"(?::\w+)?}", value.replace("\\", "\\\\"), target)
                status, answer = raw_request(
                    server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                )
                text = answer.decode("latin-1")
                assert status and status < 500, f"{target} -> {status}"
                assert secret not in text and "root:x:0:0" not in text and "[project]" not in text, target
                if template in static:
                    assert status in (400, 404), f"{target} -> {status}"
    status, _ = raw_request(server.port, b"GET /sdk/seamline.min.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200, "the real SDK file is still served"
    _healthy(server)


# --- bodies ----------------------------------------------------------------------------------
INGEST_ROUTES = ("/v1/client", "/v1/batch", "/v1/traces", "/v1/logs", "/v1/json-logs")


def test_oversized_bodies_get_413(limits_server: Server) -> None:
    """Bodies over max_body_bytes (declared, chunked, or after gunzip) are 413 on ingest and UI routes."""
    big = b"x" * (LIMIT + 10)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    with httpx.Client(base_url=limits_server.url, timeout=30) as client:
        for path in (*INGEST_ROUTES, "/api/saved-views"):
            _clean_4xx(client.post(path, content=big), 413)
            _clean_4xx(client.post(path, content=chunks()), 413)
        inflated = gzip.compress(b"[" + b" " * (LIMIT + 10) + b"]")
        for path in INGEST_ROUTES:
            _clean_4xx(client.post(path, content=inflated, headers={"content-encoding": "gzip"}), 413)
    _healthy(limits_server)


def test_decompression_bombs_and_bad_encodings(limits_server: Server) -> None:
    """A 256 MB gzip bomb, nested gzip, truncated or trailing-garbage gzip and unknown encodings are refused."""
    bomb = _gzip_zeros(1 << 28)
    assert len(bomb) < LIMIT
    good = orjson.dumps({"timestamp": RECENT, "message": "ok", "level": "info"})
    with httpx.Client(base_url=limits_server.url, timeout=60) as client:
        for path in INGEST_ROUTES:
            _clean_4xx(client.post(path, content=bomb, headers={"content-encoding": "gzip"}), 413)
            _clean_4xx(client.post(path, content=gzip.compress(bomb), headers={"content-encoding": "gzip, gzip"}), 415)
            for encoding in ("deflate", "br", "zstd", "compress", "gzip;q=1"):
                _clean_4xx(client.post(path, content=zlib.compress(good), headers={"content-encoding": encoding}), 415)
            _clean_4xx(client.post(path, content=gzip.compress(good)[:-6], headers={"content-encoding": "gzip"}), 400)
            _clean_4xx(
                client.post(path, content=gzip.compress(good) + b"junk", headers={"content-encoding": "gzip"}), 400
            )
            _clean_4xx(client.post(path, content=b"not gzip at all", headers={"content-encoding": "gzip"}), 400)
        # Concatenated gzip members are one body (as `cat a.gz b.gz` makes), not a silently cut one.
        half = len(good) // 2
        two = gzip.compress(good[:half]) + gzip.compress(good[half:])
        r = client.post("/v1/json-logs", content=two, headers={"content-encoding": "gzip"})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    _healthy(limits_server)


def _gzip_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    out = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join(out) + packer.flush()


def test_deeply_nested_json_is_a_clear_400(limits_server: Server) -> None:
    """JSON nested 100k levels deep is refused with a reason on every JSON route, without crashing."""
    deep_list = b"[" * 100_000 + b"]" * 100_000
    deep_obj = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    with httpx.Client(base_url=limits_server.url, timeout=60) as client:
        for body in (deep_list, deep_obj):
            for path in (*INGEST_ROUTES, "/v1/track", "/api/saved-views"):
                r = client.post(path, content=body, headers={"content-type": "application/json"})
                _clean_4xx(r, 400)
                assert r.json()["error"]
    _healthy(limits_server)


def test_malformed_protobuf_gets_400_with_a_status(limits_server: Server) -> None:
    """Random, truncated and wrong-signal protobuf on OTLP routes is a 400 carrying a google.rpc.Status."""
    from make_binpb import to_protobuf

    traces = (FIXTURES / "otlp_traces" / "protobuf" / "request.binpb").read_bytes()
    logs = to_protobuf(orjson.loads((FIXTURES / "otlp_logs" / "logs.json").read_bytes().splitlines()[0]))
    garbage = (
        os.urandom(512),
        b"\x0a\xff\xff\xff\xff\x0f",  # a length far past the end
        b"\x0a" * 50_000,  # nested length prefixes
        b'{"resourceSpans": [',  # JSON, cut, sent as protobuf
    )
    headers = {"content-type": "application/x-protobuf"}
    with httpx.Client(base_url=limits_server.url, timeout=30) as client:
        for path, valid, other in (("/v1/traces", traces, logs), ("/v1/logs", logs, traces)):
            r = client.post(path, content=valid, headers=headers)
            assert r.status_code == 200, r.content
            for body in (*garbage, valid[: len(valid) // 2], valid[:-3] + b"\xff\xff\xff", other):
                r = client.post(path, content=body, headers=headers)
                assert r.status_code == 400, (path, body[:20], r.status_code)
                assert r.headers["content-type"] == "application/x-protobuf"
                status = Status.FromString(r.content)
                assert status.code == 400 and status.message
    _healthy(limits_server)


def test_wrong_content_types_are_parsed_by_body_not_trusted(limits_server: Server) -> None:
    """A garbage body is a 4xx whatever the Content-Type claims (XML, form, protobuf on JSON routes)."""
    with httpx.Client(base_url=limits_server.url, timeout=30) as client:
        for path in (*INGEST_ROUTES, "/api/saved-views"):
            for ctype in ("application/xml", "multipart/form-data; boundary=x", "application/x-protobuf", "", "a/b;;;"):
                r = client.post(path, content=b"<xml>\x00\xff</xml>", headers={"content-type": ctype})
                assert 400 <= r.status_code < 500 and not leaks(r.text), (path, ctype, r.status_code, r.text[:200])
    _healthy(limits_server)


# --- slow bodies -----------------------------------------------------------------------------
def test_slow_body_is_cut_off_in_bounded_time(limits_server: Server) -> None:
    """Clients trickling a body (sized or chunked) or sending none at all are answered 408 soon after the deadline."""
    port, give_up = limits_server.port, SLOW_S + 8
    attempts = []
    for path in ("/v1/client", "/v1/traces", "/api/saved-views"):
        sized = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        chunked = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        attempts += [(sized.encode(), b"{"), (chunked.encode(), b"1\r\n \r\n"), (sized.encode(), b"")]
    # All at once: the deadline must hold for each of many slow clients, not only for one.
    with ThreadPoolExecutor(len(attempts)) as pool:
        results = list(pool.map(lambda a: trickle(port, a[0], a[1], every_s=0.3, give_up_s=give_up), attempts))
    for (head, _), (status, seconds, answer) in zip(attempts, results, strict=True):
        assert status == 408, (head[:40], answer[:300])
        assert SLOW_S - 0.2 <= seconds <= SLOW_S + 3, f"{head[:40]!r} answered after {seconds:.1f} s"
    _healthy(limits_server)
