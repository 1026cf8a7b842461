"""The `seamline` command line: a thin shell over `seamline.app.App`."""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

from seamline import dictionary as data_dictionary
from seamline._output import console, err_console, print_rows, to_json
from seamline.access._cli import GuardedGroup
from seamline.app import App, home_settings
from seamline.sources import REGISTRY, UnknownSource, available_sources, detect_source, get_source
from seamline.sources._framing import is_gzip, read_sample
from seamline.store import StoreError

app = typer.Typer(
    cls=GuardedGroup,  # every command checks its token centrally (seamline.access.roles.CLI_CAPS)
    help="Seamline: join server logs and client events into end-to-end transactions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
schema_app = typer.Typer(help="Show, upgrade or roll back the store's schema.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Inspect and re-ingest records that could not be stored.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(quarantine_app, name="quarantine")

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (default ./.seamline, or $SEAMLINE_HOME).", show_default=False),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output format: table, json or csv.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")]


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code)


def _app(home: Path | None, read_only: bool = False) -> App:
    try:
        return App(home_settings(home), read_only=read_only)
    except ValueError as exc:
        _fail(str(exc), 2)
        raise  # unreachable; keeps type checkers calm


def _check_format(fmt: str, allowed: tuple[str, ...] = ("table", "json", "csv")) -> None:
    if fmt not in allowed:
        _fail(f"--format must be one of {', '.join(allowed)}, not {fmt!r}", 2)


def _parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        _fail(f"cannot read duration {text!r}; use e.g. 90s, 30m, 6h, 1d, 1w", 2)
        raise


# --- simulate --------------------------------------------------------------------------------
@app.command()
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


# --- ingest ----------------------------------------------------------------------------------
def _expand(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for text in paths:
        matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))] or [Path(text)]
        for path in matches:
            if path.is_dir():
                # log_format.txt beside an access log describes it; it is read as an option, not ingested.
                found.extend(
                    sorted(
                        p
                        for p in path.rglob("*")
                        if p.is_file() and not p.name.startswith(".") and p.name != "log_format.txt"
                    )
                )
            elif path.exists():
                found.append(path)
            else:
                _fail(f"no such file: {text}", 2)
    return found


def _with_sibling_log_format(path: Path, source: str, options: dict[str, str]) -> dict[str, str]:
    """Access logs: use a log_format.txt lying beside the file when none was given."""
    sibling = path.parent / "log_format.txt"
    if source in ("nginx", "apache") and "log_format" not in options and sibling.is_file():
        return {**options, "log_format": sibling.read_text()}
    return options


