"""The FastAPI application behind `seamline serve`: ingest endpoints, health and the web UI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from seamline.app import App
from seamline.schema import SCHEMA_VERSION
from seamline.web.ingest import IngestEndpoints
from seamline.web.ui import mount_ui

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".map": "application/json", ".css": "text/css; charset=utf-8"}


log = logging.getLogger("seamline.serve")


class InsecureBind(RuntimeError):
    """Refusing to listen beyond loopback without a token."""


def check_bind(host: str, token: str) -> None:
    """Serving on a non-loopback address needs an ingest token (secure by default)."""
    if token:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise InsecureBind(
            f"refusing to serve on {host} without authentication: set SEAMLINE_INGEST_TOKEN (or --token), "
            "or bind 127.0.0.1"
        )


def _presented_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":  # Segment libraries send the write key as the Basic user name
        try:
            return base64.b64decode(value).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return ""
    return request.query_params.get("token", "")


async def correlate_periodically(app: App) -> None:
    """Correlate new data every `correlate_interval_seconds`, as a job on the writer thread."""
    from seamline.correlate import correlate

    interval = app.settings.correlate_interval_seconds
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        job = app.writer.call(
            lambda store: correlate(
                store,
                late_minutes=app.settings.correlation_late_minutes,
                match_threshold=app.settings.match_threshold,
            )
        )
        try:
            await asyncio.wrap_future(job)
        except Exception as exc:  # keep serving; the next round retries
            log.warning("correlation failed: %s", exc)


def create_app(app: App) -> FastAPI:
    """A FastAPI app serving ingest for the given Seamline App."""
    endpoints = IngestEndpoints(app)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Store what earlier runs acknowledged but had not committed, before taking new requests.
        app.ingestor.replay_wal(app.wal.directory, keep=app.wal.current_segment)
        scheduler = asyncio.create_task(correlate_periodically(app))
        yield
        scheduler.cancel()
        endpoints.record_totals()
        app.close()

    api = FastAPI(title="Seamline", version="0.1.0", lifespan=lifespan)
    # Browsers post events from the product's own origin; no cookies are used, so any origin may send.
    api.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["content-type", "content-encoding", "authorization", "traceparent", "tracestate"],
        max_age=600,
    )
    token = app.settings.ingest_token

    @api.middleware("http")
    async def require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        guarded = token and request.method == "POST" and request.url.path.startswith("/v1/")
        if guarded and not hmac.compare_digest(_presented_token(request).encode(), token.encode()):
            return JSONResponse(
                {"error": "missing or wrong ingest token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await call_next(request)

    api.include_router(endpoints.router)

    @api.get("/healthz", summary="Liveness and schema version")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "schema_version": SCHEMA_VERSION, "rows_written": app.writer.rows_written}

    @api.get("/sdk/{name}", summary="Browser SDK (static files of seamline/web/static)")
    def static_file(name: str, request: Request) -> Response:
        path = STATIC / name
        media_type = STATIC_TYPES.get(path.suffix)
        if name.startswith(".") or media_type is None or not path.is_file():
            return JSONResponse({"error": f"no static file {name!r}"}, status_code=404)
        body = path.read_bytes()
        # The name carries no version, so browsers cache briefly and revalidate by ETag.
        headers = {
            "ETag": f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"',
            "Cache-Control": "public, max-age=3600",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    mount_ui(api, app)  # pages, /api/views/<name> JSON twins, saved views, plotly.js
    api.state.endpoints = endpoints
    return api
