"""The FastAPI application behind `seamline serve`: ingest endpoints, health and the web UI."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from seamline.access._http import install as install_access
from seamline.access.routes import create_access_router
from seamline.access.serving import InsecureBind, check_bind  # noqa: F401  (re-exported for callers)
from seamline.alerting.scheduler import alert_periodically
from seamline.app import App
from seamline.governance.retention import retention_periodically
from seamline.governance.routes import create_governance_router
from seamline.schema import SCHEMA_VERSION
from seamline.web._limits import BodyLimits
from seamline.web.ingest import IngestEndpoints
from seamline.web.ui import mount_ui

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".map": "application/json", ".css": "text/css; charset=utf-8"}


log = logging.getLogger("seamline.serve")
_GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (default 700)


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
        # Ingest allocates a dict per event, so the cyclic collector runs every few requests and
        # its full passes walk every module object loaded by now: keep those out of its passes,
        # and collect the young generation less often (measured: ~1 ms per 200-event request).
        gc.freeze()
        gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        scheduler = asyncio.create_task(correlate_periodically(app))
        alerting = asyncio.create_task(alert_periodically(app))  # every alert_interval_seconds
        retention = asyncio.create_task(retention_periodically(app))  # every retention_interval_hours
        yield
        scheduler.cancel()
        alerting.cancel()
        retention.cancel()
        endpoints.record_totals()
        app.close()

    api = FastAPI(title="Seamline", version="0.1.0", lifespan=lifespan)
    # Access control on every route (seamline.access.roles says what each needs; unlisted = admin).
    # Added before CORS so preflights are answered first and refusals still carry CORS headers.
    guard = install_access(api, app)
    api.include_router(create_access_router(app, guard))  # /login, /logout, /api/whoami, /api/tokens, /api/audit
    # Browsers post events from the product's own origin; no cookies are used, so any origin may send.
    api.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["content-type", "content-encoding", "authorization", "traceparent", "tracestate"],
        max_age=600,
    )
    api.include_router(endpoints.router)
    api.include_router(create_governance_router(app))  # retention, forget, schema history/drift, quality

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
    # Added last so it is the outermost user middleware and sees the raw body stream of every route.
    api.add_middleware(
        BodyLimits, timeout_seconds=app.settings.body_timeout_seconds, max_bytes=app.settings.max_body_bytes
    )
    api.state.endpoints = endpoints
    return api
