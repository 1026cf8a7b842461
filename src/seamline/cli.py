"""The `seamline` command line: the root Typer app, a few store-wide commands, and the map of the rest.

Command families live in `seamline.commands.<family>` with a `register(app)`; `_register_subcommands`
below adds them in the order `seamline --help` lists them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from seamline import dictionary as data_dictionary
from seamline._output import console, err_console, print_rows, to_json
from seamline.access._cli import GuardedGroup
from seamline.app import App, home_settings
from seamline.commands._common import FormatOption, HomeOption, JsonFlag, _app, _check_format, _fail, _parse_duration
from seamline.commands.alerts import register as register_alerts
from seamline.commands.correlate import register as register_correlate
from seamline.commands.detect import register as register_detect
from seamline.commands.governance import register as register_governance
from seamline.commands.ingest import register as register_ingest
from seamline.commands.pii import register as register_pii
from seamline.commands.playbooks import register as register_playbooks
from seamline.commands.schema import register as register_schema
from seamline.commands.schema import schema_app
from seamline.commands.tokens import register as register_tokens
from seamline.commands.views import register as register_views
from seamline.store import StoreError

app = typer.Typer(
    cls=GuardedGroup,  # every command checks its token centrally (seamline.access.roles.CLI_CAPS)
    help="Seamline: join server logs and client events into end-to-end transactions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# The commands below carry no decorator: `_register_subcommands` adds them among the other
# families so `seamline --help` keeps one deliberate order.


# --- simulate --------------------------------------------------------------------------------
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the raw inputs and the ground truth.")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")] = 7,
    events: Annotated[int | None, typer.Option(help="Approximate number of records to write.")] = None,
    duration: Annotated[str | None, typer.Option(help="Simulated time span, e.g. 6h, 1d, 1w.")] = None,
    idless_devices: Annotated[
        float, typer.Option(help="Share of devices that never send trace ids (legacy clients), 0..1.")
    ] = 0.0,
    json_out: JsonFlag = False,
) -> None:
    """Write realistic shop traffic with injected incidents, and the ground truth beside it."""
    from seamline.simulate import simulate as run_simulation

    duration_s = _parse_duration(duration) if duration else None
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("sim", total=events)
        summary = run_simulation(
            out,
            idless_devices=idless_devices,
            seed=seed,
            events=events,
            duration_s=duration_s,
            progress=lambda n: progress.update(task, completed=n),
        )
    data = summary.as_dict()
    if json_out:
        print(to_json(data))
        return
    console.print(f"[bold]wrote[/bold] {out}")
    print_rows([{"output": k, "records": v} for k, v in data.get("files", {}).items()])
    for incident in data.get("incidents", []):
        console.print(
            f"  incident [bold]{incident.get('id')}[/bold] {incident.get('kind')}: "
            f"{incident.get('start')} .. {incident.get('end')}"
        )


# --- looking at the store --------------------------------------------------------------------
def summary(json_out: JsonFlag = False, home: HomeOption = None) -> None:
    """What the store holds: rows per kind and source, time span, quarantine."""
    try:
        with _app(home, read_only=True) as application:
            data = application.summary()
    except StoreError as exc:
        _fail(str(exc))
        return
    if json_out:
        print(to_json(data))
        return
    console.print(
        f"[bold]{data['database']}[/bold]: {data['rows']:,} rows from {data['first_event']} to "
        f"{data['last_event']}; {data['sessions']:,} sessions, {data['users']:,} users, "
        f"{data['traces']:,} traces; {data['quarantined']:,} quarantined"
    )
    print_rows([{"kind": k, "rows": v} for k, v in data["by_kind"].items()], title="rows by kind")
    print_rows([{"source": k, "rows": v} for k, v in data["by_source"].items()], title="rows by source")


def query(
    sql: Annotated[
        str, typer.Argument(help='SQL in DuckDB\'s dialect, e.g. "SELECT kind, count(*) FROM events GROUP BY 1".')
    ],
    fmt: FormatOption = "table",
    home: HomeOption = None,
) -> None:
    """Run one read-only SELECT against the store (no writes, ATTACH, COPY, file or extension access)."""
    from seamline.store._user_sql import check_read_only_sql, run_read_only_sql

    _check_format(fmt)
    try:
        check_read_only_sql(sql)  # refuse before opening the store
        with _app(home, read_only=True) as application:
            cursor = application.store.cursor()
            try:
                rows = run_read_only_sql(cursor, sql).to_pylist()
            finally:
                cursor.close()
    except StoreError as exc:
        _fail(str(exc))
        return
    except Exception as exc:  # duckdb raises many error classes; all are the user's SQL
        _fail(f"query failed: {exc}")
        return
    print_rows(rows, fmt)


def dictionary(fmt: FormatOption = "table") -> None:
    """Print the data dictionary: every column's type, unit, range, privacy class and meaning."""
    _check_format(fmt, ("table", "json", "markdown"))
    if fmt == "markdown":
        sys.stdout.write(data_dictionary.to_markdown())
        return
    rows = [{"table": t, **c.as_dict()} for t, cols in data_dictionary.TABLES.items() for c in cols]
    if fmt == "json":
        print(to_json(rows))
        return
    print_rows(
        [{k: r[k] for k in ("table", "name", "type", "unit", "expected_range", "privacy", "meaning")} for r in rows]
    )


