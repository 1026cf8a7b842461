"""Access control over real HTTP and the real CLI: tokens, roles, every route walked, secure defaults."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from fastapi import WebSocket
from typer.testing import CliRunner

from _access_home import Secrets, prepare
from _server import Server, free_port, running_server
from seamline.access._cli import command_paths
from seamline.access._http import flat_routes, route_requirement
from seamline.access.roles import CLI_CAPS, VIEW_CLASS, Cap, allows, cli_cap, route_cap
from seamline.app import App
from seamline.cli import app as cli_app
from seamline.settings import Settings
from seamline.views import VIEWS
from seamline.web.server import create_app

T0 = 1_793_000_000_000.0
UNKNOWN = "sl_000000000000_" + "A" * 43
LEGACY = "legacy-shared-ingest-secret"


@dataclass
class Live:
    """A running server on a home with one token per role."""

    server: Server
    secrets: Secrets

    @property
    def url(self) -> str:
        """Base URL."""
        return self.server.url


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`seamline serve` with access control on (and the legacy ingest token set), plus a little data."""
    home = tmp_path_factory.mktemp("access-home")
    secrets = prepare(home)
    with running_server(home, {"SEAMLINE_INGEST_TOKEN": LEGACY}) as server:
        r = httpx.post(server.url + "/v1/client", json=_batch("s-acc"), headers=_bearer(secrets.ingest))
        assert r.status_code == 200, r.text
        yield Live(server, secrets)


def _batch(session: str) -> dict[str, Any]:
    events = [{"type": "action", "id": f"{session}-{i}", "ts": T0 + i, "action": {"kind": "click"}} for i in range(2)]
    return {
        "v": 1,
        "sentAt": T0 + 100,
        "session": {"id": session, "anonymousId": "anon-1"},
        "context": {"app": {"name": "shop-web", "release": "web@1", "environment": "test"}},
        "events": events,
    }


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def _routes() -> list[tuple[str, str, Any]]:
    """(method, path template, route) of every route the server registers, other helpers' included."""
    import tempfile

    scratch = tempfile.mkdtemp(prefix="seamline-routes-")
    application = App(Settings({"home": scratch}))
    try:
        api = create_app(application)
        found = []
        for prefix, route in flat_routes(api.router.routes):
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method != "HEAD":
                    found.append((method, prefix + route.path, route))
        return found
    finally:
        application.close()


ROUTES = _routes()


def _concrete(template: str) -> list[tuple[str, dict[str, str]]]:
    """Concrete paths for a template: each view for /api/views/{name}, else 'x' for every parameter."""
    if template == "/api/views/{name}":
        return [(f"/api/views/{v}", {"name": v}) for v in ("flows", "waterfall", "session", "slow_transactions")]
    import re

    params = dict.fromkeys(re.findall(r"{(\w+)(?::\w+)?}", template), "x")
    path = re.sub(r"{(\w+)(?::\w+)?}", "x", template)
    return [(path, params)]


CASES = [
    (method, path, route_requirement(method, route, template, params))
    for method, template, route in ROUTES
    for path, params in _concrete(template)
]


_CLIENTS: dict[str, httpx.Client] = {}


