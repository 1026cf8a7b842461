"""The Alerts page and its JSON twin: open and recent alerts, each linked to its investigation.

Rendered on the server from `list_alerts` (the same function `seamline alerts list` calls),
so the page needs no script of its own; `/api/alerts` answers the same rows as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from seamline._output import to_json
from seamline.alerting import list_alerts
from seamline.app import App
from seamline.views._filters import RANGES, Filters

STATES = ("open", "firing", "pending", "resolved", "cancelled", "all")
_RECENT = 50
# Alerts are aggregate figures (no row-level data): viewers may read them (seamline.access.roles).
_AGGREGATES = {"x-seamline-access": "aggregates"}


def _json(data: Any, status: int = 200) -> Response:
    return Response(to_json(data, indent=False), status_code=status, media_type="application/json")


def _since(alert: dict[str, Any]) -> datetime:
    return alert["fired_at"] or alert["started_at"]


def _fmt_value(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    if metric.endswith("_rate"):
        return f"{value:.1%}"
    if metric.endswith("_ms"):
        return f"{value:,.0f} ms"
    return f"{value:,.3g}"


def _for_page(alert: dict[str, Any], now: datetime) -> dict[str, Any]:
    # Open alerts last until their latest evaluation: a replay over past data is not "open for weeks".
    end = alert["resolved_at"] or alert["last_seen_at"] or now
    minutes = max(0.0, (end - alert["started_at"]).total_seconds() / 60)
    compare = "burn" if alert["condition"] == "burn_rate" else alert["metric"]
    return {
        **alert,
        "since": _since(alert),
        "duration": f"{minutes:.0f} min",
        "scope_text": ", ".join(f"{k}={v}" for k, v in sorted(alert["scope"].items())) or "everything",
        "value_text": f"{alert['value']:.1f}x"
        if compare == "burn" and alert["value"] is not None
        else _fmt_value(alert["value"], compare),
        "threshold_text": f"{alert['threshold']:.1f}x"
        if compare == "burn" and alert["threshold"] is not None
        else _fmt_value(alert["threshold"], compare),
        "threshold_label": "expected" if alert["condition"] in ("anomaly", "deviation") else "limit",
    }


def create_alerts_router(app: App) -> APIRouter:
    """The /alerts page and /api/alerts for one Seamline App."""
    from seamline.web.ui.routes import NAV, _env  # the shared shell: navigation and base template

    router = APIRouter()
    env = _env()

    def _read(state: str, limit: int) -> list[dict[str, Any]]:
        return list_alerts(app.store, state, limit)

    @router.get("/alerts", response_class=HTMLResponse, include_in_schema=False, openapi_extra=_AGGREGATES)
    async def alerts_page(request: Request, state: str = "recent") -> HTMLResponse:
        now = datetime.now(UTC)
        error = None
        if state == "recent":
            open_alerts = await run_in_threadpool(_read, "open", 500)
            others = [
                a
                for a in await run_in_threadpool(_read, "all", _RECENT + len(open_alerts))
                if a["state"] not in ("pending", "firing")
            ][:_RECENT]
        elif state in STATES:
            open_alerts, others = [], await run_in_threadpool(_read, state, 500)
        else:
            error = f"state must be recent or one of {', '.join(STATES)}"
            open_alerts, others = [], []
        html = env.get_template("alerts.html").render(
            page="alerts",
            nav=NAV,
            title="Alerts",
            query=dict(request.query_params),
            filters=Filters(),
            filter_error=error,
            filter_query="",
            ranges=list(RANGES),
            path=request.url.path,
            state=state,
            states=("recent", *STATES),
            open_alerts=[_for_page(a, now) for a in open_alerts],
            others=[_for_page(a, now) for a in others],
        )
        return HTMLResponse(html, status_code=400 if error else 200)

    @router.get(
        "/api/alerts",
        summary="Stored alerts, newest first: state=open|firing|pending|resolved|cancelled|all",
        openapi_extra=_AGGREGATES,
    )
    async def alerts_json(state: str = "open", limit: int = 200) -> Response:
        if state not in STATES:
            return _json({"error": f"state must be one of {', '.join(STATES)}"}, 400)
        if not 1 <= limit <= 5000:
            return _json({"error": "limit must be from 1 to 5000"}, 400)
        return _json({"state": state, "alerts": await run_in_threadpool(_read, state, limit)})

    return router
