"""Saved views: shared ones defined here (read-only), and teams' own, stored in `saved_views`.

A saved view is a UI page plus its URL query (filters and parameters). Teams start from a
shared view or from any page, save it under their team's name, and edit or delete it later;
the shared views cannot be changed, so everyone keeps a known-good starting point.
Writes take a writable store: in `seamline serve` they run as jobs on the writer thread.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from seamline.store.base import Statement, Store
from seamline.views._common import rows

PAGES = ("overview", "flow", "failures", "impact", "heatmap", "releases", "vitals", "quality", "session")
SHARED_TEAM = "shared"
_MAX_QUERY = 2000


@dataclass(frozen=True, slots=True)
class SavedView:
    """One saved view as the UI lists it."""

    view_id: str
    name: str
    team: str
    page: str
    query: str
    description: str | None = None
    based_on: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    shared: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the URL path the view opens."""
        return {**asdict(self), "url": page_url(self.page, self.query)}


# fmt: off
SHARED: tuple[SavedView, ...] = (
    SavedView("shared-overview-7d", "Watchlist, last 7 days", SHARED_TEAM, "overview", "range=7d",
              "Health of the watched flows and pages over a week.", shared=True),
    SavedView("shared-checkout", "Checkout health", SHARED_TEAM, "flow", "flow=checkout",
              "Latency, segments, failures and slowest transactions of checkout.", shared=True),
    SavedView("shared-failing-routes", "Failing API routes", SHARED_TEAM, "failures", "by=route",
              "Client requests by route: no response, 4xx, 5xx, timeouts.", shared=True),
    SavedView("shared-backends", "Backends and dependencies", SHARED_TEAM, "failures", "by=service",
              "Gateway, services and their database and third-party calls.", shared=True),
    SavedView("shared-heatmap", "Backend latency vs page errors", SHARED_TEAM, "heatmap",
              "backend=latency&frontend=errors", "Which backend moves with which page's errors.", shared=True),
    SavedView("shared-release", "Latest release against the one before", SHARED_TEAM, "impact", "mode=release",
              "p90 and failure rate before and after the latest release.", shared=True),
    SavedView("shared-vitals-browser", "Web vitals by browser", SHARED_TEAM, "vitals", "by=browser",
              "p75 LCP, INP, CLS per browser.", shared=True),
)
# fmt: on
_SHARED_IDS = {v.view_id for v in SHARED}


class SavedViewError(ValueError):
    """A saved view that cannot be stored or changed, with the reason."""


def page_url(page: str, query: str) -> str:
    """The UI path a saved view opens."""
    params = dict(parse_qsl(query))
    if page == "overview":
        path = "/"
    elif page == "flow":
        path = f"/flows/{params.pop('flow', 'checkout')}"
    elif page == "session":
        path = f"/sessions/{params.pop('session', '')}"
    else:
        path = f"/{page}"
    rest = urlencode(params)
    return f"{path}?{rest}" if rest else path


def _clean(name: str | None, team: str | None, page: str | None, query: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if name is not None:
        name = name.strip()
        if not 0 < len(name) <= 100:
            raise SavedViewError("a name of 1 to 100 characters is needed")
        out["name"] = name
    if team is not None:
        team = team.strip()
        if not 0 < len(team) <= 60:
            raise SavedViewError("a team name of 1 to 60 characters is needed")
        if team.lower() == SHARED_TEAM:
            raise SavedViewError(f"team {SHARED_TEAM!r} is reserved for the built-in views")
        out["team"] = team
    if page is not None:
        if page not in PAGES:
            raise SavedViewError(f"page must be one of {', '.join(PAGES)}")
        out["page"] = page
    if query is not None:
        query = query.strip().lstrip("?")
        if len(query) > _MAX_QUERY:
            raise SavedViewError(f"the query is longer than {_MAX_QUERY} characters")
        out["query"] = urlencode(parse_qsl(query))  # normalised, so nothing but key=value pairs is kept
    return out


def list_views(store: Store, team: str | None = None) -> list[dict[str, Any]]:
    """Shared views first, then the teams' (optionally one team's), newest edit first."""
    params: list[Any] = []
    cond = "true"
    if team:
        cond, params = "team = ?", [team]
    stored = rows(store, f"SELECT * FROM saved_views WHERE {cond} ORDER BY team, updated_at DESC", params)
    return [v.as_dict() for v in SHARED] + [SavedView(**r).as_dict() for r in stored]


def get_view(store: Store, view_id: str) -> dict[str, Any] | None:
    """One saved or shared view."""
    for v in SHARED:
        if v.view_id == view_id:
            return v.as_dict()
    found = rows(store, "SELECT * FROM saved_views WHERE view_id = ?", [view_id])
    return SavedView(**found[0]).as_dict() if found else None


def create_view(
    store: Store,
    name: str,
    team: str,
    page: str,
    query: str = "",
    description: str | None = None,
    based_on: str | None = None,
) -> dict[str, Any]:
    """Save a new team view; returns it."""
    values = _clean(name, team, page, query)
    now = datetime.now(UTC)
    view = SavedView(
        uuid.uuid4().hex[:16],
        values["name"],
        values["team"],
        values["page"],
        values["query"],
        (description or "").strip()[:500] or None,
        based_on,
        now,
        now,
    )
    store.apply(
        [
            Statement(
                "INSERT INTO saved_views (view_id, name, team, page, query, description, based_on, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (view.view_id, view.name, view.team, view.page, view.query, view.description, view.based_on, now, now),
            )
        ]
    )
    return view.as_dict()


def update_view(store: Store, view_id: str, **changes: str | None) -> dict[str, Any]:
    """Edit a team view's name, team, page, query or description; shared views refuse."""
    if view_id in _SHARED_IDS:
        raise SavedViewError("shared views cannot be changed; save a copy for your team instead")
    if get_view(store, view_id) is None:
        raise KeyError(view_id)
    values: dict[str, Any] = _clean(changes.get("name"), changes.get("team"), changes.get("page"), changes.get("query"))
    if "description" in changes:
        values["description"] = (changes["description"] or "").strip()[:500] or None
    if values:
        sets = ", ".join(f"{k} = ?" for k in values)  # keys come from _clean, never from the caller
        store.apply(
            [
                Statement(
                    f"UPDATE saved_views SET {sets}, updated_at = ? WHERE view_id = ?",
                    (*values.values(), datetime.now(UTC), view_id),
                )
            ]
        )
    found = get_view(store, view_id)
    assert found is not None
    return found


def delete_view(store: Store, view_id: str) -> None:
    """Delete a team view; shared views refuse."""
    if view_id in _SHARED_IDS:
        raise SavedViewError("shared views cannot be deleted")
    if get_view(store, view_id) is None:
        raise KeyError(view_id)
    store.apply([Statement("DELETE FROM saved_views WHERE view_id = ?", (view_id,))])
