"""`seamline correlate`, `trace`, `coverage` and `skew`: linking records into transactions and checking the links.

`ingest` correlates what it stored through `_run_correlation` / `_print_correlation` here.
Register in cli.py with `register(app)`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from seamline._output import console, err_console, print_rows, to_json
from seamline.app import App
from seamline.commands._common import HomeOption, JsonFlag, _app, _fail
from seamline.store import StoreError


def register(app: typer.Typer) -> None:
    """Add `correlate`, `trace`, `coverage` and `skew` to the seamline CLI."""
    app.command("correlate")(correlate_command)
    app.command()(trace)
    app.command()(coverage)
    app.command()(skew)


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
