"""The browser SDK end to end: real chromium, the demo shop, a real `seamline serve`, and the store.

Browser tests drive Debian's chromium (never a downloaded build) through Playwright; they are
skipped when /usr/bin/chromium is missing. Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import orjson
import pytest

from _server import Server, free_port
from seamline.correlate import correlate
from seamline.store import DuckDBStore

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request, Response

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
BUILT = ROOT / "src" / "seamline" / "web" / "static" / "seamline.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_browser = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")


# --- the built SDK and its route (no browser needed) ------------------------------------------


def test_committed_bundle_matches_a_fresh_build() -> None:
    """The built seamline.min.js in the package is what `npm run build` makes from sdk/src."""
    if shutil.which("node") is None or not (ROOT / "sdk" / "node_modules" / "esbuild").exists():
        pytest.skip("node or sdk/node_modules missing: run `cd sdk && npm ci`")
    result = subprocess.run(
        ["node", "scripts/build.js", "--check"], cwd=ROOT / "sdk", capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sdk_route_serves_the_bundle_with_caching_and_cors(home: Path) -> None:
    """GET /sdk/seamline.min.js returns the built file as JavaScript, cacheable, loadable cross-origin."""
    from seamline.app import App
    from seamline.settings import Settings
    from seamline.web.server import create_app

    application = App(Settings({"home": home}))

    async def fetch_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://seamline") as client:
            first = await client.get("/sdk/seamline.min.js", headers={"origin": "https://shop.example"})
            again = await client.get("/sdk/seamline.min.js", headers={"if-none-match": first.headers["etag"]})
            return [first, again, await client.get("/sdk/nothing.js"), await client.get("/sdk/..%2Fserver.py")]

    try:
        response, again, missing, escape = asyncio.run(fetch_all())
    finally:
        application.close()
    assert response.status_code == 200
    assert response.content == BUILT.read_bytes()
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age" in response.headers["cache-control"]
    assert response.headers["access-control-allow-origin"] in ("*", "https://shop.example")
    assert again.status_code == 304
    assert missing.status_code == 404
    assert escape.status_code == 404


# --- the running stack -----------------------------------------------------------------------------


@dataclass
class Stack:
    """A seamline server, a demo shop posting to it, and what the browser sent."""

    seamline: Server
    shop_url: str
    shop_log: Path
    batches: list[dict] = field(default_factory=list)  # client batches Seamline acknowledged
    api_headers: list[dict[str, str]] = field(default_factory=list)  # headers of the shop API calls

    def events(self) -> list[dict]:
        """Every acknowledged client event."""
        return [e for b in self.batches for e in b["events"]]

    def ingest_shop_log(self) -> None:
        """Post the shop's JSON log to Seamline, as a log shipper would."""
        body = self.shop_log.read_bytes()
        response = httpx.post(f"{self.seamline.url}/v1/json-logs?service=demo-shop", content=body, timeout=10)
        assert response.status_code == 200, response.text

    def wait_for_quiet(self, page: Page, quiet: float = 0.6, timeout: float = 8.0) -> None:
        """Wait until Seamline stored nothing new for `quiet` seconds (beacons are invisible to Playwright)."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            rows = httpx.get(self.seamline.url + "/healthz", timeout=5).json()["rows_written"]
            if rows != last:
                last, since = rows, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            page.wait_for_timeout(100)

    def store(self) -> DuckDBStore:
        """The store, read-only: only after the server stopped."""
        return DuckDBStore(self.seamline.home / "seamline.duckdb", read_only=True)


@contextmanager
def running_stack(tmp_path: Path, sample_rate: float = 1.0) -> Iterator[Stack]:
    """Seamline and the demo shop on free loopback ports; both stopped afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    seamline = Server(home, free_port())
    port = free_port()
    log = tmp_path / "shop.ndjson"
    out = (tmp_path / "shop.out").open("wb")
    args = ["--port", str(port), "--seamline", seamline.url, "--log", str(log), "--sample-rate", str(sample_rate)]
    shop = subprocess.Popen(
        [sys.executable, "-m", "seamline.demo_shop", *args, "--flush-ms", "200"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/api/products", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if shop.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"demo shop did not start: {(tmp_path / 'shop.out').read_text()}")
            time.sleep(0.1)
        yield Stack(seamline, url, log)
    finally:
        shop.terminate()
        shop.wait(10)
        out.close()
        seamline.stop()


@contextmanager
def browser_page(stack: Stack) -> Iterator[Page]:
    """A fresh chromium context and page that records acknowledged batches and API headers."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1000, "height": 700})
        page = context.new_page()

        def on_response(response: Response) -> None:
            request = response.request
            if request.url.startswith(stack.seamline.url + "/v1/client") and response.status == 200:
                stack.batches.append(orjson.loads(request.post_data_buffer))

        def on_request(request: Request) -> None:
            if request.url.startswith(stack.shop_url + "/api/"):
                stack.api_headers.append(request.headers)

        # On the context, not the page: beacons sent while a page unloads are seen there too.
        context.on("response", on_response)
        context.on("request", on_request)
        page.on("pageerror", lambda exc: print("page error:", exc))
        try:
            yield page
        finally:
            context.close()
            browser.close()


def shot(page: Page, name: str) -> None:
    """Save a screenshot of the page under test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def wait_until(page: Page, check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Let the page run until `check()` holds (Playwright delivers events while it waits)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def sent(stack: Stack, kind: str, test: Callable[[dict], bool] = lambda e: True) -> list[dict]:
    """Acknowledged events of a wire type that pass `test`."""
    return [e for e in stack.events() if e["type"] == kind and test(e)]


# --- the journeys ------------------------------------------------------------------------------------


@needs_browser
@pytest.mark.browser
def test_click_fetch_and_server_log_share_one_trace(tmp_path: Path) -> None:
    """Click -> fetch -> server log line are linked by trace and span ids, and the first page view by its document."""
    with running_stack(tmp_path) as stack:
        with browser_page(stack) as page:
            page.goto(stack.shop_url + "/")
            page.wait_for_load_state("load")
            shot(page, "1-home")
            page.click("#shop-now")
            page.wait_for_url("**/products")
            shot(page, "2-products")
            page.click("#product-1")
            page.wait_for_url("**/product/1")
            page.click("#add-to-cart")
            page.wait_for_selector("#status:has-text('In your cart')")
            shot(page, "3-product")
            page.click("#go-to-cart")
            page.wait_for_selector("#lines:has-text('Trail runner')")
            shot(page, "4-cart")
            page.click("#checkout")
            page.wait_for_url("**/checkout")
            page.click("#pay")
            page.wait_for_selector("#status:has-text('placed')")
            shot(page, "5-checkout")
            wait_until(
                page,
                lambda: sent(stack, "request", lambda e: e["request"]["url"].endswith("/api/checkout")),
                "the checkout request to reach Seamline",
            )
            page.goto("about:blank")  # pagehide: the last events leave by beacon
            stack.wait_for_quiet(page)
        stack.ingest_shop_log()

    writable = DuckDBStore(stack.seamline.home / "seamline.duckdb")
    try:
        correlate(writable, full=True)
    finally:
        writable.close()
    store = stack.store()
    try:
        # One transaction holds the click, its fetch, the shop's request log line and its app log line.
        members = store.query(
            "SELECT e.kind, e.source, t.transaction_id FROM events a "
            "JOIN transactions t ON t.root_event_id = a.event_id "
            "JOIN event_transactions et ON et.transaction_id = t.transaction_id "
            "JOIN events e ON e.event_id = et.event_id "
            "WHERE a.kind = 'client_action' AND a.name LIKE 'button#add-to-cart%' AND t.links_exact >= 1"
        ).to_pylist()
        wanted = {
            ("client_action", "client_events"),
            ("client_request", "client_events"),
            ("server_request", "json_log"),
            ("server_log", "json_log"),
        }
        assert wanted <= {(m["kind"], m["source"]) for m in members}
        (action,) = store.query(
            "SELECT name, attributes['action_id'] AS action_id, trace_id FROM events "
            "WHERE kind = 'client_action' AND name LIKE 'button#add-to-cart%'"
        ).to_pylist()
        assert action["name"] == 'button#add-to-cart.btn[data-seamline-name="add-to-cart"]'
        (request,) = store.query(
            "SELECT trace_id, span_id, http_status, attributes['action_id'] AS action_id FROM events "
            "WHERE kind = 'client_request' AND http_method = 'POST' AND url LIKE '%/api/cart'"
        ).to_pylist()
        trace_id, span_id = request["trace_id"], request["span_id"]
        assert trace_id and span_id and request["http_status"] == 200
        assert request["action_id"] == action["action_id"]
        assert action["trace_id"] == trace_id
        # the header the shop received is the one the client_request row names
        assert f"00-{trace_id}-{span_id}-01" in [h.get("traceparent") for h in stack.api_headers]
        (server,) = store.query(
            "SELECT trace_id, parent_span_id, route, http_status FROM events "
            "WHERE kind = 'server_request' AND source = 'json_log' AND http_method = 'POST' AND url = '/api/cart'"
        ).to_pylist()
        assert (server["trace_id"], server["parent_span_id"], server["http_status"]) == (trace_id, span_id, 200)
        assert server["route"] == "/api/cart"
        # The app's own log line in that request carries the same trace (TraceContextFilter).
        assert store.scalar(
            "SELECT count(*) FROM events WHERE kind = 'server_log' AND message = 'cart updated' AND trace_id = ?",
            [trace_id],
        )
        # First page load: its page view names the trace of the document request that served it.
        views = store.query(
            "SELECT page, trace_id, parent_span_id FROM events WHERE kind = 'page_view' ORDER BY ts"
        ).to_pylist()
        assert [v["page"] for v in views][:2] == ["/", "/products"]
        home = store.query(
            "SELECT trace_id, span_id FROM events WHERE kind = 'server_request' AND source = 'json_log' "
            "AND http_method = 'GET' AND url = '/' ORDER BY ts LIMIT 1"
        ).to_pylist()[0]
        assert (views[0]["trace_id"], views[0]["parent_span_id"]) == (home["trace_id"], home["span_id"])
        kinds = {r["kind"] for r in store.query("SELECT DISTINCT kind FROM events").to_pylist()}
        assert {"page_view", "client_action", "client_request", "server_request", "server_log"} <= kinds
        # A batch whose answer the page never saw (it navigated away) may be sent again: the
        # store recognises the resent events and keeps them out of `events`.
        reasons = store.query("SELECT reason FROM quarantine").to_pylist()
        assert all(r["reason"].startswith("duplicate record") for r in reasons), reasons
        assert not store.scalar("SELECT count(*) - count(DISTINCT event_id) FROM events")
    finally:
        store.close()
    # The shop's traffic shows in the UI: the add-to-cart transaction's waterfall lists its layers.
    lanes = waterfall_rows(stack.seamline.home, members[0]["transaction_id"])
    assert {"client_action", "client_request", "server_request", "server_log"} <= {kind for kind, _ in lanes}
    assert any(kind == "server_log" and "cart updated" in what for kind, what in lanes), lanes


def waterfall_rows(home: Path, transaction_id: str) -> list[tuple[str, str]]:
    """Serve the UI on `home`, open one transaction's waterfall in chromium, return (kind, what) per row."""
    from playwright.sync_api import sync_playwright

    ui = Server(home, free_port())
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(f"{ui.url}/transactions/{transaction_id}?range=all")
                page.wait_for_function("document.body.dataset.ready", timeout=45_000)
                assert page.evaluate("document.body.dataset.ready") == "ok", page.inner_text("#status")
                assert page.evaluate("document.getElementById('chart-waterfall').data[0].y.length") > 0
                shot(page, "6-seamline-waterfall")
                body = httpx.get(f"{ui.url}/api/views/waterfall?ident={transaction_id}&range=all", timeout=30).json()
                shown = page.locator("#table-rows tbody tr").count()
                assert shown == len(body["rows"]), (shown, len(body["rows"]))
                return [(r["kind"], r["what"]) for r in body["rows"]]
            finally:
                browser.close()
    finally:
        ui.stop()


@needs_browser
@pytest.mark.browser
def test_sampling_zero_sends_nothing(tmp_path: Path) -> None:
    """At sample rate 0 the SDK posts no batch, and the shop's API calls say not sampled."""
    requests_to_seamline: list[str] = []
    with running_stack(tmp_path, sample_rate=0.0) as stack, browser_page(stack) as page:
        page.on(
            "request", lambda r: r.url.startswith(stack.seamline.url + "/v1/") and requests_to_seamline.append(r.url)
        )
        page.goto(stack.shop_url + "/product/2")
        page.click("#add-to-cart")
        page.wait_for_selector("#status:has-text('In your cart')")
        page.goto(stack.shop_url + "/cart")
        page.wait_for_selector("#lines:has-text('City sneaker')")
        page.wait_for_timeout(600)  # three flush intervals
        shot(page, "sampling-0")
        assert requests_to_seamline == []
        assert stack.api_headers and all(h["traceparent"].endswith("-00") for h in stack.api_headers)


@needs_browser
@pytest.mark.browser
def test_events_queue_while_seamline_is_unreachable_and_arrive_later(tmp_path: Path) -> None:
    """Blocked or offline, events wait in the browser's queue and arrive once Seamline is reachable."""
    with running_stack(tmp_path) as stack, browser_page(stack) as page:
        page.goto(stack.shop_url + "/product/3")
        page.wait_for_load_state("load")
        ingest = stack.seamline.url + "/v1/client"
        page.route(ingest + "*", lambda route: route.abort())
        page.click("#add-to-cart")
        page.wait_for_selector("#status:has-text('In your cart')")
        page.wait_for_timeout(700)
        queued = page.evaluate("localStorage.getItem('seamline.outbox')")
        assert queued and '"type":"action"' in queued
        assert not sent(stack, "action")
        page.unroute(ingest + "*")
        wait_until(page, lambda: sent(stack, "action"), "the blocked click to arrive after unblocking")
        blocked_action = sent(stack, "action")[0]["actionId"]

        page.context.set_offline(True)
        page.click("#add-to-cart")  # the shop's API is unreachable too: a request with status 0
        page.wait_for_timeout(700)
        assert len(sent(stack, "action")) == 1
        page.context.set_offline(False)
        wait_until(page, lambda: len(sent(stack, "action")) == 2, "the offline click to arrive once online")
        shot(page, "offline-recovered")
        offline_action = sent(stack, "action")[1]["actionId"]
        failed = sent(stack, "request", lambda e: e.get("actionId") == offline_action)
        assert failed and failed[0]["request"]["status"] == 0
        assert page.evaluate("localStorage.getItem('seamline.outbox')") is None

    store = stack.store()
    try:
        stored = {
            r["a"]
            for r in store.query(
                "SELECT attributes['action_id'] AS a FROM events WHERE kind = 'client_action'"
            ).to_pylist()
        }
        assert {blocked_action, offline_action} <= stored
    finally:
        store.close()
