"""HTTP enforcement: one ASGI middleware in front of every route of `seamline serve`.

The middleware matches the request to its route itself, looks up what the route needs
(`roles.route_cap`: the route's own marker, else the central table, else admin), checks the
presented token, and only then lets the request reach the handler. Routes added later are
therefore covered without their authors doing anything: an unlisted route needs admin.

Credentials: `Authorization: Bearer <secret>` anywhere; the UI's HttpOnly cookie for
everything but ingest; on ingest routes only, Segment's Basic write key and a `?token=`
(browsers' sendBeacon cannot set headers) — and only for ingest-role tokens, so a powerful
token never travels in a URL that proxies log. The legacy `ingest_token` setting keeps
working as an ingest-only credential.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import html
import ipaddress
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from seamline.access import audit
from seamline.access.roles import ACCESS_KEY, VIEW_ROUTES, Cap, allows, minimum_role, route_cap
from seamline.access.tokens import AuthError, Principal, auth_configured, authenticate, hash_secret, touch
from seamline.app import App
from seamline.store.base import Statement

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "seamline_token"
STATE_KEY = "seamline_principal"
_CACHE_S = 5.0  # a revoked token stops working within this long (at once when revoked through the API)
_TOUCH_S = 60.0
_DENIALS_PER_MINUTE = 60  # audit entries for refused requests, so a flood cannot fill the disk
_AUDIT_BATCH_S = 0.05


class Guard:
    """Token checks with a short cache, shared by the middleware and the admin routes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._configured: tuple[bool, float] | None = None
        self._principals: dict[str, tuple[Principal | AuthError, float]] = {}
        self._touched: dict[str, float] = {}
        self._denials: list[float] = []
        self._pending: list[Statement] = []  # audit entries and last-use updates, committed together
        self._wake = threading.Event()
        self._flush_lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    def invalidate(self) -> None:
        """Forget cached answers (after a token is created or revoked here)."""
        with self._lock:
            self._configured = None
            self._principals.clear()

    def configured_cached(self) -> bool | None:
        """The cached answer of `configured`, or None when it must be asked of the store."""
        with self._lock:
            if self._configured is not None and self._configured[1] > time.monotonic():
                return self._configured[0]
        return None

    def principal_cached(self, secret: str) -> Principal | None:
        """A cached valid principal for a secret (None: ask `principal`, which may query the store)."""
        with self._lock:
            hit = self._principals.get(hash_secret(secret))
        if hit is None or hit[1] <= time.monotonic() or isinstance(hit[0], AuthError):
            return None
        self._touch(hit[0])
        return hit[0]

    def configured(self) -> bool:
        """Whether access control is on (cached briefly)."""
        now = time.monotonic()
        with self._lock:
            if self._configured is not None and self._configured[1] > now:
                return self._configured[0]
        value = auth_configured(self.app.store)
        with self._lock:
            self._configured = (value, now + _CACHE_S)
        return value

    def principal(self, secret: str) -> Principal:
        """The principal of a secret, or AuthError; cached by hash so the secret is not kept."""
        key = hash_secret(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._principals.get(key)
        if hit is None or hit[1] <= now:
            try:
                found: Principal | AuthError = authenticate(self.app.store, secret)
            except AuthError as exc:
                found = exc
            with self._lock:
                if len(self._principals) > 10_000:  # wrong secrets must not grow memory without bound
                    self._principals.clear()
                self._principals[key] = (found, now + _CACHE_S)
            hit = (found, now)
        if isinstance(hit[0], AuthError):
            raise hit[0]
        self._touch(hit[0])
        return hit[0]

    def _touch(self, principal: Principal) -> None:
        if principal.token_id is None:
            return
        now = time.monotonic()
        with self._lock:
            if self._touched.get(principal.token_id, 0.0) > now:
                return
            self._touched[principal.token_id] = now + _TOUCH_S
        self._enqueue(touch(principal.token_id))

    def may_audit_denial(self) -> bool:
        """Rate limit for audit entries about refused requests."""
        now = time.monotonic()
        with self._lock:
            self._denials = [t for t in self._denials if t > now - 60]
            if len(self._denials) >= _DENIALS_PER_MINUTE:
                return False
            self._denials.append(now)
            return True

    def record(self, **entry: Any) -> None:
        """Buffer an audit entry; a background thread commits the buffer in one writer transaction.

        The request never waits on the writer: its queue may be full of ingest, and a blocked
        put would stall the event loop.
        """
        self._enqueue(audit.statement(audit.entry_params(**entry)))

    def _enqueue(self, statement: Statement) -> None:
        with self._lock:
            self._pending.append(statement)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="seamline-audit", daemon=True)
                self._flusher.start()
        self._wake.set()

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(_AUDIT_BATCH_S)  # let a burst of requests share one transaction
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Commit buffered audit entries now (also called at shutdown, before the writer closes)."""
        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, []
            if not taken:
                return
            # A failed writer is reported by the request that broke it; auditing must not add a second error.
            with contextlib.suppress(Exception):
                self.app.writer.submit(taken).result(timeout=30)


def client_origin(scope: Scope) -> str:
    """'http:<client network>' — the address cut to /24 (/48), as the dictionary promises."""
    client = scope.get("client")
    if not client:
        return "http"
    try:
        ip = ipaddress.ip_address(client[0])
    except ValueError:
        return "http"
    prefix = 24 if ip.version == 4 else 48
    return f"http:{ipaddress.ip_network(f'{ip}/{prefix}', strict=False)}"


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        name = key.decode("latin-1").lower()
        # Repeated Authorization headers are ambiguous: keep a marker so they are refused.
        if name in found and name == "authorization":
            found[name] = "\x00duplicate"
            continue
        found[name] = value.decode("latin-1")
    return found


def flat_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(prefix, route) for every route, looking inside included routers (FastAPI keeps them nested)."""
    found: list[tuple[str, Any]] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            found += flat_routes(list(inner.routes), prefix + (getattr(context, "prefix", "") or ""))
        else:
            found.append((prefix, route))
    return found


