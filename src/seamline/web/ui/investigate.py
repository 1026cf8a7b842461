"""Investigations, the health review and findings in the UI, with their JSON twins.

- /investigate lists the playbooks; /investigate/{playbook}?<scope>&at=<ISO time> runs one
  and shows its report (the alerts page links here); /api/investigate/{playbook} is the JSON.
- /review?since=...&until=... shows the health review; /api/review is the JSON.
- /api/annotations lists (GET) and adds (POST) findings; DELETE /api/annotations/{id} removes
  one. The report page's "save as finding" form posts here; charts draw findings.

Reports are rendered on the server by `seamline.playbooks.render`, the same HTML the CLI
writes; its charts are drawn by the report's own small script once plotly.js has loaded.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from seamline._output import to_json
from seamline.app import App
from seamline.playbooks import Playbook, PlaybookError, load_playbooks, parse_scope, run_playbook
from seamline.playbooks.findings import FindingError, add_finding, list_findings, parse_time, remove_finding
from seamline.playbooks.render import TEMPLATES as REPORT_TEMPLATES
from seamline.playbooks.render import fragment, review_fragment
from seamline.playbooks.review import ReviewError, review
from seamline.views._filters import RANGES, Filters

# Reports and the review are aggregates, except steps over row-level views, which are withheld
# from roles that may not read rows (see `_withheld`); findings are shared objects (edit to change).
_AGGREGATES = {"x-seamline-access": "aggregates"}
_EDIT = {"x-seamline-access": "edit"}


def _json(data: Any, status: int = 200) -> Response:
    return Response(to_json(data, indent=False), status_code=status, media_type="application/json")


def _withheld(request: Request) -> frozenset[str]:
    """Row-level views the caller's role may not read (none when access control is off)."""
    from seamline.access._http import principal_of
    from seamline.access.roles import VIEW_CLASS, Cap, allows, view_cap

    guard = getattr(request.app.state, "access_guard", None)
    if guard is None or not guard.configured():
        return frozenset()
    if allows(principal_of(request).role, Cap.ROWS):
        return frozenset()
    return frozenset(name for name in VIEW_CLASS if view_cap(name) is Cap.ROWS)