def _options(pairs: list[str], **named: str | None) -> dict[str, str]:
    options = {k: v for k, v in named.items() if v}
    log_format = options.get("log_format", "")
    if log_format.startswith("@"):
        try:
            options["log_format"] = Path(log_format[1:]).read_text()
        except OSError as exc:
            _fail(f"cannot read the log format file: {exc}", 2)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            _fail(f"--option takes key=value, got {pair!r}", 2)
        options[key] = value
    return options


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, globs or directories (.gz is read transparently).")],
    source: Annotated[
        str | None, typer.Option("--source", "-s", help=f"Force a source: {', '.join(REGISTRY)}.")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="nginx log_format / Apache LogFormat string for access logs.")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="JSON log field preset (otel, ecs, pino, structlog, zap, python).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Service name for records that do not carry one.")] = None,
    option: Annotated[list[str], typer.Option("--option", help="Extra source option key=value (repeatable).")] = [],  # noqa: B006
    flags_timeline: Annotated[
        Path | None, typer.Option(help="Feature-flag changes over time (JSON, NDJSON or CSV ts,flag,variant).")
    ] = None,
    segments: Annotated[Path | None, typer.Option(help="User segments: CSV user_id,segment or JSON.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading one growing file (survives rotation).")
    ] = False,
    correlate_after: Annotated[
        bool, typer.Option("--correlate/--no-correlate", help="Correlate what was ingested (incremental).")
    ] = True,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Parse log and event files into the store; re-running adds only what is new."""
    files = _expand(paths)
    if not files:
        _fail("nothing to ingest", 2)
    opts = _options(option, log_format=log_format, preset=preset, service=service)
    if follow:
        if len(files) != 1:
            _fail("--follow takes exactly one file", 2)
        _follow(files[0], source, opts, flags_timeline, segments, home)
        return
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    try:
        with _app(home) as application:
            _load_enrichment(application, flags_timeline, segments)
            for path in files:
                name = source
                if name is None:
                    try:
                        name, _ = detect_source(read_sample(path), path.name)
                    except UnknownSource as exc:
                        if len(files) == 1:
                            _fail(str(exc), 2)
                        skipped.append({"file": str(path), "reason": str(exc)})
                        continue
                file_opts = _with_sibling_log_format(path, name, opts)
                total = None if is_gzip(path) else path.stat().st_size
                with Progress(
                    TextColumn(f"[bold]{name}[/bold] {path.name}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeElapsedColumn(),
                    console=err_console,
                    transient=True,
                    disable=json_out,
                ) as progress:
                    task = progress.add_task("ingest", total=total)
                    result = application.ingestor.ingest_file(
                        path, source=name, options=file_opts, progress=lambda n, t=task: progress.update(t, completed=n)
                    )
                results.append(result.as_dict())
            correlation = None
            if correlate_after and any(r["rows_stored"] for r in results):
                application.writer.flush()
                correlation = _run_correlation(application, full=False, quiet=json_out)
    except (StoreError, UnknownSource, ValueError) as exc:
        _fail(str(exc))
    totals = {k: sum(r[k] for r in results) for k in ("records_read", "rows_stored", "rows_quarantined")}
    seconds = sum(r["seconds"] for r in results)
    report = {"files": results, "skipped": skipped, **totals, "seconds": round(seconds, 3), "correlation": correlation}
    if json_out:
        print(to_json(report))
        return
    print_rows(
        [
            {
                "file": Path(r["origin"]).name,
                "source": r["source"],
                "read": r["records_read"],
                "stored": r["rows_stored"],
                "quarantined": r["rows_quarantined"],
                "resumed at line": r["resumed_from_line"] or "",
                "seconds": round(r["seconds"], 2),
            }
            for r in results
        ],
        title="ingest",
    )
    for s in skipped:
        err_console.print(f"[yellow]skipped[/yellow] {s['file']}: {s['reason']}")
    console.print(
        f"read {totals['records_read']:,} records: stored {totals['rows_stored']:,} rows, "
        f"quarantined {totals['rows_quarantined']:,} (see `seamline quarantine list`)"
    )
    if correlation:
        _print_correlation(correlation)


def _load_enrichment(application: App, flags_timeline: Path | None, segments: Path | None) -> None:
    from seamline.transforms.enrich import load_flag_timeline, load_segment_map

    try:
        if flags_timeline is not None:
            application.context.flag_timeline = load_flag_timeline(flags_timeline)
        if segments is not None:
            application.context.segment_map = load_segment_map(segments)
    except (OSError, ValueError) as exc:
        _fail(str(exc), 2)


def _follow(
    path: Path,
    source: str | None,
    opts: dict[str, str],
    flags_timeline: Path | None,
    segments: Path | None,
    home: Path | None,
) -> None:
    from seamline.follow import follow_file

    with _app(home) as application:
        _load_enrichment(application, flags_timeline, segments)
        err_console.print(f"following {path} (Ctrl-C to stop)")
        try:
            stats = follow_file(
                application.ingestor,
                path,
                source,
                opts,
                on_poll=lambda s: err_console.print(
                    f"  read {s.records_read:,}  stored {s.rows_stored:,}  quarantined {s.rows_quarantined:,}"
                    f"  rotations {s.rotations}"
                ),
            )
        except KeyboardInterrupt:
            return
        except (ValueError, UnknownSource) as exc:
            _fail(str(exc), 2)
            return
    console.print(f"stored {stats.rows_stored:,} rows")


@app.command()
def sources() -> None:
    """List the input formats Seamline reads."""
    rows = []
    for name in REGISTRY:
        try:
            module = get_source(name)
            rows.append({"source": name, "framing": module.FRAMING, "reads": module.DESCRIPTION})
        except ImportError:
            rows.append({"source": name, "framing": "", "reads": "(not available)"})
    print_rows(rows)


@app.command()
def sniff(path: Annotated[Path, typer.Argument(help="A file to sniff.")]) -> None:
    """Say which source would read a file, and how sure it is (`seamline detect FILE` does the same)."""
    try:
        name, score = detect_source(read_sample(path), path.name)
    except UnknownSource as exc:
        _fail(str(exc))
        return
    console.print(f"{path}: [bold]{name}[/bold] (confidence {score:.2f}); available: {', '.join(available_sources())}")


# --- correlation -----------------------------------------------------------------------------
def _run_correlation(application: App, full: bool, quiet: bool = False) -> dict[str, Any]:
    from seamline.correlate import correlate as run_correlate

    with Progress(
        TextColumn("correlating"),
        BarColumn(pulse_style="cyan"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    ) as progress:
        progress.add_task("correlate", total=None)
        result = run_correlate(
            application.store,
            full=full,
            late_minutes=application.settings.correlation_late_minutes,
            match_threshold=application.settings.match_threshold,
        )
    return result.as_dict()


def _print_correlation(data: dict[str, Any]) -> None:
    if data.get("skipped"):
        console.print(f"correlation: {data['skipped']}")
        return
    exact = sum(data["links"].values())
    console.print(
        f"correlated {data['events_considered']:,} events in {data['seconds']:.1f} s: "
        f"{exact:,} exact links ({', '.join(f'{k} {v:,}' for k, v in data['links'].items())}), "
        f"{data['links_scored']:,} scored links, {data['transactions']:,} transactions"
    )


@app.command("correlate")
def correlate_command(
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild everything, not only what arrived since the last run.")
    ] = False,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Link client and server records into end-to-end transactions (incremental by default)."""
    try:
        with _app(home) as application:
            data = _run_correlation(application, full, quiet=json_out)
    except StoreError as exc:
        _fail(str(exc))
        return
    if json_out:
        print(to_json(data))
        return
    _print_correlation(data)