def _send(live: Live, method: str, path: str, headers: Any = None, cookies: Any = None) -> httpx.Response:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    # One keep-alive client per server (building a client per request costs more than the request).
    client = _CLIENTS.setdefault(live.url, httpx.Client(base_url=live.url, timeout=30))
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if cookies:
        pairs.append(("cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
    return client.request(method, path, content=body, headers=pairs)


def _denied(r: httpx.Response, status: int) -> bool:
    return r.status_code == status and r.headers.get("x-seamline-access") == "denied"


def _weaker_role(cap: Cap) -> str | None:
    """The most powerful role that still lacks the capability."""
    for role in ("analyst", "viewer", "ingest"):
        if not allows(role, cap):
            return role
    return None


def test_every_route_is_classified_and_unknown_routes_need_admin() -> None:
    """The route walk sees the routes of every module, and an unlisted route defaults to admin."""
    templates = {t for _, t, _ in ROUTES}
    assert {"/v1/client", "/api/views/{name}", "/api/events/{event_id}", "/api/audit", "/login"} <= templates
    assert route_cap("GET", "/api/something-added-later") is Cap.ADMIN
    assert route_cap("GET", "/api/views/{name}", {"name": "a-view-nobody-classified"}) is Cap.ROWS


def test_every_view_is_classified_in_one_place() -> None:
    """Each view of the VIEWS registry is marked aggregate or row-level in roles.VIEW_CLASS."""
    assert set(VIEWS) <= set(VIEW_CLASS), f"classify: {sorted(set(VIEWS) - set(VIEW_CLASS))}"
    for name in ("waterfall", "session", "slow_transactions"):
        assert VIEW_CLASS[name] == "rows"


@pytest.mark.parametrize(("method", "path", "cap"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES])
def test_bypass_attempts_on_every_route(live: Live, method: str, path: str, cap: Cap) -> None:
    """No token, wrong, revoked, expired, query-string, malformed or too-weak credentials never get through."""
    s = live.secrets
    if cap is Cap.PUBLIC:
        r = _send(live, method, path)
        assert r.headers.get("x-seamline-access") != "denied", (method, path, r.status_code)
        return
    attempts: list[tuple[str, Any, Any]] = [
        ("no token", None, None),
        ("unknown token", _bearer(UNKNOWN), None),
        ("garbage token", _bearer("hunter2"), None),
        ("revoked token", _bearer(s.revoked), None),
        ("expired admin token", _bearer(s.expired), None),
        ("empty bearer", {"authorization": "Bearer"}, None),
        ("other scheme", {"authorization": f"Token {s.admin}"}, None),
        ("two values", {"authorization": f"Bearer {s.admin} {s.admin}"}, None),
        ("two headers", [("authorization", f"Bearer {s.admin}"), ("authorization", f"Bearer {s.viewer}")], None),
        ("bad basic", {"authorization": "Basic !!!not-base64"}, None),
        ("revoked cookie", None, {"seamline_token": s.revoked}),
    ]
    for label, headers, cookies in attempts:
        r = _send(live, method, path, headers, cookies)
        assert _denied(r, 401), (label, method, path, r.status_code, r.text[:200])
    # An admin secret in the URL is refused everywhere (only ingest tokens may travel there).
    sep = "&" if "?" in path else "?"
    r = _send(live, method, f"{path}{sep}token={s.admin}")
    assert _denied(r, 401), ("admin in query", method, path, r.status_code)
    if cap is not Cap.INGEST:  # Segment's write key (Basic) is only read on ingest routes
        basic = base64.b64encode(f"{s.admin}:".encode()).decode()
        assert _denied(_send(live, method, path, {"authorization": f"Basic {basic}"}), 401), (method, path)
    weaker = _weaker_role(cap)
    if weaker is not None:
        r = _send(live, method, path, _bearer(getattr(s, weaker)))
        assert _denied(r, 403), (weaker, method, path, r.status_code, r.text[:200])
        if cap is not Cap.INGEST:  # the UI cookie of a weaker token buys nothing more than its header
            r = _send(live, method, path, cookies={"seamline_token": getattr(s, weaker)})
            assert _denied(r, 403), ("cookie", weaker, method, path, r.status_code)
    r = _send(live, method, path, _bearer(s.admin))
    assert r.headers.get("x-seamline-access") != "denied" and r.status_code not in (401, 403), (method, path)


def test_viewer_reads_aggregates_but_no_rows(live: Live) -> None:
    """A viewer gets dashboards and aggregate views, and 403 on every row-level view and page."""
    v = _bearer(live.secrets.viewer)
    assert httpx.get(live.url + "/api/views/flows?range=all", headers=v).status_code == 200
    assert httpx.get(live.url + "/api/views/failures?range=all", headers=v).status_code == 200
    for path in (
        "/api/views/waterfall?ident=s-acc-0",
        "/api/views/session?session_id=s-acc",
        "/api/views/slow_transactions?range=all",
        "/api/events/s-acc-0",
        "/transactions/t1",
        "/sessions/s-acc",
    ):
        assert _denied(httpx.get(live.url + path, headers=v), 403), path
    analyst = httpx.get(live.url + "/api/views/session?session_id=s-acc", headers=_bearer(live.secrets.analyst))
    assert analyst.status_code == 200 and "s-acc" in analyst.text


def test_analyst_cannot_manage_tokens_or_read_the_audit_log(live: Live) -> None:
    """Token management and the audit log are for admins only."""
    a = _bearer(live.secrets.analyst)
    assert _denied(httpx.get(live.url + "/api/tokens", headers=a), 403)
    assert _denied(httpx.post(live.url + "/api/tokens", json={"name": "x", "role": "admin"}, headers=a), 403)
    assert _denied(httpx.delete(live.url + f"/api/tokens/{live.secrets.ids['viewer']}", headers=a), 403)
    assert _denied(httpx.get(live.url + "/api/audit", headers=a), 403)
    listed = httpx.get(live.url + "/api/tokens", headers=_bearer(live.secrets.admin)).json()["tokens"]
    assert {t["state"] for t in listed} == {"active", "revoked", "expired"}
    assert all("secret" not in t and "token_hash" not in t for t in listed)


def test_admin_creates_and_revokes_a_token_over_http(live: Live) -> None:
    """A token made through the API works at once and stops working the moment it is revoked."""
    admin = _bearer(live.secrets.admin)
    made = httpx.post(live.url + "/api/tokens", json={"name": "tmp", "role": "viewer", "expires": "1d"}, headers=admin)
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["secret"], made.json()["token_id"]
    assert httpx.get(live.url + "/api/views/flows", headers=_bearer(secret)).status_code == 200
    for _ in range(50):  # last use is recorded through the writer, shortly after the request
        listed = httpx.get(live.url + "/api/tokens", headers=admin).json()["tokens"]
        if next(t for t in listed if t["token_id"] == token_id)["last_used_at"]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("last_used_at was not recorded")
    assert httpx.delete(live.url + f"/api/tokens/{token_id}", headers=admin).status_code == 200
    assert _denied(httpx.get(live.url + "/api/views/flows", headers=_bearer(secret)), 401)
    assert httpx.delete(live.url + f"/api/tokens/{token_id}", headers=admin).status_code == 409
    bad = httpx.post(live.url + "/api/tokens", json={"name": "x", "role": "root"}, headers=admin)
    assert bad.status_code == 400 and "role must be one of" in bad.json()["error"]


def test_project_scoped_token_sees_only_its_environment(live: Live) -> None:
    """A viewer scoped to project 'test' has the environment filter pinned and cannot ask for another."""
    s = _bearer(live.secrets.scoped)
    pinned = httpx.get(live.url + "/api/views/filter_options?range=all", headers=s)
    assert pinned.status_code == 200
    assert _denied(httpx.get(live.url + "/api/views/flows?environment=production", headers=s), 403)
    same = httpx.get(live.url + "/api/views/flows?environment=test", headers=s)
    assert same.status_code == 200
    unasked = httpx.get(live.url + "/api/views/flows?range=all", headers=s)
    assert unasked.json()["filters"]["environment"] == "test"  # pinned without being asked
    assert _denied(httpx.post(live.url + "/api/saved-views", json={}, headers=s), 403)


def test_ingest_credentials(live: Live) -> None:
    """Ingest tokens work as Bearer, ?token= and Segment write key; the legacy setting still works; no reads."""
    s = live.secrets
    url = live.url + "/v1/client"
    assert httpx.post(url, json=_batch("s-q"), params={"token": s.ingest}).status_code == 200
    basic = base64.b64encode(f"{s.ingest}:".encode()).decode()
    assert (
        httpx.post(live.url + "/v1/batch", json={"batch": []}, headers={"authorization": f"Basic {basic}"}).status_code
        != 401
    )
    assert httpx.post(url, json=_batch("s-l"), headers=_bearer(LEGACY)).status_code == 200
    assert _denied(httpx.get(live.url + "/api/views/flows", headers=_bearer(LEGACY)), 401)
    assert _denied(httpx.get(live.url + "/api/views/flows", headers=_bearer(s.ingest)), 403)
    assert _denied(httpx.post(url, json=_batch("s-v"), headers=_bearer(s.viewer)), 403)


def test_login_page_sets_a_strict_httponly_cookie(live: Live) -> None:
    """Pages redirect to the login form; logging in sets the cookie; open redirects are refused; logout clears it."""
    with httpx.Client(base_url=live.url, follow_redirects=False) as client:
        r = client.get("/failures?range=all", headers={"accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Ffailures")
        bad = client.post("/login", data={"token": UNKNOWN, "next": "/"})
        assert bad.status_code == 401 and "unknown token" in bad.text
        forged = client.post("/login", data={"token": live.secrets.viewer}, headers={"origin": "https://evil.example"})
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
        ok = client.post("/login", data={"token": live.secrets.viewer, "next": "//evil.example/x"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/api/views/flows").status_code == 200  # the cookie now authenticates
        assert _denied(client.get("/api/views/waterfall?ident=x"), 403)
        assert client.get("/api/whoami").json()["role"] == "viewer"
        refused = client.get("/transactions/t1", headers={"accept": "text/html"})  # a link the viewer may not open
        assert refused.status_code == 403 and "analyst role" in refused.text and "<h1>Not allowed</h1>" in refused.text
        client.get("/logout")
        assert _denied(client.get("/api/views/flows"), 401)


def test_public_routes_stay_public(live: Live) -> None:
    """Health and static files need no token; a bad token on them is ignored."""
    assert httpx.get(live.url + "/healthz").status_code == 200
    assert httpx.get(live.url + "/healthz", headers={"authorization": "Bearer nonsense"}).status_code == 200
    assert httpx.get(live.url + "/ui/static/ui.css").status_code == 200


def test_auth_is_off_until_a_token_exists(home: Path) -> None:
    """Without tokens every route answers as before (loopback only); the legacy ingest token still guards ingest."""
    with running_server(home, {"SEAMLINE_INGEST_TOKEN": LEGACY}) as server:
        assert httpx.get(server.url + "/api/views/flows").status_code == 200
        assert httpx.get(server.url + "/api/whoami").json()["auth"] is False
        assert httpx.post(server.url + "/v1/client", json=_batch("s-off")).status_code == 401
        assert httpx.post(server.url + "/v1/client", json=_batch("s-off"), headers=_bearer(LEGACY)).status_code == 200


def _serve(home: Path, host: str, port: int) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "seamline.cli", "serve", "--home", str(home), "--host", host, "--port", str(port)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_public_bind_needs_tokens(home: Path, tmp_path: Path) -> None:
    """--host 0.0.0.0 refuses without tokens (even with the legacy ingest token) and starts once one exists."""
    out = _serve(home, "0.0.0.0", free_port())
    assert out.returncode == 2 and "refusing to serve on 0.0.0.0" in out.stderr and "tokens create" in out.stderr
    other = tmp_path / "with-tokens"
    other.mkdir()
    secrets = prepare(other)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "seamline.cli", "serve", "--home", str(other), "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/whoami", headers=_bearer(secrets.admin), timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        assert r.json()["role"] == "admin"
    finally:
        proc.terminate()
        proc.wait(20)


# --- CLI -------------------------------------------------------------------------------------
runner = CliRunner()


def _cli(home: Path, *args: str, token: str | None = None) -> Any:
    env = {"SEAMLINE_TOKEN": token} if token else {}
    return runner.invoke(cli_app, [*args, "--home", str(home)], env=env)


def test_every_cli_command_is_classified_or_admin_only() -> None:
    """Each CLI_CAPS entry names a real command, and a command nobody classified needs admin."""
    paths = set(command_paths(typer.main.get_command(cli_app)))
    assert set(CLI_CAPS) - paths == set(), "stale CLI_CAPS entries"
    assert cli_cap("some command added later", {}) is Cap.ADMIN
    for path in ("query", "trace", "quarantine list"):
        assert cli_cap(path, {}) is Cap.ROWS
    assert cli_cap("views show", {"name": "waterfall"}) is Cap.ROWS
    assert cli_cap("views show", {"name": "flows"}) is Cap.AGGREGATES


def test_cli_bootstrap_and_enforcement(home: Path) -> None:
    """The first token must be admin; then reading needs a token of the right role, from --token or SEAMLINE_TOKEN."""
    assert _cli(home, "schema", "upgrade").exit_code == 0  # auth off: everything works as before
    assert _cli(home, "summary").exit_code == 0
    first = _cli(home, "tokens", "create", "--name", "v", "--role", "viewer")
    assert first.exit_code == 2 and "first token must be an admin" in first.output
    made = _cli(home, "tokens", "create", "--name", "root", "--role", "admin", "--json")
    assert made.exit_code == 0, made.output
    import json

    admin = json.loads(made.output)["secret"]
    assert admin.startswith("sl_")
    denied = _cli(home, "summary")
    assert denied.exit_code == 3 and "needs a token with the viewer role" in denied.output
    assert _cli(home, "summary", token=admin).exit_code == 0
    assert runner.invoke(cli_app, ["summary", "--home", str(home), "--token", admin]).exit_code == 0
    assert runner.invoke(cli_app, ["--token", admin, "summary", "--home", str(home)]).exit_code == 0
    viewer = json.loads(_cli(home, "tokens", "create", "--name", "v", "--role", "viewer", "--json", token=admin).output)
    analyst = json.loads(
        _cli(home, "tokens", "create", "--name", "a", "--role", "analyst", "--json", token=admin).output
    )
    assert _cli(home, "query", "SELECT 1 AS one", token=viewer["secret"]).exit_code == 3
    assert _cli(home, "query", "SELECT 1 AS one", token=analyst["secret"]).exit_code == 0
    assert _cli(home, "views", "show", "flows", token=viewer["secret"]).exit_code == 0
    assert _cli(home, "views", "show", "waterfall", "-p", "ident=x", token=viewer["secret"]).exit_code == 3
    assert _cli(home, "tokens", "list", token=analyst["secret"]).exit_code == 3
    assert _cli(home, "tokens", "create", "--name", "x", "--role", "admin", token=analyst["secret"]).exit_code == 3
    assert _cli(home, "summary", token=UNKNOWN).exit_code == 3
    listed = _cli(home, "tokens", "list", "--json", token=admin)
    assert listed.exit_code == 0 and admin not in listed.output and viewer["secret"] not in listed.output
    assert _cli(home, "tokens", "revoke", viewer["token_id"], token=admin).exit_code == 0
    gone = _cli(home, "summary", token=viewer["secret"])
    assert gone.exit_code == 3 and "revoked" in gone.output
    assert runner.invoke(cli_app, ["sources"]).exit_code == 0  # commands that read no data stay open


def test_cli_rejects_bad_token_options(home: Path) -> None:
    """Bad roles, names and expiries get clear errors, not tracebacks."""
    assert "role must be one of" in _cli(home, "tokens", "create", "--name", "a", "--role", "root").output
    assert (
        "cannot read expiry"
        in _cli(home, "tokens", "create", "--name", "a", "--role", "admin", "--expires", "soon").output
    )
    out = _cli(home, "tokens", "create", "--name", "a", "--role", "admin", "--project", "p")
    assert out.exit_code == 2 and "admin tokens cannot be limited" in out.output


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
def test_ui_login_in_chromium(live: Live) -> None:
    """In a real browser: a page sends you to the login form, the token logs you in, JS cannot read it, logout works."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_context().new_page()
            tab.goto(live.url + "/failures?range=all")
            assert "/login" in tab.url and tab.locator("#token").is_visible()
            tab.fill("#token", UNKNOWN)
            tab.click("#login-form button[type=submit]")
            assert "unknown token" in tab.inner_text("#login-error")
            tab.fill("#token", live.secrets.viewer)
            tab.click("#login-form button[type=submit]")
            tab.wait_for_url("**/failures?range=all")
            tab.wait_for_function("document.body.dataset.ready", timeout=45_000)
            assert tab.evaluate("document.body.dataset.ready") == "ok", tab.inner_text("#status")
            assert "seamline_token" not in tab.evaluate("document.cookie")  # HttpOnly: scripts cannot read it
            rows = tab.request.get(live.url + "/api/views/waterfall?ident=x")
            assert rows.status == 403  # the viewer's cookie does not open row-level data
            tab.click("#logout")
            tab.wait_for_url("**/login")
            tab.goto(live.url + "/vitals")
            assert "/login" in tab.url
        finally:
            browser.close()


def test_cli_scoped_token_reads_only_its_project(home: Path) -> None:
    """On the CLI a project-scoped viewer gets views with its environment pinned, and no other data."""
    secrets = prepare(home)
    out = _cli(home, "views", "show", "flows", "-p", "environment=production", token=secrets.scoped)
    assert out.exit_code == 0, out.output
    import json

    assert json.loads(out.output)["filters"]["environment"] == "test"  # pinned, whatever was asked
    assert _cli(home, "views", "show", "session", "-p", "session_id=s", token=secrets.scoped).exit_code == 3
    assert _cli(home, "summary", token=secrets.scoped).exit_code == 0
    assert _cli(home, "query", "SELECT 1", token=secrets.scoped).exit_code == 3


def test_routes_added_later_are_admin_only_without_their_authors_doing_anything(home: Path) -> None:
    """A route added after the app is built (directly or in an included router) needs admin unless it says otherwise."""
    import threading

    import uvicorn
    import websockets.exceptions
    import websockets.sync.client
    from fastapi import APIRouter

    from seamline.access.roles import requires

    secrets = prepare(home)
    application = App(Settings({"home": home}))
    try:
        api = create_app(application)

        @api.get("/api/brand-new")
        def brand_new() -> dict[str, bool]:
            return {"ok": True}

        later = APIRouter()

        @later.get("/reports/{name}")
        def report(name: str) -> dict[str, str]:
            return {"name": name}

        @later.get("/reports-open")
        @requires(Cap.AGGREGATES)
        def open_report() -> dict[str, bool]:
            return {"ok": True}

        api.include_router(later)

        @api.websocket("/ws/live")
        async def live_feed(ws: WebSocket) -> None:
            await ws.accept()
            await ws.send_text("rows")
            await ws.close()

        # Served for real by uvicorn in a thread: the routes were added in this process, after create_app.
        server = uvicorn.Server(uvicorn.Config(api, port=free_port(), log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.05)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}") as client:
                for path in ("/api/brand-new", "/reports/q1"):
                    assert _denied(client.get(path), 401), path
                    assert _denied(client.get(path, headers=_bearer(secrets.analyst)), 403), path
                    assert client.get(path, headers=_bearer(secrets.admin)).status_code == 200, path
                assert client.get("/reports-open", headers=_bearer(secrets.viewer)).status_code == 200
                assert _denied(client.get("/reports-open", headers=_bearer(secrets.ingest)), 403)
            ws_url = f"ws://127.0.0.1:{server.config.port}/ws/live"
            refused = pytest.raises(websockets.exceptions.InvalidStatus)  # refused before the handshake completes
            with refused, websockets.sync.client.connect(ws_url, additional_headers=_bearer(secrets.viewer)):
                pass
            with websockets.sync.client.connect(ws_url, additional_headers=_bearer(secrets.admin)) as ws:
                assert ws.recv() == "rows"
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        application.close()