def settings(home: HomeOption = None, json_out: JsonFlag = False) -> None:
    """Show every setting, its value, where the value came from and its environment variable."""
    rows = home_settings(home).describe()
    if json_out:
        print(to_json(rows))
        return
    print_rows([{k: r[k] for k in ("name", "value", "from", "env", "help")} for r in rows])


# --- serve -------------------------------------------------------------------------------------
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8470).")] = None,
    token: Annotated[
        str | None, typer.Option(help="Legacy shared ingest secret (prefer `seamline tokens create --role ingest`).")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate for HTTPS (with --tls-key).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for HTTPS (with --tls-cert).")] = None,
    home: HomeOption = None,
) -> None:
    """Run the HTTP server: ingest endpoints, the web UI and its JSON API (HTTPS with --tls-cert/--tls-key)."""
    import uvicorn

    from seamline.access.serving import InsecureBind, check_bind, check_tls
    from seamline.access.tokens import auth_configured
    from seamline.web.server import create_app

    settings_ = home_settings(
        home,
        host=host,
        port=port,
        ingest_token=token,
        tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None,
    )
    try:
        tls = check_tls(
            Path(settings_.tls_cert) if settings_.tls_cert else None,
            Path(settings_.tls_key) if settings_.tls_key else None,
        )
    except ValueError as exc:
        _fail(str(exc), 2)
        return
    application = App(settings_)
    try:
        check_bind(settings_.host, auth_configured(application.store))
        api = create_app(application)
    except InsecureBind as exc:
        application.close()
        _fail(str(exc), 2)
        return
    except StoreError as exc:
        _fail(str(exc))
        return
    scheme = "https" if tls else "http"
    console.print(
        f"Seamline listening on [bold]{scheme}://{settings_.host}:{settings_.port}[/bold] "
        f"(data in {settings_.database_path})"
    )
    uvicorn.run(
        api,
        host=settings_.host,
        port=settings_.port,
        log_level="warning",
        access_log=False,  # a log line per ingest request costs more than parsing its body
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )


def _register_subcommands() -> None:
    """Add every command family; Typer lists plain commands first, then groups, each in the order added here."""
    app.command()(simulate)
    register_schema(app)  # `schema ...`; before `quarantine`, the first group listed
    register_ingest(app)  # `ingest`, `sources`, `sniff`, `quarantine ...`
    register_correlate(app)  # `correlate`, `trace`, `coverage`, `skew`
    for command in (summary, query, dictionary, settings, serve):
        app.command()(command)
    register_views(app)  # `views ...`, `watchlist ...`
    register_detect(app)  # `detect`
    register_tokens(app)  # `tokens ...`, `audit`
    register_alerts(app)  # `alerts ...`
    register_playbooks(app)  # `investigate`, `review`, `playbooks ...`, `annotate ...`
    register_pii(app)  # `pii ...`, `keys ...`
    register_governance(app, schema_app)  # `retention ...`, `forget`, `quality`, `schema drift`, `store ...`


_register_subcommands()


def main() -> None:
    """Entry point of the `seamline` script."""
    app()


if __name__ == "__main__":
    main()