def _bar(start: float, duration: float | None, total: float, width: int = 28) -> str:
    if total <= 0:
        return ""
    a = int(max(0.0, start) / total * width)
    b = max(a + 1, int((max(0.0, start) + (duration or 0.0)) / total * width))
    return " " * min(a, width - 1) + "█" * max(1, min(b, width) - a)


@app.command()
def trace(
    ident: Annotated[str, typer.Argument(help="A transaction id, event id, W3C trace id or request id.")],
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Print the waterfall of one transaction, click to database and back, with each row's source."""
    from seamline.views.waterfall import transaction_waterfall

    try:
        with _app(home, read_only=True) as application:
            data = transaction_waterfall(application.store, ident)
    except StoreError as exc:
        _fail(str(exc))
        return
    if data is None:
        _fail(
            f"no transaction found for {ident!r} (tried transaction, event, trace and request ids; "
            "has `seamline correlate` run?)"
        )
        return
    if json_out:
        print(to_json(data))
        return
    tx = data["transaction"]
    rows = data["rows"]
    total = max([r["start_ms"] + (r["duration_ms"] or 0) for r in rows] + [1.0])
    console.print(
        f"[bold]{tx['kind']} {tx['name'] or ''}[/bold]  flow={tx['flow'] or '-'}  page={tx['page'] or '-'}  "
        f"release={tx['release'] or '-'}  browser={tx['browser'] or '-'}  region={tx['region'] or '-'}"
    )
    console.print(
        f"started {tx['start_ts']}  took {tx['duration_ms'] or 0:.0f} ms  errors={tx['errors']}  "
        f"links: {tx['links_exact']} exact, {tx['links_scored']} scored, {tx['requests_unlinked']} unlinked"
    )
    print_rows(
        [
            {
                "+ms": f"{r['start_ms']:.0f}",
                "lane": r["lane"],
                "what": r["what"],
                "status": r["status"] or "",
                "ms": f"{r['duration_ms']:.1f}" if r["duration_ms"] is not None else "",
                "net ms": f"{r['network_ms']:.0f}" if r["network_ms"] is not None else "",
                "timeline": _bar(r["start_ms"], r["duration_ms"], total),
                "via": (
                    f"{r['link']} {r['link_confidence']:.2f}"
                    if r["link"] == "scored"
                    else (r["link"] or r["via"] or "")
                ),
                "source": r["source"],
            }
            for r in rows
            if r["kind"] not in ("web_vital", "resource", "visibility")
        ],
        title=f"transaction {tx['transaction_id']} (times on the server clock)",
    )


@app.command()
def coverage(
    by: Annotated[str, typer.Option(help="Break down by route, service, release, browser or kind.")] = "route",
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Share of client requests linked exactly, by score, or not at all — and why not."""
    from seamline.views.coverage import join_coverage

    try:
        with _app(home, read_only=True) as application:
            data = join_coverage(application.store, by=by)
    except (StoreError, ValueError) as exc:
        _fail(str(exc), 2)
        return
    if json_out:
        print(to_json(data))
        return
    o = data["overall"]
    console.print(
        f"{o['requests']:,} client requests: {o['exact_share']:.1%} exact, {o['scored_share']:.1%} scored, "
        f"{o['unlinked_share']:.1%} unlinked"
    )
    print_rows(data["breakdown"], title=f"coverage by {by}")
    print_rows(data["unlinked_reasons"], title="why requests stayed unlinked")


@app.command()
def skew(
    top: Annotated[bool, typer.Option("--top", help="Also list the sessions with the largest offsets.")] = False,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Distribution of estimated client clock offsets, per estimation method."""
    from seamline.correlate.skew import skew_report

    try:
        with _app(home, read_only=True) as application:
            data = skew_report(application.store)
    except StoreError as exc:
        _fail(str(exc))
        return
    if json_out:
        print(to_json(data))
        return
    for key, value in data.items():
        if key == "top_sessions" and not top:
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            print_rows(value, title=key)
        elif isinstance(value, dict):
            print_rows([{"": k, "value": v} for k, v in value.items()], title=key)
        else:
            console.print(f"{key}: {value}")


# --- looking at the store --------------------------------------------------------------------
@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
def settings(home: HomeOption = None, json_out: JsonFlag = False) -> None:
    """Show every setting, its value, where the value came from and its environment variable."""
    rows = home_settings(home).describe()
    if json_out:
        print(to_json(rows))
        return
    print_rows([{k: r[k] for k in ("name", "value", "from", "env", "help")} for r in rows])


# --- schema ----------------------------------------------------------------------------------
@schema_app.command("status")
def schema_status(home: HomeOption = None, json_out: JsonFlag = False) -> None:
    """Current schema version and pending migrations."""
    from seamline.store import open_store

    try:
        store = open_store(home_settings(home), upgrade=False)
    except StoreError as exc:
        _fail(str(exc))
        return
    status = store.schema_status()
    store.close()
    data = {
        "current": status.current,
        "head": status.head,
        "pending": [{"version": v, "name": n} for v, n in status.pending],
    }
    if json_out:
        print(to_json(data))
        return
    console.print(f"schema at version [bold]{status.current}[/bold] of {status.head}")
    for v, n in status.pending:
        console.print(f"  pending {v}: {n}")


@schema_app.command("history")
def schema_history(home: HomeOption = None, fmt: FormatOption = "table") -> None:
    """Every applied migration: when, by whom, with which data dictionary; rollbacks from the audit log."""
    from seamline.commands.governance import history_command

    _check_format(fmt)
    history_command(home, fmt)


@schema_app.command("upgrade")
def schema_upgrade(
    to: Annotated[int | None, typer.Option(help="Target version (default: latest).")] = None,
    home: HomeOption = None,
) -> None:
    """Apply pending migrations."""
    from seamline.commands.governance import audit_schema_change
    from seamline.store import open_store

    try:
        store = open_store(home_settings(home), upgrade=False)
    except StoreError as exc:
        _fail(str(exc))
        return
    try:
        done = store.upgrade(to)
        audit_schema_change(store, f"upgrade to {to if to is not None else 'head'}", {"applied": done})
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()
    console.print(f"applied {done or 'nothing'}; schema at {to if to is not None else 'head'}")


@schema_app.command("downgrade")
def schema_downgrade(
    to: Annotated[int, typer.Option(help="Version to roll back to.")],
    force: Annotated[bool, typer.Option(help="Accept discarding the values the down steps drop.")] = False,
    home: HomeOption = None,
) -> None:
    """Roll the schema back; refuses to discard stored values unless --force."""
    from seamline.commands.governance import audit_schema_change
    from seamline.store import open_store

    try:
        store = open_store(home_settings(home), upgrade=False)
    except StoreError as exc:
        _fail(str(exc))
        return
    try:
        done = store.downgrade(to, force=force)
        audit_schema_change(store, f"downgrade to {to}", {"rolled_back": done, "forced": force})
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()
    console.print(f"rolled back {done or 'nothing'}; schema at {to}")


# --- quarantine ------------------------------------------------------------------------------
@quarantine_app.command("list")
def quarantine_list(
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
    reason: Annotated[str | None, typer.Option(help="Only reasons containing this text.")] = None,
    fmt: FormatOption = "table",
    home: HomeOption = None,
) -> None:
    """Records that could not be stored, with source, position and reason."""
    _check_format(fmt)
    sql = (
        "SELECT origin, position, position_index, source, reason, left(raw, 120) AS raw FROM quarantine "
        "WHERE reingested_at IS NULL AND (? IS NULL OR reason ILIKE '%' || ? || '%') "
        "ORDER BY origin, position, position_index LIMIT ?"
    )
    with _app(home, read_only=True) as application:
        rows = application.store.query(sql, [reason, reason, limit]).to_pylist()
    print_rows(rows, fmt, title="quarantine")


# --- serve -------------------------------------------------------------------------------------
@app.command()
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


@quarantine_app.command("reingest")
def quarantine_reingest(
    source: Annotated[str | None, typer.Option("--source", "-s", help="Parse with this source instead.")] = None,
    log_format: Annotated[str | None, typer.Option(help="Corrected nginx/Apache log format.")] = None,
    preset: Annotated[str | None, typer.Option(help="Corrected JSON log preset.")] = None,
    option: Annotated[list[str], typer.Option("--option", help="Source option key=value (repeatable).")] = [],  # noqa: B006
    reason: Annotated[str | None, typer.Option(help="Only entries whose reason contains this text.")] = None,
    origin: Annotated[str | None, typer.Option(help="Only entries from this file or endpoint.")] = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Try quarantined records again (after a fix); store what now parses, keep the rest."""
    from seamline.quarantine import reingest

    opts = _options(option, log_format=log_format, preset=preset)
    with _app(home) as application:
        result = reingest(application.ingestor, source, opts, reason, origin)
    if json_out:
        print(to_json(result.as_dict()))
        return
    console.print(
        f"considered {result.considered:,}: resolved {result.resolved:,} ({result.stored_rows:,} rows "
        f"stored), still failing {result.still_failing:,}, unrecoverable {result.unrecoverable:,}"
    )
    for why, n in sorted(result.reasons.items(), key=lambda kv: -kv[1])[:10]:
        console.print(f"  {n:,} x {why}")


def _register_subcommands() -> None:
    from seamline.commands.detect import register as register_detect
    from seamline.commands.views import register as register_views

    register_views(app)
    register_detect(app)
    from seamline.commands.tokens import register as register_tokens

    register_tokens(app)  # `seamline tokens ...` and `seamline audit`
    from seamline.commands.alerts import register as register_alerts

    register_alerts(app)
    from seamline.commands.playbooks import register as register_playbooks

    register_playbooks(app)  # `seamline investigate`, `review`, `playbooks ...`, `annotate ...`
    from seamline.commands.pii import register as register_pii

    register_pii(app)
    from seamline.commands.governance import register as register_governance

    register_governance(app, schema_app)  # retention, forget, quality, schema drift, store encrypt


_register_subcommands()


def main() -> None:
    """Entry point of the `seamline` script."""
    app()


if __name__ == "__main__":
    main()
