"""`seamline views` (list, show, refresh) and `seamline watchlist` (show, init): the dashboards' views from the shell.

The same `VIEWS` functions the web UI and its JSON twins call, with the same parameters:
`seamline views show failures --param by=route --param range=7d`.

Register in cli.py with `register(app)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from seamline._output import console, err_console, print_rows, to_json
from seamline.app import App, home_settings
from seamline.commands._common import HomeOption, _fail
from seamline.store import StoreError
from seamline.views import VIEWS, ViewError
from seamline.views._filters import FILTER_KEYS, Filters
from seamline.views.facts import facts_stale, refresh_facts
from seamline.views.watchlist import WATCHLIST_FILE, WatchlistError, watchlist

views_app = typer.Typer(help="Run the dashboards' named views: latency, failures, impact...", no_args_is_help=True)
watchlist_app = typer.Typer(help="The watched flows and pages the overview shows.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `views` and `watchlist` to the seamline CLI."""
    app.add_typer(views_app, name="views")
    app.add_typer(watchlist_app, name="watchlist")


def _open(home: Path | None) -> App:
    """A writable app when the store is free (facts can be refreshed), else read-only beside `seamline serve`."""
    settings = home_settings(home)
    try:
        application = App(settings)
        application.store  # noqa: B018 - opens (and takes the write lock) now, so a locked store falls back below
        if facts_stale(application.store):
            result = refresh_facts(application.store)
            err_console.print(f"[dim]refreshed dashboard facts for {result['transactions']:,} transactions[/dim]")
        return application
    except StoreError:
        application = App(settings, read_only=True)
        if facts_stale(application.store):
            err_console.print("[yellow]dashboard facts are behind correlation; serve refreshes them[/yellow]")
        return application


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            _fail(f"--param takes key=value, not {pair!r}", 2)
        out[key.strip()] = value.strip()
    return out


def _first_rows(data: Any) -> tuple[str, list[dict[str, Any]]] | None:
    """The first list of flat rows in a view's answer (what a table can show)."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return "rows", data
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return key, value
    return None


@views_app.command("list")
def list_views(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every view with its parameters (each also answers at /api/views/<name>)."""
    if json_out:
        print(to_json([v.as_dict() for v in VIEWS.values()]))
        return
    print_rows(
        [
            {
                "view": v.name,
                "what": v.doc,
                "parameters": ", ".join(p.name for p in v.params) + (" + filters" if v.filtered else ""),
            }
            for v in VIEWS.values()
        ],
        title=f"views (filters: {', '.join(FILTER_KEYS)})",
    )


@views_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="View name (see `seamline views list`).")],
    param: Annotated[list[str], typer.Option("--param", "-p", help="key=value: a filter or parameter.")] = [],  # noqa: B006
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, or table (the first list of rows).")] = "json",
    home: HomeOption = None,
) -> None:
    """Run one view and print its answer."""
    view = VIEWS.get(name)
    if view is None:
        _fail(f"no view {name!r}; try: {', '.join(VIEWS)}", 2)
        return
    if fmt not in ("json", "table"):
        _fail("--format must be json or table", 2)
    query = _params(param)
    try:
        with _open(home) as application:
            data = view.call(application.store, query, application.settings.home_dir)
    except (ViewError, WatchlistError) as exc:
        _fail(str(exc), 2)
        return
    except StoreError as exc:
        _fail(str(exc))
        return
    if data is None:
        _fail(f"nothing found for {query}")
    if fmt == "json":
        print(to_json(data))
        return
    found = _first_rows(data)
    if found is None:
        print(to_json(data))
        return
    key, rows = found
    flat = [{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in rows]
    print_rows(flat, title=f"{name}: {key}")


@views_app.command("refresh")
def refresh(home: HomeOption = None) -> None:
    """Rebuild the dashboard facts for transactions correlation built or rebuilt since the last refresh."""
    try:
        with App(home_settings(home)) as application:
            result = refresh_facts(application.store)
    except StoreError as exc:
        _fail(f"{exc} (a running `seamline serve` refreshes the facts itself)")
        return
    console.print(f"refreshed facts for {result['transactions']:,} transactions in {result['seconds']:.1f} s")


@watchlist_app.command("show")
def show_watchlist(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False, home: HomeOption = None
) -> None:
    """The watched flows and pages: from watchlist.yaml in the home directory, else derived from traffic."""
    try:
        with _open(home) as application:
            data = watchlist(application.store, Filters(), application.settings.home_dir)
    except WatchlistError as exc:
        _fail(str(exc), 2)
        return
    if json_out:
        print(to_json(data))
        return
    where = f"from {data['path']}" if data["source"] == "file" else f"derived from traffic (no {data['path']})"
    console.print(f"watchlist {where}")
    print_rows([{"kind": "flow", **f} for f in data["flows"]] + [{"kind": "page", **p} for p in data["pages"]])


@watchlist_app.command("init")
def init_watchlist(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing watchlist.yaml.")] = False,
    home: HomeOption = None,
) -> None:
    """Write watchlist.yaml from the current traffic, to edit by hand (add targets, remove noise)."""
    settings = home_settings(home)
    path = settings.home_dir / WATCHLIST_FILE
    if path.exists() and not force:
        _fail(f"{path} exists; pass --force to overwrite it", 2)
    hidden = path.with_suffix(".yaml.tmp")
    try:
        if path.exists():
            path.rename(hidden)  # derive from traffic, not from the file being replaced
        with _open(home) as application:
            data = watchlist(application.store, Filters(range="7d"), application.settings.home_dir)
    finally:
        if hidden.exists() and not path.exists():
            hidden.rename(path)
    body = {"flows": [f["name"] for f in data["flows"]], "pages": [p["name"] for p in data["pages"]]}
    header = (
        "# Flows and pages the Seamline overview watches. An entry is a name, or a mapping with\n"
        "# `name` and targets: flows take p90_ms and failure_rate, pages lcp_p75_ms and failure_rate.\n"
    )
    path.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    if hidden.exists():
        hidden.unlink()
    console.print(f"wrote {path}: {len(body['flows'])} flows, {len(body['pages'])} pages")
