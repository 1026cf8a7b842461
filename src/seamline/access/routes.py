"""HTTP routes of access control: the UI's token login, who-am-I, tokens and the audit log (admins)."""

from __future__ import annotations

import asyncio
import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from seamline._output import to_json
from seamline.access import audit
from seamline.access._http import COOKIE, Guard, client_origin, principal_of
from seamline.access.tokens import AuthError, TokenError, authenticate, create, list_tokens, parse_expiry, revoke
from seamline.app import App

_LOGIN_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Seamline</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/static/ui.css"></head>
<body><header class="top"><span class="brand">Seamline</span></header>
<main id="main" class="login"><h1>Log in</h1>
<p>Paste an API token (<code>seamline tokens create --name you --role viewer</code> makes one).</p>
{message}
<form method="post" action="/login" id="login-form">
<input type="hidden" name="next" value="{next}">
<label>Token <input type="password" name="token" id="token" autocomplete="off" required size="60"></label>
<button type="submit">Log in</button></form></main></body></html>"""


def _json(data: Any, status: int = 200) -> Response:
    return Response(to_json(data, indent=False), status_code=status, media_type="application/json")


def _safe_next(value: str | None) -> str:
    """Only same-site paths: an open redirect after login would hand the cookie's trust to anyone."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def _login_page(next_path: str, message: str = "", status: int = 200) -> HTMLResponse:
    note = f'<p class="error banner" id="login-error">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(
        _LOGIN_HTML.format(message=note, next=html.escape(_safe_next(next_path), quote=True)), status_code=status
    )


def create_access_router(app: App, guard: Guard) -> APIRouter:
    """Login/logout, /api/whoami, /api/tokens and /api/audit for one App."""
    router = APIRouter()

    def _audit(request: Request, **entry: Any) -> None:
        principal = principal_of(request)
        entry.setdefault("actor", principal.actor)
        entry.setdefault("role", principal.role)
        guard.record(origin=client_origin(request.scope), **entry)

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(next: str = "/") -> HTMLResponse:
        return _login_page(next)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        # Login CSRF: another site must not log a browser in under a token of its choosing.
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.url.netloc:
            return _login_page("/", "Log in from Seamline's own page.", 403)
        form = dict(parse_qsl((await request.body())[:8192].decode("utf-8", "replace")))
        secret, next_path = form.get("token", "").strip(), _safe_next(form.get("next"))
        try:
            principal = await asyncio.to_thread(authenticate, app.store, secret)
        except AuthError as exc:
            if guard.may_audit_denial():
                guard.record(
                    actor="anonymous",
                    role=None,
                    action="login",
                    target="/login",
                    detail={"reason": exc.reason},
                    origin=client_origin(request.scope),
                    ok=False,
                )
            return _login_page(next_path, f"Not logged in: {exc.reason}.", 401)
        guard.record(
            actor=principal.actor,
            role=principal.role,
            action="login",
            target="/login",
            detail=None,
            origin=client_origin(request.scope),
            ok=True,
        )
        if principal.role == "ingest":
            return _login_page(next_path, "Ingest tokens cannot use the UI.", 403)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE,
            secret,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
            max_age=12 * 3600,
        )
        return response

    @router.api_route("/logout", methods=["GET", "POST"], include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/api/whoami", summary="The role and project of the presented token")
    def whoami(request: Request) -> Response:
        principal = principal_of(request)
        if principal.role is None and guard.configured():
            return _json({"error": "no valid token presented"}, 401)
        return _json({**principal.as_dict(), "auth": guard.configured()})

    @router.get("/api/audit", summary="The audit log, newest first (admins)")
    def audit_log(
        request: Request,
        since: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 200,
    ) -> Response:
        try:
            since_ts = datetime.fromisoformat(since) if since else None
        except ValueError:
            return _json({"error": f"since must be an ISO time, not {since!r}"}, 400)
        if since_ts is not None and since_ts.tzinfo is None:
            since_ts = since_ts.replace(tzinfo=UTC)
        if not 1 <= limit <= 10_000:
            return _json({"error": "limit must be 1..10000"}, 400)
        entries = audit.read(app.store, since=since_ts, actor=actor, action=action, limit=limit)
        _audit(
            request, action="audit.read", target="/api/audit", detail={"since": since, "actor": actor, "action": action}
        )
        return _json({"entries": [e.to_dict() for e in entries]})

    @router.get("/api/tokens", summary="Every token: id, name, role, project, state (admins)")
    def tokens_list() -> Response:
        return _json({"tokens": [t.as_dict() for t in list_tokens(app.store)]})

    @router.post("/api/tokens", summary="Create a token; the secret is in this response only (admins)", status_code=201)
    async def tokens_create(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"error": "send a JSON object {name, role, project?, expires?}"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "send a JSON object {name, role, project?, expires?}"}, 400)
        try:
            expires = parse_expiry(body.get("expires"))
            job = app.writer.call(
                lambda store: create(
                    store,
                    name=str(body.get("name", "")),
                    role=str(body.get("role", "")),
                    project=body.get("project") or None,
                    expires=expires,
                )
            )
            info, secret = await asyncio.wrap_future(job)
        except TokenError as exc:
            return _json({"error": str(exc)}, 400)
        guard.invalidate()
        _audit(
            request,
            action="token.create",
            target=info.token_id,
            detail={"name": info.name, "role": info.role, "project": info.project},
        )
        return _json({**info.as_dict(), "secret": secret}, 201)

    @router.delete("/api/tokens/{token_id}", summary="Revoke a token (admins)")
    async def tokens_revoke(token_id: str, request: Request) -> Response:
        try:
            info = await asyncio.wrap_future(app.writer.call(lambda store: revoke(store, token_id)))
        except TokenError as exc:
            _audit(request, action="token.revoke", target=token_id, detail={"error": str(exc)}, ok=False)
            return _json({"error": str(exc)}, 404 if "no token" in str(exc) else 409)
        guard.invalidate()
        _audit(request, action="token.revoke", target=token_id, detail={"name": info.name, "role": info.role})
        return _json(info.as_dict())

    return router
