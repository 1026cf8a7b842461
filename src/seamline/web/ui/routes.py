"""The web UI: server-rendered pages, their JSON twins under /api/views, saved views, plotly.js.

Every page is a small HTML shell (filters in the URL, rendered server-side) whose data comes
from `/api/views/<name>?<the page's query>` — the same `VIEWS` functions the CLI and tests
call. Reads go through the store's per-call cursors, so they run beside the writer; saved-view
edits and the facts refresh run as jobs on the writer thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from concurrent.futures import Future
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from seamline._output import to_json
from seamline.app import App
from seamline.views import VIEWS, ViewError
from seamline.views._filters import FILTER_KEYS, RANGES, FilterError, Filters
from seamline.views.facts import refresh_facts
from seamline.views.saved import SavedViewError, create_view, delete_view, get_view, update_view
from seamline.web.ui._raw import event_record
from seamline.web.ui.alerts import create_alerts_router
from seamline.web.ui.investigate import create_investigate_router

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_REFRESH_WAIT_S = 60.0
_RUN_CHECK_EVERY_S = 5.0

NAV: tuple[tuple[str, str, str], ...] = (
    ("overview", "/", "Overview"),
    ("alerts", "/alerts", "Alerts"),
    ("investigate", "/investigate", "Investigate"),
    ("review", "/review", "Review"),
    ("failures", "/failures", "Failures & impact"),
    ("heatmap", "/heatmap", "Heatmap"),
    ("impact", "/impact", "Releases & flags"),
    ("vitals", "/vitals", "Web vitals"),
    ("quality", "/quality", "Data quality"),
    ("dictionary", "/dictionary", "Dictionary"),
    ("saved", "/saved", "Saved views"),
)


def _json(data: Any, status: int = 200) -> Response:
    return Response(to_json(data, indent=False), status_code=status, media_type="application/json")


def _plotly_js() -> bytes:
    """plotly.min.js from the installed plotly package: the UI works with no network."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


