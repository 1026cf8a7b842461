"""HTTP twins of the governance commands, for a store held by `seamline serve`.

While the server runs it holds the database, so `seamline retention apply` and `seamline
forget` cannot open it; these routes run the same code as jobs on the server's writer thread.
Retention and erasure need an admin token (routes not listed in `access.roles` default to
admin); the reports need aggregate access.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from seamline._output import to_json
from seamline.app import App

_AGGREGATES = {"x-seamline-access": "aggregates"}


def _json(data: Any, status: int = 200) -> Response:
    return Response(to_json(data, indent=False), status_code=status, media_type="application/json")


def _who(request: Request) -> tuple[str, str | None]:
    from seamline.access._http import principal_of

    principal = principal_of(request)
    return principal.actor, principal.role


def create_governance_router(app: App) -> APIRouter:
    """POST /api/retention/apply, POST /api/forget; GET /api/schema/history, /api/schema/drift, /api/quality."""
    router = APIRouter()

    @router.post("/api/retention/apply", summary='Apply retention now (admins): {"confirm": true} or {"dry_run": true}')
    async def retention_apply(request: Request) -> Response:
        from seamline.governance.retention import run_audited

        try:
            body = await request.json()
        except ValueError:
            body = None
        # Deleting is never the effect of an empty or stray request: it must be asked for in the body.
        if not isinstance(body, dict) or not (body.get("confirm") is True or body.get("dry_run") is True):
            return _json({"error": 'send {"confirm": true} to delete, or {"dry_run": true} to count'}, 400)
        dry_run = body.get("dry_run") is True
        actor, role = _who(request)
        job = app.writer.call(
            lambda store: run_audited(store, app.settings, actor=actor, role=role, origin="http", dry_run=dry_run)
        )
        try:
            result = await asyncio.wrap_future(job)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json(result.as_dict())

    @router.post("/api/forget", summary='Erase one person (admins): {"user": id} or {"pseudonym": p_...}')
    async def forget(request: Request) -> Response:
        from seamline.governance.erasure import ErasureError, forget_audited

        try:
            body = await request.json()
        except ValueError:
            return _json({"error": 'send a JSON object: {"user": "..."} or {"pseudonym": "p_..."}'}, 400)
        if not isinstance(body, dict) or set(body) - {"user", "pseudonym"}:
            return _json({"error": 'send a JSON object with "user" or "pseudonym" only'}, 400)
        user, pseudonym = body.get("user"), body.get("pseudonym")
        if not all(v is None or isinstance(v, str) for v in (user, pseudonym)):
            return _json({"error": "user and pseudonym must be strings"}, 400)
        actor, role = _who(request)
        job = app.writer.call(
            lambda store: forget_audited(
                store, app.settings, actor=actor, role=role, user=user, pseudonym=pseudonym, origin="http"
            )
        )
        try:
            result = await asyncio.wrap_future(job)
        except ErasureError as exc:
            return _json({"error": str(exc)}, 400)
        return _json(result.as_dict())

    @router.get("/api/schema/history", summary="Applied migrations and who applied them", openapi_extra=_AGGREGATES)
    def schema_history() -> Response:
        from seamline.governance.history import schema_history as history

        return _json(history(app.store))

    @router.get("/api/schema/drift", summary="New fields and type changes per source", openapi_extra=_AGGREGATES)
    def schema_drift(source: str | None = None, since: str | None = None) -> Response:
        from datetime import UTC, datetime

        from seamline.governance.quality import parse_since
        from seamline.governance.schema_drift import drift_report

        try:
            return _json(drift_report(app.store, since=parse_since(since, datetime.now(UTC)), source=source))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    @router.get("/api/quality", summary="The data quality report (per source and field)", openapi_extra=_AGGREGATES)
    def quality(source: str | None = None, since: str | None = None, until: str | None = None) -> Response:
        from seamline.governance.quality import parse_since, quality_report

        try:
            end = parse_since(until, None) if until else None
            return _json(quality_report(app.store, source=source, since=since, until=end))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    return router
