"""Helpers for the HTTP security tests: raw requests, the route list, a seeded home, leak checks."""

from __future__ import annotations

import itertools
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from seamline.app import App
from seamline.settings import Settings
from seamline.store import DuckDBStore

FIXTURES = Path(__file__).parent / "fixtures"
CANARY_SECRET = "canary-7f3c1e9b"
# Text that only a database error or a Python traceback would put in a response.
LEAK_MARKERS = (
    "Parser Error",
    "Binder Error",
    "Catalog Error",
    "Conversion Error",
    "Invalid Input Error",
    "INTERNAL Error",
    "Permission Error",
    "syntax error at",
    "duckdb.",
    "Traceback (most recent call last)",
    'File "/',
    CANARY_SECRET,
)
# Classic and DuckDB-flavoured injections; none contains a leak marker itself.
SQLI = (
    "'; DROP TABLE security_canary; --",
    "x' OR '1'='1",
    "1 OR 1=1",
    "x') UNION ALL SELECT secret, secret FROM security_canary --",
    "'; COPY security_canary TO '/tmp/seamline-h7-leak.csv'; --",
    "'; ATTACH '/tmp/seamline-h7.db' AS x; --",
    '" OR ""="',
    "$1; INSTALL httpfs; LOAD httpfs; --",
    "%' AND 1=(SELECT count(*) FROM security_canary) AND '%'='",
    "1e999",
    "-9223372036854775809",
    "\x00\u202e\ud7ff'--",
    "checkout:on' OR feature_flags IS NOT NULL --",
    "2026-11-02T10:00:00Z'; DROP TABLE events; --",
)
DROP = SQLI[0]


def seed_home(home: Path) -> None:
    """Fixture logs and client events ingested, then a canary table with a secret row."""
    app = App(Settings({"home": home}))
    try:
        for source, name in (
            ("nginx", "nginx/combined.log"),
            ("client_events", "client_events/all_types.ndjson"),
            ("otlp_traces", "otlp_traces/services.json"),
            ("json_log", "json_log/structlog.ndjson"),
        ):
            path = FIXTURES / name
            options_path = path.with_name(path.name.split(".")[0] + ".options.json")
            options = orjson.loads(options_path.read_bytes()) if options_path.exists() else {}
            app.ingestor.ingest_file(path, source=source, options=options)
        poisoned = home.parent / "poisoned.ndjson"
        poisoned.write_bytes(b"\n".join(orjson.dumps(poison_batch(i)) for i in range(len(SQLI))) + b"\n")
        app.ingestor.ingest_file(poisoned, source="client_events")
        app.writer.flush()
        # Correlated and summarised now, so views read the injected strings back from the facts
        # (second-order injection) without the server correlating while the test runs.
        from seamline.correlate import correlate
        from seamline.views.facts import refresh_facts

        correlate(app.store, full=True)
        refresh_facts(app.store)
    finally:
        app.close()
    store = DuckDBStore(home / "seamline.duckdb")
    try:
        store.execute("CREATE TABLE security_canary (id INTEGER, secret VARCHAR)")
        store.execute("INSERT INTO security_canary VALUES (1, ?)", [CANARY_SECRET])
    finally:
        store.close()


def poison_batch(start: int) -> dict[str, Any]:
    """The fixture client batch with every string value (ids, URLs, names, messages) an injection."""
    batch = orjson.loads((FIXTURES / "client_events" / "all_types.ndjson").read_bytes().splitlines()[0])
    payloads = itertools.islice(itertools.cycle(SQLI), start, None)
    keep = {"v", "type", "ts", "t", "sentAt", "receivedAt", "kind", "id"}

    def poison(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if k in keep else poison(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [poison(v) for v in value]
        return next(payloads) if isinstance(value, str) else value

    out = poison(batch)
    # Fresh times and ids, so the batch is neither too old nor a duplicate of the fixture.
    shift = time.time() * 1000 - 3_600_000 - float(batch["sentAt"])
    out["sentAt"] = batch["sentAt"] + shift
    out.pop("receivedAt", None)
    for i, event in enumerate(out.get("events", [])):
        if isinstance(event.get("ts"), int | float):
            event["ts"] += shift
        event["id"] = f"poison-{start}-{i}"
    return out


def leaks(text: str) -> list[str]:
    """The leak markers found in a response body."""
    return [m for m in LEAK_MARKERS if m in text]


@dataclass(frozen=True)
class Route:
    """One route of the app: its path template, methods and the names it reads from the query."""

    path: str
    methods: frozenset[str]
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]


def app_routes(home: Path) -> list[Route]:
    """Every HTTP route of `seamline serve`, read from the FastAPI app itself (UI pages included)."""
    from seamline.views._filters import FILTER_KEYS
    from seamline.web.server import create_app

    app = App(Settings({"home": home}))
    try:
        api = create_app(app)
        out = []
        for route in _walk(api.routes):
            declared = tuple(p.name for p in route.dependant.query_params)
            # Pages only echo filters into links (their data comes from /api/views), so one page
            # stands for all of them; the views run the filters as SQL, so each gets all of them.
            extra: tuple[str, ...] = FILTER_KEYS if route.path in ("/", "/api/views/{name}") else ()
            path_params = tuple(re.findall(r"{(\w+)(?::\w+)?}", route.path))
            out.append(Route(route.path, frozenset(route.methods), path_params, tuple(dict.fromkeys(declared + extra))))
        return out
    finally:
        app.writer.flush()
        app.close()


def _walk(routes: list[Any]) -> Iterator[Any]:
    """APIRoutes, including those of included routers (newer FastAPI keeps them behind a wrapper)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _walk(route.original_router.routes)


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send exact request bytes (no client-side path normalisation); the status and the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        while True:
            try:
                got = s.recv(65536)
            except TimeoutError:
                break
            if not got:
                break
            answer += got
            if b"\r\n\r\n" in answer:
                head, _, body = answer.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer


def trickle(port: int, head: bytes, piece: bytes, every_s: float, give_up_s: float) -> tuple[int, float, bytes]:
    """Send headers, then `piece` every `every_s` seconds until the server answers; (status, seconds, answer)."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=give_up_s) as s:
        s.sendall(head)
        while time.monotonic() - started < give_up_s:
            readable, _, _ = select.select([s], [], [], every_s)
            if readable:
                got = s.recv(65536)
                if not got:
                    break
                answer += got
                if b"\r\n\r\n" in answer:
                    break
                continue
            try:
                s.sendall(piece)
            except OSError:  # closed by the server; what it said is still readable
                continue
    return _status(answer), time.monotonic() - started, answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
