"""The FastAPI application behind `seamline serve`: ingest endpoints and health."""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from seamline.app import App
from seamline.schema import SCHEMA_VERSION
from seamline.web.ingest import IngestEndpoints


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


def create_app(app: App) -> FastAPI:
    """A FastAPI app serving ingest for the given Seamline App."""
    endpoints = IngestEndpoints(app)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Store what earlier runs acknowledged but had not committed, before taking new requests.
        app.ingestor.replay_wal(app.wal.directory, keep=app.wal.current_segment)
        yield
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

    api.state.endpoints = endpoints
    return api