def create_investigate_router(app: App) -> APIRouter:
    """Pages and JSON for investigations, the review and findings of one Seamline App."""
    from seamline.web.ui.routes import NAV, _env  # the shared shell: navigation and base template

    router = APIRouter()
    env = _env()
    report_js = Markup((REPORT_TEMPLATES / "report.js").read_text(encoding="utf-8"))
    report_css = Markup((REPORT_TEMPLATES / "report.css").read_text(encoding="utf-8"))

    def playbooks() -> dict[str, Playbook]:
        # Read on every request, so a template saved in the folder shows up without a restart.
        settings = app.settings
        return load_playbooks(settings.resolve_in_home(Path(settings.playbooks_dir)))

    def page(request: Request, template: str, name: str, title: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(
            page=name,
            nav=NAV,
            title=title,
            query=dict(request.query_params),
            filters=Filters(),
            filter_error=None,
            filter_query="",
            ranges=list(RANGES),
            path=request.url.path,
            report_js=report_js,
            report_css=report_css,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def _investigate(name: str, query: dict[str, str], withheld: frozenset[str]) -> dict[str, Any]:
        found = playbooks()
        if name not in found:
            raise KeyError(name)
        if not query.get("at"):
            raise PlaybookError("`at` (the incident time, ISO 8601) is required")
        return run_playbook(
            app.store,
            found[name],
            parse_scope(query),
            query["at"],
            query.get("until"),
            app.settings.home_dir,
            alert_id=query.get("alert"),
            withheld=withheld,
        )

    @router.get("/investigate", response_class=HTMLResponse, include_in_schema=False, openapi_extra=_AGGREGATES)
    async def index_page(request: Request) -> HTMLResponse:
        try:
            found, error = await run_in_threadpool(playbooks), None
        except PlaybookError as exc:
            found, error = {}, str(exc)
        return page(
            request,
            "investigate_index.html",
            "investigate",
            "Investigate",
            500 if error else 200,
            playbooks=[p.as_dict() for p in found.values()],
            error=error,
        )

    @router.get("/investigate/{name}", response_class=HTMLResponse, include_in_schema=False, openapi_extra=_AGGREGATES)
    async def report_page(name: str, request: Request) -> HTMLResponse:
        query = dict(request.query_params)
        try:
            report = await run_in_threadpool(_investigate, name, query, _withheld(request))
        except KeyError:
            return page(
                request,
                "investigate.html",
                "investigate",
                "No such playbook",
                404,
                report=None,
                error=f"no playbook {name!r}",
            )
        except PlaybookError as exc:
            return page(request, "investigate.html", "investigate", "Investigation", 400, report=None, error=str(exc))
        return page(
            request,
            "investigate.html",
            "investigate",
            f"{report['playbook']['title']}",
            report=report,
            body=fragment(report),
            error=None,
            kinds=_kinds(),
            finding={
                "at": report["at"].isoformat(),
                "until": report["incident_window"]["end"].isoformat(),
                "scope": report["scope"],
                "alert_id": report.get("alert_id") or "",
                "title": f"{report['playbook']['title']}: {report['verdict']['headline']}".replace("`", "")[:200],
            },
        )

    @router.get(
        "/api/investigate/{name}",
        summary="Run a playbook: scope keys, at=<ISO time>, until, alert",
        openapi_extra=_AGGREGATES,
    )
    async def report_json(name: str, request: Request) -> Response:
        try:
            report = await run_in_threadpool(_investigate, name, dict(request.query_params), _withheld(request))
        except KeyError:
            return _json({"error": f"no playbook {name!r}", "playbooks": sorted(playbooks())}, 404)
        except PlaybookError as exc:
            return _json({"error": str(exc)}, 400)
        return _json(report)

    @router.get("/api/playbooks", summary="Every playbook: built-in and the user's folder", openapi_extra=_AGGREGATES)
    async def playbooks_json() -> Response:
        try:
            return _json([p.as_dict() for p in (await run_in_threadpool(playbooks)).values()])
        except PlaybookError as exc:
            return _json({"error": str(exc)}, 500)

    # --- the health review ------------------------------------------------------------------
    def _review(query: dict[str, str]) -> dict[str, Any]:
        since = query.get("since")
        if not since:
            # Default: the last day of data against the day before.
            latest = app.store.query("SELECT max(start_ts) AS hi FROM transaction_facts").to_pylist()[0]["hi"]
            end = latest or datetime.now(UTC)
            since = (end - RANGES["24h"]).isoformat()  # type: ignore[operator]
        return review(app.store, since, query.get("until"))

    @router.get("/review", response_class=HTMLResponse, include_in_schema=False, openapi_extra=_AGGREGATES)
    async def review_page(request: Request) -> HTMLResponse:
        try:
            data = await run_in_threadpool(_review, dict(request.query_params))
        except ReviewError as exc:
            return page(request, "review_page.html", "review", "Health review", 400, body=None, error=str(exc))
        return page(
            request,
            "review_page.html",
            "review",
            "Health review",
            body=review_fragment(data),
            error=None,
            period=data["period"],
        )

    @router.get("/api/review", summary="Health review: since, until (ISO times)", openapi_extra=_AGGREGATES)
    async def review_json(request: Request) -> Response:
        try:
            return _json(await run_in_threadpool(_review, dict(request.query_params)))
        except ReviewError as exc:
            return _json({"error": str(exc)}, 400)

    # --- findings ---------------------------------------------------------------------------
    @router.get("/api/annotations", summary="Findings overlapping from..to, newest first", openapi_extra=_AGGREGATES)
    async def findings_json(request: Request) -> Response:
        q = request.query_params
        try:
            start = parse_time(q["from"], "from") if q.get("from") else None
            end = parse_time(q["to"], "to") if q.get("to") else None
            found = await run_in_threadpool(
                list_findings, app.store, start, end, q.get("kind") or None, q.get("target") or None
            )
        except FindingError as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"annotations": found})

    async def _write(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Response:
        # Ingest accepts any origin (CORS *); findings change only from this UI's pages or non-browser clients.
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.url.netloc:
            return _json({"error": "findings can only be changed from Seamline's own pages"}, 403)
        job = app.writer.call(lambda store: fn(store, *args, **kwargs))
        try:
            return _json(await asyncio.wrap_future(job))
        except FindingError as exc:
            return _json({"error": str(exc)}, 400)
        except KeyError as exc:
            return _json({"error": f"no finding {exc.args[0]!r}"}, 404)

    @router.post("/api/annotations", summary="Add a finding", status_code=201, openapi_extra=_EDIT)
    async def findings_add(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"error": "the body must be a JSON object"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "the body must be a JSON object"}, 400)
        fields = {k: body.get(k) for k in ("kind", "target", "title", "at", "until", "scope", "body", "alert_id")}
        for key in ("kind", "target", "title", "at", "until", "body", "alert_id"):
            if fields[key] is not None and not isinstance(fields[key], str):
                return _json({"error": f"{key} must be text"}, 400)
        if fields["scope"] is not None and not isinstance(fields["scope"], dict):
            return _json({"error": 'scope must be an object such as {"flow": "checkout"}'}, 400)
        from seamline.access._http import principal_of

        who = principal_of(request)
        response = await _write(
            request,
            add_finding,
            fields["kind"] or "",
            fields["target"] or "",
            fields["title"] or "",
            fields["at"],
            fields["until"],
            fields["scope"],
            fields["body"],
            who.name or None,
            fields["alert_id"],
        )
        if response.status_code == 200:
            response.status_code = 201
        return response

    @router.delete("/api/annotations/{annotation_id}", summary="Remove a finding", openapi_extra=_EDIT)
    async def findings_remove(annotation_id: str, request: Request) -> Response:
        return await _write(request, remove_finding, annotation_id)

    return router


def _kinds() -> tuple[str, ...]:
    from seamline.playbooks.findings import KINDS

    return KINDS