def _match(scope: Scope, routes: list[Any]) -> tuple[Any | None, str, dict[str, Any]]:
    partial: tuple[Any | None, str, dict[str, Any]] = (None, "", {})
    path = scope.get("path", "")
    for prefix, route in flat_routes(routes):
        probe = scope
        if prefix:
            if not path.startswith(prefix):
                continue
            probe = {**scope, "path": path[len(prefix) :] or "/"}
        try:
            match, child = route.matches(probe)
        except Exception:
            continue
        template = prefix + getattr(route, "path", "")
        if match is Match.FULL:
            return route, template, child.get("path_params", {})
        if match is Match.PARTIAL and partial[0] is None:
            partial = (route, template, child.get("path_params", {}))
    return partial


def route_requirement(method: str, route: Any | None, template: str, path_params: dict[str, Any]) -> Cap:
    """What the matched route needs; no route at all (a 404) needs nothing."""
    if route is None:
        return Cap.PUBLIC
    endpoint = getattr(route, "endpoint", None)
    declared = getattr(endpoint, "__seamline_access__", None) or (getattr(route, "openapi_extra", None) or {}).get(
        ACCESS_KEY
    )
    return route_cap(method, template, path_params, declared)


class _Credential:
    __slots__ = ("error", "secret", "via")

    def __init__(self, secret: str = "", via: str = "", error: str = "") -> None:
        self.secret, self.via, self.error = secret, via, error


def presented(headers: dict[str, str], query: list[tuple[str, str]], ingest_route: bool) -> _Credential:
    """The credential a request carries, where it came from, or why it is malformed."""
    auth = headers.get("authorization")
    if auth is not None:
        if auth == "\x00duplicate":
            return _Credential(error="more than one Authorization header")
        scheme, _, value = auth.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value and " " not in value:
            return _Credential(value, "bearer")
        if scheme.lower() == "basic" and ingest_route and value:
            try:  # Segment libraries send the write key as the Basic user name
                return _Credential(base64.b64decode(value, validate=True).decode().split(":", 1)[0], "basic")
            except (ValueError, UnicodeDecodeError):
                return _Credential(error="malformed Basic credentials")
        return _Credential(error="malformed Authorization header; send 'Authorization: Bearer <token>'")
    if ingest_route:
        tokens = [v for k, v in query if k == "token"]
        if tokens:
            return _Credential(tokens[0], "query")
        return _Credential()
    cookie = headers.get("cookie")
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:
            return _Credential()
        if COOKIE in jar:
            return _Credential(jar[COOKIE].value, "cookie")
    return _Credential()


