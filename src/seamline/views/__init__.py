"""Views: named, documented, parameterised queries over the store — the only way pages and scripts read data.

`VIEWS` maps each name to its function, its parameters and a one-line description. Every view
that reads a time range takes the shared `Filters` (range or from/to, environment, release,
flag=name:variant, segment, browser, region) from the same URL query parameters, so the web
UI, its JSON twins under /api/views/<name>, the CLI and tests all call the same function the
same way: `VIEWS[name].call(store, query_params)`.

Most views read `transaction_facts` and `request_facts` (see `seamline.views.facts`), which
`refresh_facts` keeps up to date after each correlation run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seamline.store.base import Store
from seamline.views import (
    failures,
    heatmap,
    impact,
    latency,
    quality,
    releases,
    saved,
    session,
    vitals,
    watchlist,
)
from seamline.views._filters import FILTER_KEYS, FilterError, Filters
from seamline.views.coverage import DIMENSIONS as COVERAGE_DIMENSIONS
from seamline.views.coverage import join_coverage
from seamline.views.waterfall import transaction_waterfall

_MAX_INT_PARAM = 1_000_000


class ViewError(ValueError):
    """A view was asked for with a parameter it cannot use."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a view, as it arrives in a URL query or on the command line."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    required: bool = False

    def parse(self, raw: Any) -> Any:
        """The typed value of a raw query value (None gives the default)."""
        if raw is None or raw == "":
            if self.required:
                raise ViewError(f"parameter {self.name!r} is required: {self.help}")
            return self.default
        if self.type is bool:
            value: Any = str(raw).lower() in ("1", "true", "yes", "on")
        else:
            try:
                value = self.type(raw)
            except (TypeError, ValueError):
                raise ViewError(f"parameter {self.name!r} must be a {self.type.__name__}, not {raw!r}") from None
        if self.type is int and not 0 <= value <= _MAX_INT_PARAM:
            # Counts and limits: out-of-range values would reach SQL LIMITs and fail there as a 500.
            raise ViewError(f"parameter {self.name!r} must be between 0 and {_MAX_INT_PARAM}, not {value}")
        if self.type is float and not math.isfinite(value):
            raise ViewError(f"parameter {self.name!r} must be a finite number, not {raw!r}")
        if self.choices and value not in self.choices:
            raise ViewError(f"parameter {self.name!r} must be one of {', '.join(self.choices)}, not {value!r}")
        return value

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "help": self.help,
            "choices": list(self.choices),
            "required": self.required,
        }


