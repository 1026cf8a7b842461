"""`seamline ingest`, `sources`, `sniff` and `quarantine` (list, reingest): getting records into the store.

`ingest` correlates what it stored afterwards (see commands/correlate.py); `detect FILE` runs `sniff`.
Register in cli.py with `register(app)`.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

from seamline._output import console, err_console, print_rows, to_json
from seamline.app import App
from seamline.commands._common import FormatOption, HomeOption, JsonFlag, _app, _check_format, _fail
from seamline.commands.correlate import _print_correlation, _run_correlation
from seamline.sources import REGISTRY, UnknownSource, detect_source, get_source, source_scores
from seamline.sources._framing import is_gzip, read_sample
from seamline.store import StoreError

quarantine_app = typer.Typer(help="Inspect and re-ingest records that could not be stored.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `ingest`, `sources`, `sniff` and the `quarantine` group to the seamline CLI."""
    app.command()(ingest)
    app.command()(sources)
    app.command()(sniff)
    app.add_typer(quarantine_app, name="quarantine")


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


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, globs or directories (.gz is read transparently).")],
    source: Annotated[
        str | None, typer.Option("--source", "-s", help=f"Force a source: {', '.join(REGISTRY)}.")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="nginx log_format / Apache LogFormat string for access logs.")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="json_log/logfmt preset, e.g. ecs, log4j, gcp (default: detected; see docs/ingest.md)."),
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


def sniff(path: Annotated[Path, typer.Argument(help="A file to sniff.")]) -> None:
    """Say which source would read a file, and how sure it is (`seamline detect FILE` does the same)."""
    try:
        sample = read_sample(path)
    except OSError as exc:  # a directory, a missing or unreadable file
        _fail(f"cannot read {path}: {exc.strerror or exc}", 2)
        return
    try:
        name, score = detect_source(sample, path.name)
    except UnknownSource as exc:
        _fail(str(exc))
        return
    others = ", ".join(f"{n} {s:.2f}" for n, s in source_scores(sample, path.name)[1:] if s > 0)
    console.print(f"{path}: [bold]{name}[/bold] (confidence {score:.2f}); also possible: {others or 'none'}")


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