async def _send_json(send: Send, status: int, body: dict[str, Any], extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"x-seamline-access", b"denied"),  # tells a refusal by access control from a handler's own 401/403
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


_REFUSED_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not allowed · Seamline</title>'
    '<link rel="stylesheet" href="/ui/static/ui.css"></head><body><header class="top"><a class="brand" href="/">'
    'Seamline</a><a class="logout" href="/logout">Log in with another token</a></header><main id="main">'
    '<h1>Not allowed</h1><p class="error banner" id="refused">{reason}</p></main></body></html>'
)


async def _send_html(send: Send, status: int, reason: str) -> None:
    data = _REFUSED_PAGE.format(reason=html.escape(reason)).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(data)).encode()),
        (b"x-seamline-access", b"denied"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0"), (b"x-seamline-access", b"login")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


_SCOPED_DENIED = (Cap.EDIT, Cap.ADMIN)


class AccessMiddleware:
    """Pure ASGI middleware (streams request bodies untouched) enforcing `roles` on every route."""

    def __init__(self, app: ASGIApp, guard: Guard, routes: Callable[[], list[Any]]) -> None:
        self.inner = app
        self.guard = guard
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":  # lifespan
            await self.inner(scope, receive, send)
            return
        method = scope["method"]
        route, template, path_params = _match(scope, self.routes())
        cap = route_requirement(method, route, template, path_params)
        headers = _headers(scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        ingest_route = cap is Cap.INGEST
        template = template or scope.get("path", "")
        configured = self.guard.configured_cached()
        if configured is None:  # the store is asked at most every few seconds, off the event loop
            configured = await run_in_threadpool(self.guard.configured)
        cred = presented(headers, query, ingest_route)
        principal: Principal | None = None
        denial: tuple[int, str] | None = None

        legacy = self.guard.app.settings.ingest_token
        if ingest_route and legacy and cred.secret and hmac.compare_digest(cred.secret.encode(), legacy.encode()):
            principal = Principal(actor="ingest_token", role="ingest", name="ingest_token setting")
        elif cred.error:
            denial = (401, cred.error)
        elif cred.secret and configured:
            principal = self.guard.principal_cached(cred.secret)
            if principal is None:
                try:
                    principal = await run_in_threadpool(self.guard.principal, cred.secret)
                except AuthError as exc:
                    denial = (401, exc.reason)
        if principal is not None and cred.via in ("query", "basic") and principal.role != "ingest":
            principal, denial = None, (401, "only ingest tokens may be sent in the URL or as a write key")

        if denial is None and cap is not Cap.PUBLIC:
            if not configured:
                if ingest_route and legacy and principal is None:
                    denial = (401, "missing or wrong ingest token")
            elif principal is None:
                denial = (401, "this route needs a token: send 'Authorization: Bearer <token>' or log in at /login")
            elif not allows(principal.role, cap):
                denial = (403, f"a {principal.role} token cannot do this; it needs the {minimum_role(cap)} role")
            elif principal.project:
                denial = self._scope(principal, cap, template, path_params, scope, query)
        if cap is Cap.PUBLIC:
            denial = None  # a bad token on a public route is ignored, as no token would be

        if denial is not None:
            await self._deny(scope, send, method, template, headers, denial, configured, cap)
            return
        scope.setdefault("state", {})[STATE_KEY] = principal or Principal(actor="anonymous", role=None)
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.inner(scope, receive, watch)
        finally:  # a handler that crashed still leaves its (failed) query in the log
            if (
                configured
                and principal is not None
                and cap in (Cap.AGGREGATES, Cap.ROWS)
                and template.startswith("/api/")
            ):
                self.guard.record(
                    actor=principal.actor,
                    role=principal.role,
                    action="query",
                    target=scope.get("path", template),
                    detail={k: v for k, v in query if k != "token"} or None,
                    origin=client_origin(scope),
                    ok=bool(status) and status[0] < 400,
                )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSockets (none today) get the same rule: the route's capability, by header or cookie."""
        route, template, path_params = _match(scope, self.routes())
        cap = route_requirement("GET", route, template, path_params)
        configured = await run_in_threadpool(self.guard.configured)
        principal: Principal | None = None
        cred = presented(_headers(scope), [], ingest_route=False)
        if cred.secret and not cred.error and configured:
            try:
                principal = await run_in_threadpool(self.guard.principal, cred.secret)
            except AuthError:
                principal = None
        if cap is not Cap.PUBLIC and configured and (principal is None or not allows(principal.role, cap)):
            await receive()  # the websocket.connect message, then refuse (policy violation)
            await send({"type": "websocket.close", "code": 1008})
            return
        scope.setdefault("state", {})[STATE_KEY] = principal or Principal(actor="anonymous", role=None)
        await self.inner(scope, receive, send)

    def _scope(
        self, principal: Principal, cap: Cap, template: str, path_params: dict[str, Any], scope: Scope, query: list
    ) -> tuple[int, str] | None:
        """A project-scoped token sees its environment only: views get the filter pinned."""
        if cap in _SCOPED_DENIED:
            return (403, f"a token scoped to project {principal.project!r} cannot do this")
        if cap is Cap.INGEST:
            return None
        if template in VIEW_ROUTES:
            from seamline.views import VIEWS

            view = VIEWS.get(str(path_params.get("name", "")))
            if view is not None and not view.filtered and view.takes_store:
                return (403, f"view {view.name!r} cannot be limited to project {principal.project!r}")
            asked = [v for k, v in query if k == "environment" and v]
            if any(v != principal.project for v in asked):
                return (403, f"this token may only read environment {principal.project!r}")
            pinned = [(k, v) for k, v in query if k != "environment"] + [("environment", principal.project or "")]
            scope["query_string"] = urlencode(pinned).encode()
            return None
        if cap is Cap.ROWS:
            return (403, f"row-level pages cannot be limited to project {principal.project!r}")
        return None

    async def _deny(
        self,
        scope: Scope,
        send: Send,
        method: str,
        template: str,
        headers: dict[str, str],
        denial: tuple[int, str],
        configured: bool,
        cap: Cap,
    ) -> None:
        status, reason = denial
        if configured and self.guard.may_audit_denial():
            self.guard.record(
                actor="anonymous",
                role=None,
                action="denied",
                target=scope.get("path", template),
                detail={"method": method, "reason": reason, "needs": cap.value},
                origin=client_origin(scope),
                ok=False,
            )
        wants_html = "text/html" in headers.get("accept", "")
        page = method == "GET" and wants_html and not template.startswith(("/api/", "/v1/"))
        if page and status == 401:
            target = scope.get("path", "/")
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            await _redirect(send, "/login?" + urlencode({"next": target}))
            return
        if page:  # a person followed a link their role may not open: say so in a page, not JSON
            await _send_html(send, status, reason)
            return
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await _send_json(send, status, {"error": reason}, extra)


def install(api: Any, app: App) -> Guard:
    """Put the access middleware in front of `api`'s routes; returns the guard for the admin routes."""
    guard = Guard(app)
    if not app.read_only:
        audit.absorb_spool(app.store)  # entries CLI reads spooled while this server was down
    api.add_middleware(AccessMiddleware, guard=guard, routes=lambda: api.router.routes)
    api.state.access_guard = guard
    inner = api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            try:
                yield state
            finally:  # before the inner lifespan closes the writer
                await run_in_threadpool(guard.flush)

    api.router.lifespan_context = lifespan
    return guard


def principal_of(request: Any) -> Principal:
    """The principal the middleware attached to a request."""
    found = getattr(request.state, STATE_KEY, None)
    return found if isinstance(found, Principal) else Principal(actor="anonymous", role=None)