@dataclass(frozen=True, slots=True)
class View:
    """A named view: its function, what it takes and what it answers."""

    name: str
    function: Callable[..., Any]
    doc: str
    params: tuple[Param, ...] = ()
    filtered: bool = True  # takes the shared Filters
    takes_store: bool = True
    takes_home: bool = False  # reads a file in the home directory (the watchlist)
    page: str | None = None  # the UI page that shows it

    def call(self, store: Store | None, query: Mapping[str, Any], home: Path | None = None) -> Any:
        """Run the view with parameters from a URL query (or any mapping of strings)."""
        args: list[Any] = [store] if self.takes_store else []
        if self.filtered:
            try:
                args.append(Filters.from_params(query))
            except FilterError as exc:
                raise ViewError(str(exc)) from None
        kwargs = {p.name: p.parse(query.get(p.name)) for p in self.params}
        if self.takes_home:
            kwargs["home"] = home
        try:
            return self.function(*args, **kwargs)
        except (FilterError, ValueError) as exc:
            if isinstance(exc, ViewError):
                raise
            raise ViewError(str(exc)) from None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for /api/views and `seamline views list`)."""
        return {
            "name": self.name,
            "doc": self.doc,
            "filters": list(FILTER_KEYS) if self.filtered else [],
            "params": [p.as_dict() for p in self.params],
            "page": self.page,
            "endpoint": f"/api/views/{self.name}",
        }


def _coverage(store: Store, filters: Filters, by: str, limit: int) -> dict[str, Any]:
    window = filters.window(store)
    return {"window": window.as_dict(), **join_coverage(store, by, limit, window.start, window.end)}


_FLOW = Param("flow", str, None, "A flow (user journey) name; '(none)' for page loads outside any flow.")
_THRESHOLD = Param("threshold_ms", float, 3000.0, "End-to-end latency above which a transaction counts as slow.")

# One view per entry, parameters aligned: the formatter leaves the table alone.
# fmt: off
VIEWS: dict[str, View] = {
    v.name: v
    for v in (
        View("overview", watchlist.overview, "Health of the watched flows and pages, now against before, over time.",
             takes_home=True, page="/"),
        View("watchlist", watchlist.watchlist, "The watched flows and pages (watchlist.yaml, else by traffic).",
             takes_home=True),
        View("flows", latency.flows, "Every flow: traffic, users, e2e p50/p90/p99 and failure rate.", page="/"),
        View("flow_latency", latency.flow_latency,
             "End-to-end latency p50/p90/p99 per flow over time, split into client/network/server/dependency.",
             (_FLOW, Param("kind", str, "action", "Interactions (action), page loads (navigation) or all.",
                           ("all", "action", "navigation"))),
             page="/flows/{flow}"),
        View("flow_steps", latency.flow_steps, "Per step of a flow: traffic, e2e p50/p90, segments, failure rate.",
             (_FLOW,), page="/flows/{flow}"),
        View("slow_transactions", latency.slow_transactions,
             "The slowest, failed or latest transactions of a flow, step or page (each opens a waterfall).",
             (_FLOW, Param("name", str, None, "A step (action name or page route)."),
              Param("page", str, None, "A page route."),
              Param("show", str, "slowest", "Which transactions.", ("slowest", "failed", "latest")),
              Param("kind", str, "all", "Interactions (action), page loads (navigation) or all.",
                    ("all", "action", "navigation")),
              Param("limit", int, 25, "How many (at most 500).")),
             page="/flows/{flow}"),
        View("failures", failures.failure_rates,
             "Failure rates (JS errors, no response, 4xx, 5xx, server errors, timeouts) per flow, page, route or "
             "service.",
             (Param("by", str, "flow", "Dimension.", failures.TRANSACTION_DIMENSIONS + failures.REQUEST_DIMENSIONS),
              Param("layer", str, None, "For route/service: client, gateway, service or dependency.",
                    failures.LAYERS),
              _FLOW, Param("top", int, 6, "Series for the worst N.")),
             page="/failures"),
        View("user_impact", impact.user_impact,
             "Distinct users and sessions that met a failure or slowdown, their share, over time and by dimension.",
             (Param("condition", str, "failed", "What hurt.", tuple(impact.CONDITIONS)), _THRESHOLD, _FLOW,
              Param("page", str, None, "Only transactions on this page."),
              Param("name", str, None, "Only this step (action name or page)."),
              Param("route", str, None, "Only transactions with a request on this route."),
              Param("service", str, None, "Only transactions served by this service.")),
             page="/failures"),
        View("heatmap", heatmap.correlation_heatmap,
             "Page x backend correlation over time of backend latency/errors with frontend errors/slowness.",
             (Param("backend", str, "latency", "Backend metric.", tuple(heatmap.BACKEND)),
              Param("frontend", str, "errors", "Frontend metric.", tuple(heatmap.FRONTEND)), _THRESHOLD,
              Param("pages", int, 10, "Busiest N pages."), Param("services", int, 10, "Busiest N backends.")),
             page="/heatmap"),
        View("releases", releases.releases, "Frontend and backend releases: first and last seen, traffic.",
             page="/impact"),
        View("release_impact", lambda store, filters, baseline: releases.release_impact(
                 store, filters, filters.release, baseline),
             "p90 and failure rate of a release (the `release` filter, else the latest) against the one before, "
             "with 95% CIs.",
             (Param("baseline", str, None, "Release to compare against (default: the one before)."),),
             page="/impact"),
        View("flag_impact", lambda store, filters: releases.flag_impact(store, filters),
             "p90 and failure rate with a flag variant (the `flag` filter, name:variant) against without, with 95% "
             "CIs.",
             page="/impact"),
        View("web_vitals", vitals.web_vitals, "Web vitals p75 and poor share per page and browser, and over time.",
             (Param("by", str, "page", "Grouping.", tuple(vitals.GROUPINGS)),
              Param("vital", str, None, "One vital only.", vitals.VITALS)),
             page="/vitals"),
        View("session", session.session_timeline,
             "Everything one session did and met, client and server, in order.",
             (Param("session_id", str, None, "Browser session id.", required=True),
              Param("include_vitals", bool, True, "Include web vitals and resource timings.")),
             filtered=False, page="/sessions/{session_id}"),
        View("waterfall", transaction_waterfall,
             "One transaction from the click to the database: every member on one timeline, with its source.",
             (Param("ident", str, None, "Transaction, event, trace or request id.", required=True),),
             filtered=False, page="/transactions/{ident}"),
        View("coverage", _coverage, "Share of client requests linked exactly, by score, or not at all, and why.",
             (Param("by", str, "route", "Breakdown.", tuple(COVERAGE_DIMENSIONS)),
              Param("limit", int, 50, "Rows of the breakdown.")),
             page="/quality"),
        View("data_quality", quality.data_quality,
             "Quarantine, out-of-range values, ingest per source, join coverage, clock offsets, correlation runs.",
             page="/quality"),
        View("dictionary", quality.data_dictionary, "Every stored table and column: type, unit, range, privacy, "
             "meaning.", filtered=False, takes_store=False, page="/dictionary"),
        View("filter_options", quality.filter_options, "Values each filter can take in the window."),
        View("saved_views", saved.list_views, "Shared views and teams' saved views.",
             (Param("team", str, None, "Only this team's."),), filtered=False, page="/saved"),
    )
}
# fmt: on


def run_view(store: Store | None, name: str, query: Mapping[str, Any], home: Path | None = None) -> Any:
    """Run a view by name with URL-style parameters."""
    if name not in VIEWS:
        raise KeyError(name)
    return VIEWS[name].call(store, query, home)


__all__ = ["VIEWS", "Filters", "Param", "View", "ViewError", "run_view"]
