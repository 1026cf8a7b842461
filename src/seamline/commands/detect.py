"""`seamline detect`: find anomalies in the fact tables, say where on the path they start, store them.

Register in cli.py with `register(app)`. `seamline detect FILE` (a path to an existing file)
still sniffs the file's source format, as it did before detection existed; `seamline sniff`
is its new name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seamline._output import console, err_console, print_rows, to_json
from seamline.app import App, home_settings
from seamline.commands._common import _fail
from seamline.detect import METRICS, DetectConfig, DetectError, find_anomalies, store_anomalies
from seamline.store import StoreError
from seamline.views.facts import facts_stale, refresh_facts

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}

HELP = (
    "Find anomalies: every metric per flow, page, region, service and route, judged minute by minute "
    "against robust baselines (same time on earlier days when there is history, else earlier the same "
    "day), grouped into incidents with the path segment that changed and the cohorts hit hardest. "
    f"Metrics: {', '.join(n for n, m in METRICS.items() if m.detect)}. "
    "--since/--until take ISO 8601 times or a span back from the latest data (24h, 7d); by default "
    "the last 24 hours of data. A FILE argument sniffs its source format instead (see `seamline sniff`)."
)


def _latest(application: App) -> datetime | None:
    row = application.store.query("SELECT max(start_ts) AS t FROM transaction_facts").to_pylist()[0]
    return row["t"]


def parse_when(text: str, latest: datetime) -> datetime:
    """An ISO 8601 time (naive = UTC) or a span back from `latest` such as 90m, 24h, 7d."""
    text = text.strip()
    if text and text[-1] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        return latest - timedelta(seconds=float(text[:-1]) * _UNITS[text[-1]])
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DetectError(
            f"cannot read time {text!r}; use ISO 8601 (2026-11-02T10:00:00Z) or a span like 24h"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _open(home: Path | None, store: bool) -> tuple[App, bool]:
    """A writable app when the store is free (facts refreshed, results stored), else read-only."""
    settings = home_settings(home)
    if store:
        try:
            application = App(settings)
            application.store  # noqa: B018 - takes the write lock now, so a locked store falls back below
            if facts_stale(application.store):
                refresh_facts(application.store)
            return application, True
        except StoreError:
            err_console.print("[yellow]the store is busy (seamline serve?); detecting without storing[/yellow]")
    return App(settings, read_only=True), False


def _row(a: dict[str, Any]) -> dict[str, Any]:
    """A compact table row; --json has everything (signals, cohorts, evidence)."""
    cohort = a["cohorts"][0] if a["cohorts"] else None
    where = a["segment"] or "?"
    if a["service"] and a["service"] != "gateway":
        where += f" ({a['service']})"
    return {
        "window": f"{a['start'][5:16].replace('T', ' ')}-{(a['end'] or 'open')[11:16]}",
        "seen": a["detected_at"][11:16],
        "metric": a["metric"],
        "scope": ", ".join(f"{k}={v}" for k, v in a["scope"].items()) or "(all)",
        "now / usual": f"{a['observed']:.3g} / {a['expected']:.3g}",
        "segment": where,
        "kind": a["classification"],
        "cohort": f"{cohort['dimension']}={cohort['value']}" if cohort else "",
    }


def detect_command(
    file: Annotated[
        Path | None, typer.Argument(help="A file to sniff instead (same as `seamline sniff FILE`).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Start: ISO 8601 or a span back (24h).")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End: ISO 8601 or a span back (default: latest data).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the anomalies as JSON.")] = False,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Keep the anomalies in the anomalies table.")
    ] = True,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Data directory (default ./.seamline, or $SEAMLINE_HOME).", show_default=False),
    ] = None,
) -> None:
    """Find anomalies, name the path segment that changed and the cohorts it hits; store them."""
    if file is not None:
        from seamline.commands.ingest import sniff

        sniff(file)
        return
    try:  # a typo in a time should not wait for the store to open
        for text in (since, until):
            if text:
                parse_when(text, datetime.now(UTC))
    except DetectError as exc:
        _fail(str(exc), 2)
    application, writable = _open(home, store)
    try:
        latest = _latest(application)
        if latest is None:
            _fail("no transaction facts yet: ingest, then `seamline correlate` and `seamline views refresh`")
            return
        latest = latest.astimezone(UTC)
        try:
            end = parse_when(until, latest) if until else latest + timedelta(minutes=1)
            start = parse_when(since, latest) if since else end - timedelta(hours=24)
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task("detecting", total=None)
                report: Callable[[str], None] = lambda msg: progress.update(task, description=f"detecting: {msg}")  # noqa: E731
                anomalies = find_anomalies(application.store, start, end, config=DetectConfig(), progress=report)
        except DetectError as exc:
            _fail(str(exc), 2)
            return
        run_id = store_anomalies(application.store, anomalies, start, end) if (store and writable) else None
        data = {
            "since": start.isoformat(),
            "until": end.isoformat(),
            "stored": run_id is not None,
            "detect_run_id": run_id,
            "anomalies": [a.as_dict() for a in anomalies],
        }
        if as_json:
            console.print_json(to_json(data, indent=False))
            return
        console.print(f"{len(anomalies)} anomalies from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
        if anomalies:
            print_rows([_row(a) for a in data["anomalies"]], title="anomalies")
        if run_id:
            console.print(f"[dim]stored as detection run {run_id}[/dim]")
    finally:
        application.close()


def register(app: typer.Typer) -> None:
    """Add `detect` to the seamline CLI (replacing the file sniffer, which it still runs for a FILE)."""
    app.command("detect", help=HELP)(detect_command)