class FactsRefresher:
    """Keeps the dashboard facts in step with correlation: a writer job whenever a run finished."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._job: Future[Any] | None = None
        self._seen_run: object = ()
        self._checked = 0.0
        self.last: dict[str, Any] | None = None

    def _latest_run(self) -> object:
        return self.app.store.scalar("SELECT max(finished_at) FROM correlation_runs WHERE status = 'done'")

    def kick(self, force: bool = False) -> Future[Any] | None:
        """Queue a refresh when correlation ran since the last one (checked at most every few seconds)."""
        with self._lock:
            if self._job is not None and not self._job.done():
                return self._job
            now = time.monotonic()
            if not force and now - self._checked < _RUN_CHECK_EVERY_S:
                return None
            self._checked = now
            latest = self._latest_run()
            if not force and latest == self._seen_run:
                return None
            self._seen_run = latest
            self._job = self.app.writer.call(refresh_facts)
            self._job.add_done_callback(self._done)
            return self._job

    def _done(self, job: Future[Any]) -> None:
        self.last = {"error": str(job.exception())} if job.exception() else job.result()

    async def wait(self) -> None:
        """Let a running refresh finish before reading (bounded), so a page never shows half-built facts."""
        job = self.kick()
        if job is not None and not job.done():
            try:
                await asyncio.wait_for(asyncio.wrap_future(job), _REFRESH_WAIT_S)
            except Exception:  # a failed or slow refresh must not take the UI down; the data is older
                return


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_attr"] = lambda v: orjson.dumps(v).decode()
    return env


def create_ui_router(app: App) -> APIRouter:
    """Pages, JSON views, saved views and static files for one Seamline App."""
    router = APIRouter()
    env = _env()
    refresher = FactsRefresher(app)
    refresher.kick(force=True)
    plotly_body: list[bytes] = []

    def render(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
        query = dict(request.query_params)
        try:
            filters = Filters.from_params(query)
            filter_error = None
        except FilterError as exc:
            filters, filter_error = Filters(), str(exc)
        filter_query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k in FILTER_KEYS and v])
        html = env.get_template(template).render(
            page=page,
            nav=NAV,
            query=query,
            filters=filters,
            filter_error=filter_error,
            filter_query=filter_query,
            ranges=list(RANGES),
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html)

    # --- pages ------------------------------------------------------------------------------
    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview_page(request: Request) -> HTMLResponse:
        return render(request, "overview.html", "overview", title="Overview")

    @router.get("/flows/{flow}", response_class=HTMLResponse, include_in_schema=False)
    def flow_page(request: Request, flow: str) -> HTMLResponse:
        return render(request, "flow.html", "flow", title=f"Flow: {flow}", params={"flow": flow})

    @router.get("/transactions/{ident}", response_class=HTMLResponse, include_in_schema=False)
    def waterfall_page(request: Request, ident: str) -> HTMLResponse:
        return render(request, "waterfall.html", "waterfall", title="Transaction waterfall", params={"ident": ident})

    @router.get("/sessions/{session_id}", response_class=HTMLResponse, include_in_schema=False)
    def session_page(request: Request, session_id: str) -> HTMLResponse:
        return render(request, "session.html", "session", title="Session timeline", params={"session_id": session_id})

    for name, template, title in (
        ("failures", "failures.html", "Failures and user impact"),
        ("heatmap", "heatmap.html", "Correlation heatmap"),
        ("impact", "impact.html", "Release and flag impact"),
        ("vitals", "vitals.html", "Web vitals"),
        ("quality", "quality.html", "Data quality and join coverage"),
        ("saved", "saved.html", "Saved views"),
    ):
        # Bound by a factory, not by default arguments: FastAPI reads every handler argument as a
        # query parameter, so `?_t=` would have chosen the template to render.
        handler = _page_handler(render, name, template, title)
        router.add_api_route(f"/{name}", handler, response_class=HTMLResponse, include_in_schema=False)

    @router.get("/dictionary", response_class=HTMLResponse, include_in_schema=False)
    def dictionary_page(request: Request) -> HTMLResponse:
        return render(
            request, "dictionary.html", "dictionary", title="Data dictionary", data=VIEWS["dictionary"].call(None, {})
        )

    # --- JSON twins -------------------------------------------------------------------------
    @router.get("/api/views", summary="Every view: name, description, parameters, endpoint")
    def list_views() -> Response:
        return _json([v.as_dict() for v in VIEWS.values()])

    @router.get("/api/views/{name}", summary="Run one view with filters and parameters from the query string")
    async def run_view(name: str, request: Request) -> Response:
        view = VIEWS.get(name)
        if view is None:
            return _json({"error": f"no view {name!r}", "views": sorted(VIEWS)}, 404)
        await refresher.wait()
        query = dict(request.query_params)
        started = time.perf_counter()
        try:
            data = await run_in_threadpool(view.call, app.store, query, app.settings.home_dir)
        except ViewError as exc:
            return _json({"error": str(exc)}, 400)
        if data is None:
            return _json({"error": f"nothing found for {query}"}, 404)
        response = _json(data)
        # The view's own time, apart from HTTP and JSON: visible in the browser's network panel.
        response.headers["Server-Timing"] = f"view;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    @router.get("/api/events/{event_id}", summary="One stored record with its lineage and, when readable, raw line")
    def event(event_id: str) -> Response:
        data = event_record(app.store, event_id)
        return _json(data) if data is not None else _json({"error": f"no event {event_id!r}"}, 404)

    @router.post("/api/facts/refresh", summary="Rebuild the dashboard facts now (after a manual correlation)")
    async def refresh() -> Response:
        job = refresher.kick(force=True)
        result = await asyncio.wrap_future(job) if job is not None else None
        return _json({"refreshed": result})

    # --- saved views ------------------------------------------------------------------------
    async def _write(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Response:
        # Ingest accepts any origin (CORS *); edits to saved views come only from this UI's own pages.
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.url.netloc:
            return _json({"error": "saved views can only be changed from Seamline's own pages"}, 403)
        job = app.writer.call(lambda store: fn(store, *args, **kwargs))
        try:
            result = await asyncio.wrap_future(job)
        except SavedViewError as exc:
            return _json({"error": str(exc)}, 400)
        except KeyError as exc:
            return _json({"error": f"no saved view {exc.args[0]!r}"}, 404)
        return _json(result if result is not None else {"deleted": True})

    async def _body(request: Request) -> dict[str, Any]:
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return {}
        return data if isinstance(data, dict) else {}

    @router.get("/api/saved-views", summary="Shared views and teams' saved views")
    def saved_list(team: str | None = None) -> Response:
        return _json(VIEWS["saved_views"].call(app.store, {"team": team}))

    @router.get("/api/saved-views/{view_id}", summary="One saved view")
    def saved_get(view_id: str) -> Response:
        found = get_view(app.store, view_id)
        return _json(found) if found else _json({"error": f"no saved view {view_id!r}"}, 404)

    @router.post("/api/saved-views", summary="Save a view for a team", status_code=201)
    async def saved_create(request: Request) -> Response:
        body = await _body(request)
        fields = {k: body.get(k) for k in ("name", "team", "page", "query", "description", "based_on")}
        missing = [k for k in ("name", "team", "page") if not fields[k]]
        if missing:
            return _json({"error": f"missing {', '.join(missing)}"}, 400)
        response = await _write(request, create_view, **{k: v for k, v in fields.items() if v is not None})
        if response.status_code == 200:
            response.status_code = 201
        return response

    @router.put("/api/saved-views/{view_id}", summary="Edit a team's saved view")
    async def saved_update(view_id: str, request: Request) -> Response:
        body = await _body(request)
        changes = {k: body[k] for k in ("name", "team", "page", "query", "description") if k in body}
        return await _write(request, update_view, view_id, **changes)

    @router.delete("/api/saved-views/{view_id}", summary="Delete a team's saved view")
    async def saved_delete(view_id: str, request: Request) -> Response:
        return await _write(request, delete_view, view_id)

    # --- static -----------------------------------------------------------------------------
    @router.get("/ui/plotly.min.js", include_in_schema=False)
    def plotly(request: Request) -> Response:
        if not plotly_body:
            plotly_body.append(_plotly_js())
        return _static(request, plotly_body[0], "text/javascript; charset=utf-8")

    @router.get("/ui/static/{name}", include_in_schema=False)
    def static(name: str, request: Request) -> Response:
        path = STATIC / name
        media_type = STATIC_TYPES.get(path.suffix)
        if name.startswith(".") or "/" in name or media_type is None or not path.is_file():
            return JSONResponse({"error": f"no static file {name!r}"}, status_code=404)
        return _static(request, path.read_bytes(), media_type)

    return router


def _page_handler(render: Any, page: str, template: str, title: str) -> Any:
    """A handler rendering one fixed page; it takes nothing from the request but the request."""

    def page_handler(request: Request) -> HTMLResponse:
        return render(request, template, page, title=title)

    return page_handler


def _static(request: Request, body: bytes, media_type: str) -> Response:
    etag = f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def mount_ui(api: FastAPI, app: App) -> None:
    """Add the UI's pages and JSON views to the FastAPI app of `seamline serve`."""
    api.include_router(create_ui_router(app))
    api.include_router(create_alerts_router(app))  # /alerts and /api/alerts (seamline.alerting)
    api.include_router(create_investigate_router(app))  # /investigate, /review, /api/annotations (seamline.playbooks)
