"""Seamline's Python instrumentation: ASGI and WSGI middleware, log lines, logging filter, sinks."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import wsgiref.util
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from seamline.instrument import (
    HttpSink,
    JsonFormatter,
    SeamlineMiddleware,
    SeamlineWSGIMiddleware,
    TraceContextFilter,
    current,
    sampled,
    start_request,
    traceparent_meta,
)
from seamline.sources import Rejected, json_log
from seamline.sources._trace_context import parse_traceparent

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
VECTORS = Path(__file__).parents[1] / "sdk" / "test" / "sampling-vectors.json"
SHOP = "https://shop.example"


def make_app(log: io.BytesIO, **options: object) -> FastAPI:
    """A FastAPI app with a few routes behind the middleware, logging to `log`."""
    app = FastAPI()
    seen: dict[str, object] = {}
    logger = logging.getLogger("test_instrument.app")

    @app.get("/product/{product_id}")
    def product(product_id: int) -> dict[str, object]:
        seen["ctx"] = current()
        logger.warning("looked at %s", product_id)
        return {"id": product_id}

    @app.get("/page", response_class=HTMLResponse)
    def page() -> str:
        return f"<html><head>{traceparent_meta()}</head></html>"

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(404, "nope")

    app.add_middleware(SeamlineMiddleware, service="shop-api", sink=log, **options)
    app.state.seen = seen
    return app


def call(app: object, method: str, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """One request through httpx's ASGI transport."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, url, headers=headers)

    return asyncio.run(go())


def lines(log: io.BytesIO) -> list[dict]:
    """The JSON lines written so far."""
    return [orjson.loads(line) for line in log.getvalue().splitlines()]


def parsed(log: io.BytesIO) -> list[dict]:
    """The log lines as the json_log source reads them."""
    parser = json_log.make_parser({})
    rows = [row for line in log.getvalue().splitlines() for row in parser(line)]
    assert not [r for r in rows if isinstance(r, Rejected)]
    assert parser.preset == "structlog"  # type: ignore[attr-defined]
    return rows


def timing_traceparent(response: httpx.Response) -> str:
    """The traceparent handed back in Server-Timing."""
    header = response.headers["server-timing"]
    return header.split('traceparent;desc="', 1)[1].split('"', 1)[0]


def test_incoming_traceparent_is_continued_with_a_new_server_span() -> None:
    """The caller's trace id is kept, its span becomes the parent, and Server-Timing names the new span."""
    log = io.BytesIO()
    app = make_app(log)
    response = call(app, "GET", "/product/3", {"traceparent": INCOMING})
    assert response.status_code == 200
    ctx = parse_traceparent(timing_traceparent(response))
    assert ctx is not None
    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.span_id != "00f067aa0ba902b7"
    assert ctx.sampled
    seen = app.state.seen["ctx"]
    assert (seen.trace_id, seen.span_id, seen.parent_span_id) == (ctx.trace_id, ctx.span_id, "00f067aa0ba902b7")
    (line,) = lines(log)
    assert line["trace_id"] == ctx.trace_id
    assert line["span_id"] == ctx.span_id
    assert line["parent_span_id"] == "00f067aa0ba902b7"
    assert line["route"] == "/product/{product_id}"
    assert line["path"] == "/product/3"


def test_invalid_or_missing_traceparent_starts_a_new_trace() -> None:
    """A malformed header is ignored: the request starts a trace of its own with no parent."""
    log = io.BytesIO()
    app = make_app(log)
    for header in ({"traceparent": "00-zz-yy-01"}, {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}, {}):
        response = call(app, "GET", "/product/1", header)
        ctx = parse_traceparent(timing_traceparent(response))
        assert ctx is not None and ctx.trace_id != "0" * 32
    records = lines(log)
    assert len(records) == 3
    assert len({r["trace_id"] for r in records}) == 3
    assert all("parent_span_id" not in r for r in records)


def test_new_traces_are_sampled_by_the_shared_rule() -> None:
    """At rate 0 a new trace is marked unsampled (flags 00); an incoming decision is kept as sent."""
    log = io.BytesIO()
    app = make_app(log, sample_rate=0.0)
    assert timing_traceparent(call(app, "GET", "/product/1")).endswith("-00")
    assert timing_traceparent(call(app, "GET", "/product/1", {"traceparent": INCOMING})).endswith("-01")
    assert [r["trace_flags"] for r in lines(log)] == ["00", "01"]


