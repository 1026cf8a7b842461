"""Roles, what each may do, and what every route and view needs — declared once, here.

A role grants capabilities; a route or view needs one capability. Enforcement (HTTP
middleware in `_http.py`, the CLI guard in `_cli.py`) looks requirements up in this module, so
a route added later without thought is still covered: anything unlisted needs `admin`
(default deny), and a test walks every registered route and view to keep the tables honest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from seamline.dictionary import ROLES


class Cap(StrEnum):
    """One thing a request or command may need."""

    PUBLIC = "public"  # no token at all (health, static files, the login page)
    INGEST = "ingest"  # send data in
    AGGREGATES = "aggregates"  # dashboards and views that return counts, rates, percentiles
    ROWS = "rows"  # row-level reads (pseudonymized): waterfall, session timeline, raw events, SQL
    EDIT = "edit"  # change shared objects that are not settings (saved views)
    ADMIN = "admin"  # tokens, settings, audit log, retention, erasure


ROLE_CAPS: dict[str, frozenset[Cap]] = {
    "ingest": frozenset({Cap.INGEST}),
    "viewer": frozenset({Cap.AGGREGATES}),
    "analyst": frozenset({Cap.AGGREGATES, Cap.ROWS, Cap.EDIT}),
    "admin": frozenset({Cap.INGEST, Cap.AGGREGATES, Cap.ROWS, Cap.EDIT, Cap.ADMIN}),
}
assert tuple(ROLE_CAPS) == ROLES, "roles are declared in the dictionary and granted here"

ROLE_HELP: dict[str, str] = {
    "ingest": "send data to the ingest routes (/v1/...) only",
    "viewer": "dashboards and views that return aggregates; no row-level data",
    "analyst": "aggregates and pseudonymized rows (waterfall, sessions, raw events, SQL); edit saved views",
    "admin": "everything, plus tokens, settings, the audit log, retention and erasure",
}

# Every view of `seamline.views.VIEWS`: does it return aggregates, or rows about single
# transactions, sessions or events? A view missing here counts as rows (default deny), and
# tests/test_access.py fails until it is classified.
AGGREGATE = "aggregate"
ROW_LEVEL = "rows"
VIEW_CLASS: dict[str, str] = {
    "overview": AGGREGATE,
    "watchlist": AGGREGATE,
    "flows": AGGREGATE,
    "flow_latency": AGGREGATE,
    "flow_steps": AGGREGATE,
    "slow_transactions": ROW_LEVEL,  # lists single transactions with their ids, each opening a waterfall
    "failures": AGGREGATE,
    "user_impact": AGGREGATE,
    "heatmap": AGGREGATE,
    "releases": AGGREGATE,
    "release_impact": AGGREGATE,
    "flag_impact": AGGREGATE,
    "web_vitals": AGGREGATE,
    "session": ROW_LEVEL,
    "waterfall": ROW_LEVEL,
    "coverage": AGGREGATE,
    "data_quality": AGGREGATE,
    "dictionary": AGGREGATE,
    "filter_options": AGGREGATE,
    "saved_views": AGGREGATE,
}


def view_cap(name: str) -> Cap:
    """What reading one view needs (unknown or unclassified views need row access)."""
    return Cap.AGGREGATES if VIEW_CLASS.get(name) == AGGREGATE else Cap.ROWS


# HTTP routes by path template (as FastAPI registers them) and method. "*" matches any method.
# A route may instead carry its requirement itself: `openapi_extra={"x-seamline-access": "rows"}`
# or the `requires(...)` decorator on its endpoint; that wins over this table.
ROUTE_CAPS: dict[tuple[str, str], Cap] = {
    ("*", "/healthz"): Cap.PUBLIC,
    ("*", "/sdk/{name}"): Cap.PUBLIC,
    ("*", "/ui/static/{name}"): Cap.PUBLIC,
    ("*", "/ui/plotly.min.js"): Cap.PUBLIC,
    ("*", "/login"): Cap.PUBLIC,
    ("*", "/logout"): Cap.PUBLIC,
    # FastAPI's own schema pages describe routes, not data; still not for the anonymous world.
    ("*", "/openapi.json"): Cap.AGGREGATES,
    ("*", "/docs"): Cap.AGGREGATES,
    ("*", "/docs/oauth2-redirect"): Cap.AGGREGATES,
    ("*", "/redoc"): Cap.AGGREGATES,
    # ingest
    ("*", "/v1/client"): Cap.INGEST,
    ("*", "/v1/batch"): Cap.INGEST,
    ("*", "/v1/track"): Cap.INGEST,
    ("*", "/v1/page"): Cap.INGEST,
    ("*", "/v1/screen"): Cap.INGEST,
    ("*", "/v1/identify"): Cap.INGEST,
    ("*", "/v1/group"): Cap.INGEST,
    ("*", "/v1/alias"): Cap.INGEST,
    ("*", "/v1/traces"): Cap.INGEST,
    ("*", "/v1/logs"): Cap.INGEST,
    ("*", "/v1/json-logs"): Cap.INGEST,
    # UI pages over aggregate views
    ("*", "/"): Cap.AGGREGATES,
    ("*", "/flows/{flow}"): Cap.AGGREGATES,
    ("*", "/failures"): Cap.AGGREGATES,
    ("*", "/heatmap"): Cap.AGGREGATES,
    ("*", "/impact"): Cap.AGGREGATES,
    ("*", "/vitals"): Cap.AGGREGATES,
    ("*", "/quality"): Cap.AGGREGATES,
    ("*", "/saved"): Cap.AGGREGATES,
    ("*", "/dictionary"): Cap.AGGREGATES,
    # row-level pages and data
    ("*", "/transactions/{ident}"): Cap.ROWS,
    ("*", "/sessions/{session_id}"): Cap.ROWS,
    ("*", "/api/events/{event_id}"): Cap.ROWS,
    # JSON views: /api/views/{name} is decided per view by `view_cap`
    ("GET", "/api/views"): Cap.AGGREGATES,
    ("GET", "/api/saved-views"): Cap.AGGREGATES,
    ("GET", "/api/saved-views/{view_id}"): Cap.AGGREGATES,
    ("POST", "/api/saved-views"): Cap.EDIT,
    ("PUT", "/api/saved-views/{view_id}"): Cap.EDIT,
    ("DELETE", "/api/saved-views/{view_id}"): Cap.EDIT,
    ("POST", "/api/facts/refresh"): Cap.EDIT,
    # administration
    ("*", "/api/audit"): Cap.ADMIN,
    ("*", "/api/tokens"): Cap.ADMIN,
    ("*", "/api/tokens/{token_id}"): Cap.ADMIN,
    ("*", "/api/whoami"): Cap.PUBLIC,  # answers 401 itself when no valid token is presented
}

# Paths whose requirement depends on a path parameter.
VIEW_ROUTES = ("/api/views/{name}",)

ACCESS_KEY = "x-seamline-access"


def route_cap(method: str, path: str, path_params: Mapping[str, str] | None = None, declared: str | None = None) -> Cap:
    """What a request to a route (its path template) needs; unlisted routes need admin."""
    if declared:
        return Cap(declared)
    if path in VIEW_ROUTES:
        return view_cap(str((path_params or {}).get("name", "")))
    found = ROUTE_CAPS.get((method.upper(), path)) or ROUTE_CAPS.get(("*", path))
    return found if found is not None else Cap.ADMIN


def allows(role: str | None, cap: Cap) -> bool:
    """Whether a role holds a capability (public needs no role)."""
    if cap is Cap.PUBLIC:
        return True
    return role is not None and cap in ROLE_CAPS.get(role, frozenset())


def minimum_role(cap: Cap) -> str:
    """The least powerful role holding a capability (for error messages)."""
    for role in ("ingest", "viewer", "analyst", "admin"):
        if cap in ROLE_CAPS[role]:
            return role
    return "admin"


F = TypeVar("F", bound=Callable[..., Any])


def requires(cap: Cap | str) -> Callable[[F], F]:
    """Decorator: mark an endpoint with what it needs (wins over ROUTE_CAPS)."""
    value = Cap(cap)

    def mark(fn: F) -> F:
        fn.__seamline_access__ = value  # type: ignore[attr-defined]
        return fn

    return mark


# CLI commands by path ("views show"); a callable decides from the parsed arguments. Commands
# that read no stored data are public; anything unlisted (a command added later) needs admin.
CLI_CAPS: dict[str, Cap | Callable[[Mapping[str, Any]], Cap]] = {
    "simulate": Cap.PUBLIC,
    "sources": Cap.PUBLIC,
    "sniff": Cap.PUBLIC,
    "playbooks list": Cap.PUBLIC,  # templates, no data
    "playbooks show": Cap.PUBLIC,
    "pii rules": Cap.PUBLIC,  # the configured rules, no data
    "pii test": Cap.PUBLIC,  # scrubs text given on the command line
    "dictionary": Cap.PUBLIC,
    "serve": Cap.PUBLIC,  # the server enforces tokens itself, per request
    "tokens create": Cap.PUBLIC,  # decides itself: the first admin token is created locally, later ones need admin
    "ingest": Cap.INGEST,
    "summary": Cap.AGGREGATES,
    "coverage": Cap.AGGREGATES,
    "skew": lambda args: Cap.ROWS if args.get("top") else Cap.AGGREGATES,
    "schema status": Cap.AGGREGATES,
    "schema history": Cap.AGGREGATES,
    "views list": Cap.AGGREGATES,
    "views show": lambda args: view_cap(str(args.get("name", ""))),
    "watchlist show": Cap.AGGREGATES,
    "trace": Cap.ROWS,
    "query": Cap.ROWS,
    "quarantine list": Cap.ROWS,
    "investigate": Cap.AGGREGATES,  # playbook reports are built from aggregate views
    "quality": Cap.AGGREGATES,
    "schema drift": Cap.AGGREGATES,
    "retention policy": Cap.AGGREGATES,  # the configured TTLs, no data
    "review": Cap.AGGREGATES,
    "alerts list": Cap.AGGREGATES,
    "annotate list": Cap.AGGREGATES,
    "correlate": Cap.EDIT,
    # With a FILE it only sniffs the format; --no-store reads aggregates; otherwise it stores anomalies.
    "detect": lambda args: Cap.PUBLIC if args.get("file") else Cap.EDIT if args.get("store", True) else Cap.AGGREGATES,
    "alerts check": Cap.EDIT,
    "alerts test": Cap.EDIT,
    "annotate add": Cap.EDIT,
    "annotate remove": Cap.EDIT,
    "alerts init": Cap.ADMIN,  # writes the rules file (a setting)
    "keys list": Cap.ADMIN,
    "retention apply": Cap.ADMIN,
    "forget": Cap.ADMIN,
    "store encrypt": Cap.ADMIN,
    "keys rotate": Cap.ADMIN,
    "keys prune": Cap.ADMIN,
    "views refresh": Cap.EDIT,
    "watchlist init": Cap.EDIT,
    "settings": Cap.ADMIN,
    "schema upgrade": Cap.ADMIN,
    "schema downgrade": Cap.ADMIN,
    "quarantine reingest": Cap.ADMIN,
    "tokens list": Cap.ADMIN,
    "tokens revoke": Cap.ADMIN,
    "audit": Cap.ADMIN,
}


def cli_cap(path: str, args: Mapping[str, Any]) -> Cap:
    """What a CLI command (by path, with its parsed arguments) needs; unlisted commands need admin."""
    found = CLI_CAPS.get(path, Cap.ADMIN)
    return found(args) if callable(found) else found