def test_sampling_rule_matches_the_browser_sdk_vectors() -> None:
    """The server's decision for each shared vector is the one the SDK's unit test expects."""
    vectors = orjson.loads(VECTORS.read_bytes())["vectors"]
    assert vectors
    for v in vectors:
        assert sampled(v["trace_id"], v["rate"]) is v["sampled"], v
    ctx = start_request(None, None, 0.25)
    assert ctx.sampled is sampled(ctx.trace_id, 0.25)


def test_request_id_is_reused_when_sane_and_made_otherwise() -> None:
    """A sane X-Request-ID is echoed and logged; a hostile one is replaced by a fresh id."""
    log = io.BytesIO()
    app = make_app(log)
    assert call(app, "GET", "/product/1", {"x-request-id": "req-42.a"}).headers["x-request-id"] == "req-42.a"
    replaced = call(app, "GET", "/product/1", {"x-request-id": 'bad id"<script>'}).headers["x-request-id"]
    assert replaced != 'bad id"<script>' and len(replaced) == 32
    made = call(app, "GET", "/product/1").headers["x-request-id"]
    assert [r["request_id"] for r in lines(log)] == ["req-42.a", replaced, made]


def test_cors_preflight_from_a_configured_origin_may_send_trace_headers() -> None:
    """A preflight from an allowed origin is answered with traceparent and tracestate allowed."""
    log = io.BytesIO()
    app = make_app(log, cors_origins=[SHOP + "/"])
    headers = {
        "origin": SHOP,
        "access-control-request-method": "POST",
        "access-control-request-headers": "traceparent,tracestate,content-type",
    }
    response = call(app, "OPTIONS", "/product/1", headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"traceparent", "tracestate", "content-type"} <= allowed
    other = call(app, "OPTIONS", "/product/1", {**headers, "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    assert [r["status"] for r in lines(log)] == [204, other.status_code]


def test_cross_origin_responses_expose_server_timing() -> None:
    """For an allowed origin the response exposes Server-Timing to scripts and to resource timing."""
    log = io.BytesIO()
    app = make_app(log, cors_origins=[SHOP])
    response = call(app, "GET", "/product/1", {"origin": SHOP, "traceparent": INCOMING})
    assert "server-timing" in response.headers["access-control-expose-headers"]
    assert response.headers["timing-allow-origin"] == SHOP
    assert response.headers["access-control-allow-origin"] == SHOP
    stranger = call(app, "GET", "/product/1", {"origin": "https://evil.example"})
    assert "timing-allow-origin" not in stranger.headers
    assert "server-timing" in stranger.headers  # same-origin pages still read it


def test_one_log_line_per_request_and_json_log_reads_the_ids() -> None:
    """Each request writes exactly one line, and json_log turns it into a server_request with the right ids."""
    log = io.BytesIO()
    app = make_app(log)
    ok = call(app, "GET", "/product/9", {"traceparent": INCOMING, "user-agent": "pytest-agent"})
    call(app, "GET", "/missing")
    call(app, "GET", "/boom")
    rows = parsed(log)
    assert len(rows) == 3
    first = rows[0]
    server = parse_traceparent(timing_traceparent(ok))
    assert server is not None
    assert first["kind"] == "server_request"
    assert first["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert first["span_id"] == server.span_id
    assert first["parent_span_id"] == "00f067aa0ba902b7"
    assert first["trace_sampled"] is True
    assert first["request_id"] == ok.headers["x-request-id"]
    assert (first["http_method"], first["http_status"], first["route"]) == ("GET", 200, "/product/{product_id}")
    assert first["url"] == "/product/9"
    assert first["service"] == "shop-api"
    assert first["user_agent"] == "pytest-agent"
    assert first["level"] == "info"
    assert first["message"] == "request"
    assert 0 <= first["duration_ms"] < 5000
    assert first["ts"] > 1.7e15  # µs since epoch
    assert rows[1]["http_status"] == 404
    crash = rows[2]
    assert (crash["http_status"], crash["level"], crash["error_type"]) == (500, "error", "RuntimeError")


def test_meta_tag_names_the_request_serving_the_page() -> None:
    """traceparent_meta() renders the server span of the request that built the page."""
    log = io.BytesIO()
    response = call(make_app(log), "GET", "/page")
    assert f'<meta name="traceparent" content="{timing_traceparent(response)}">' in response.text
    assert traceparent_meta() == ""  # outside a request


def test_logging_filter_stamps_the_request_ids(caplog: pytest.LogCaptureFixture) -> None:
    """Records made during a request carry its ids; records outside one carry empty strings."""
    log = io.BytesIO()
    app = make_app(log)
    stamp = TraceContextFilter()
    caplog.handler.addFilter(stamp)
    try:
        with caplog.at_level(logging.WARNING, logger="test_instrument.app"):
            response = call(app, "GET", "/product/5", {"traceparent": INCOMING, "x-request-id": "r-5"})
            logging.getLogger("test_instrument.app").warning("outside")
    finally:
        caplog.handler.removeFilter(stamp)
    inside, outside = caplog.records
    server = parse_traceparent(timing_traceparent(response))
    assert server is not None
    assert (inside.trace_id, inside.span_id, inside.request_id) == (server.trace_id, server.span_id, "r-5")
    assert (outside.trace_id, outside.span_id, outside.request_id) == ("", "", "")


def test_json_formatter_lines_are_read_by_json_log() -> None:
    """App log lines from JsonFormatter parse as server_log rows with the request's ids."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(JsonFormatter(service="shop-api"))
    logger = logging.getLogger("test_instrument.formatter")
    logger.addHandler(handler)
    logger.propagate = False
    app = make_app(io.BytesIO())

    @app.get("/order")
    def order() -> dict[str, str]:
        logger.warning("order placed", extra={"order_id": "o_1"})
        return {}

    try:
        call(app, "GET", "/order", {"traceparent": INCOMING})
    finally:
        logger.removeHandler(handler)
    (row,) = json_log.make_parser({})(stream.getvalue().strip().encode())
    assert row["kind"] == "server_log"
    assert row["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert row["message"] == "order placed"
    assert row["level"] == "warn"
    assert row["attributes"]["order_id"] == "o_1"


# --- WSGI -------------------------------------------------------------------------------------


def wsgi_app(environ: dict, start_response: object) -> list[bytes]:
    """A plain WSGI app: 200 with the current trace id, or an exception on /boom."""
    if environ["PATH_INFO"] == "/boom":
        raise ValueError("bad")
    ctx = current()
    start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
    return [ctx.trace_id.encode() if ctx else b"none"]


def wsgi_call(app: object, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple:
    """Run one WSGI request; (status line, header dict, body)."""
    environ: dict = {"REQUEST_METHOD": method, "PATH_INFO": path}
    wsgiref.util.setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    for key, value in (headers or {}).items():
        environ["HTTP_" + key.upper().replace("-", "_")] = value
    got: dict = {}

    def start_response(status: str, response_headers: list, exc_info: object = None) -> object:
        got["status"], got["headers"] = status, dict(response_headers)
        return lambda data: None

    result = app(environ, start_response)  # type: ignore[operator]
    try:
        body = b"".join(result)
    finally:
        result.close()
    return got["status"], {k.lower(): v for k, v in got["headers"].items()}, body


def test_wsgi_middleware_continues_the_trace_and_logs_one_line() -> None:
    """The WSGI middleware keeps the trace, adds the headers, and writes a line json_log reads."""
    log = io.BytesIO()
    app = SeamlineWSGIMiddleware(wsgi_app, service="legacy", sink=log, route_of=lambda env: "/items/{id}")
    status, headers, body = wsgi_call(app, "/items/7", headers={"traceparent": INCOMING, "x-request-id": "w-1"})
    assert status == "200 OK"
    assert body == b"4bf92f3577b34da6a3ce929d0e0e4736"
    server = parse_traceparent(headers["server-timing"].split('desc="')[1].split('"')[0])
    assert server is not None and server.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert headers["x-request-id"] == "w-1"
    (row,) = parsed(log)
    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (
        server.trace_id,
        server.span_id,
        "00f067aa0ba902b7",
    )
    assert (row["route"], row["http_status"], row["response_bytes"]) == ("/items/{id}", 200, 32)
    assert row["service"] == "legacy"
    assert current() is None  # the context ends with the response


def test_wsgi_preflight_and_new_trace_and_errors() -> None:
    """WSGI answers allowed preflights, starts a trace for bad headers, and logs a crash as a 500."""
    log = io.BytesIO()
    app = SeamlineWSGIMiddleware(wsgi_app, service="legacy", sink=log, cors_origins=[SHOP])
    status, headers, _ = wsgi_call(app, "/items/1", "OPTIONS", {"origin": SHOP, "access-control-request-method": "PUT"})
    assert status.startswith("204")
    assert "traceparent" in headers["access-control-allow-headers"]
    _, headers, _ = wsgi_call(app, "/items/1", headers={"traceparent": "garbage", "origin": SHOP})
    assert headers["timing-allow-origin"] == SHOP
    with pytest.raises(ValueError):
        wsgi_call(app, "/boom")
    records = lines(log)
    assert [r["status"] for r in records] == [204, 200, 500]
    assert "parent_span_id" not in records[1]
    assert "ValueError" in records[2]["exception"]


# --- posting to Seamline --------------------------------------------------------------------


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A loopback HTTP server that records what is posted to it."""
    received: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_http_sink_posts_batches_to_json_logs(collector: tuple[str, list[tuple[str, bytes]]]) -> None:
    """Lines given to the HTTP sink arrive as NDJSON on /v1/json-logs, in batches, all of them."""
    url, received = collector
    sink = HttpSink(url, service="shop-api", batch_size=3, interval=0.05)
    app = make_app(io.BytesIO())
    app.user_middleware.clear()
    app.add_middleware(SeamlineMiddleware, service="shop-api", sink=sink)
    for i in range(7):
        call(app, "GET", f"/product/{i}")
    sink.close()
    assert all(path.startswith("/v1/json-logs?service=shop-api") for path, _ in received)
    posted = [orjson.loads(line) for _, body in received for line in body.splitlines()]
    assert [p["path"] for p in posted] == [f"/product/{i}" for i in range(7)]
    assert len(received) >= 3
    assert sink.dropped == 0


def test_http_sink_drops_rather_than_blocks_when_the_queue_is_full() -> None:
    """With Seamline unreachable and the queue full, new lines are counted as dropped."""
    sink = HttpSink("http://127.0.0.1:9", batch_size=1000, interval=60, max_queue=2, timeout=0.05)
    for i in range(5):
        sink.write({"event": "x", "i": i})
    assert sink.dropped >= 2
    sink.close()


def test_file_sink_appends_lines(tmp_path: Path) -> None:
    """A path as sink appends one JSON line per request to the file, creating its folder."""
    path = tmp_path / "logs" / "shop.ndjson"
    app = FastAPI()

    @app.get("/")
    def root() -> dict[str, str]:
        return {}

    mw = SeamlineMiddleware(app, service="shop", sink=str(path))
    call(mw, "GET", "/")
    call(mw, "GET", "/")
    mw.close()
    assert [orjson.loads(line)["status"] for line in path.read_bytes().splitlines()] == [200, 200]


def test_demo_shop_pages_load_the_sdk_and_link_their_document(tmp_path: Path) -> None:
    """Every shop page loads the SDK from Seamline and names its own request; the API flow logs each call."""
    from seamline.demo_shop import create_shop

    log = tmp_path / "shop.ndjson"
    shop = create_shop("http://127.0.0.1:8470", log=log)

    async def journey() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=shop)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            pages = [await client.get(p) for p in ("/", "/products", "/product/1", "/cart", "/checkout")]
            await client.post("/api/cart", json={"product_id": 1})
            pages.append(await client.post("/api/checkout", json={}))
            return pages

    responses = asyncio.run(journey())
    for page in responses[:5]:
        assert page.status_code == 200
        assert 'from "http://127.0.0.1:8470/sdk/seamline.min.js"' in page.text
        assert f'<meta name="traceparent" content="{timing_traceparent(page)}">' in page.text
    assert responses[5].json()["order_id"].startswith("o_")
    rows = [row for line in log.read_bytes().splitlines() for row in json_log.make_parser({})(line)]
    requests = [r for r in rows if r["kind"] == "server_request"]
    assert [r["url"] for r in requests][-2:] == ["/api/cart", "/api/checkout"]
    assert requests[2]["route"] == "/product/{product_id}"
    placed = next(r for r in rows if r.get("message") == "order placed")
    assert placed["trace_id"] == requests[-1]["trace_id"]
