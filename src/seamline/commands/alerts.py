"""`seamline alerts` (check, list, test, init): alert rules from the shell.

`check` evaluates the rules now, at one instant, or replays a span minute by minute (how
past, simulated data raises its alerts); `list` reads the stored history; `test` shows one
rule's figures without changing state; `init` writes the commented default rules file.

Register in cli.py with `register(app)`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from seamline._output import console, err_console, print_rows, to_json
from seamline.alerting import AlertEngine, RulesError, default_rules_text, list_alerts, load_rules
from seamline.app import App, home_settings
from seamline.commands._common import HomeOption, _fail
from seamline.settings import Settings
from seamline.store import StoreError

alerts_app = typer.Typer(
    help="Alert rules: check them, list alerts, test a rule, write the defaults.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules", help="Rules file (default: alert_rules_file, alerts.yaml in the home).", show_default=False
    ),
]
_DATA_WORDS = ("first", "last")


def register(app: typer.Typer) -> None:
    """Add `alerts` to the seamline CLI."""
    app.add_typer(alerts_app, name="alerts")


def _rules_path(settings: Settings, rules: Path | None) -> Path:
    return rules if rules is not None else settings.resolve_in_home(settings.alert_rules_file)


def _load(settings: Settings, rules: Path | None) -> Any:
    path = _rules_path(settings, rules)
    if rules is not None and not path.exists():
        _fail(f"no rules file {path}", 2)
    try:
        ruleset = load_rules(path)
    except RulesError as exc:
        _fail(str(exc), 2)
        return None
    if not path.exists():
        err_console.print(
            f"[dim]no {path}: using the packaged default rules (`seamline alerts init` writes them)[/dim]"
        )
    return ruleset


def _time(text: str | None, store: Any, option: str) -> datetime | None:
    """ISO 8601 (naive = UTC), or `first`/`last`: the first or last transaction in the store."""
    if text is None:
        return None
    if text in _DATA_WORDS:
        agg = "min" if text == "first" else "max"
        value = store.scalar(f"SELECT {agg}(start_ts) FROM transaction_facts")
        if value is None:
            _fail(f"{option} {text}: the store has no transactions yet (ingest, correlate, `seamline views refresh`)")
        return value.astimezone(UTC).replace(second=0, microsecond=0)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{option} must be an ISO 8601 time (2026-11-28T14:00:00Z) or one of {', '.join(_DATA_WORDS)}", 2)
        raise
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _open_app(settings: Settings) -> App:
    application = App(settings)
    try:
        application.store  # noqa: B018 - open now, so a store held by `seamline serve` fails here, clearly
    except StoreError as exc:
        _fail(f"{exc} (a running `seamline serve` evaluates the rules itself; see /api/alerts)")
    return application


def _engine(application: App, ruleset: Any, *, notify: bool, json_out: bool) -> AlertEngine:
    """An engine on the app's store; with --json, stdout carries the JSON, so log lines go to stderr."""
    try:
        return AlertEngine(
            application.store,
            ruleset,
            home=application.settings.home_dir,
            notify=notify,
            stream=sys.stderr if json_out else None,
        )
    except StoreError as exc:
        _fail(str(exc))
        raise


@alerts_app.command("check")
def check(
    at: Annotated[str | None, typer.Option("--at", help="Evaluate at this time (ISO 8601) instead of now.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Replay from this time (ISO 8601, or `first` = start of the data).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Replay up to this time (ISO 8601, or `last` = end of the data).")
    ] = None,
    step: Annotated[int, typer.Option("--step", help="Seconds between replayed evaluations.", min=10)] = 60,
    notify: Annotated[bool, typer.Option("--notify/--no-notify", help="Send notifications for transitions.")] = True,
    rules: RulesOption = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Evaluate the alert rules: once (now or --at), or replayed minute by minute over --since/--until."""
    if at is not None and (since or until):
        _fail("give --at or --since/--until, not both", 2)
    if (since is None) != (until is None):
        _fail("a replay needs both --since and --until", 2)
    settings = home_settings(home)
    ruleset = _load(settings, rules)
    with _open_app(settings) as application:
        engine = _engine(application, ruleset, notify=notify, json_out=json_out)
        try:
            if since is not None:
                start = _time(since, application.store, "--since")
                end = _time(until, application.store, "--until")
                assert start is not None and end is not None
                with Progress(
                    TextColumn("replaying alert rules"),
                    BarColumn(),
                    TextColumn("{task.completed}/{task.total} minutes"),
                    TimeRemainingColumn(),
                    console=err_console,
                    transient=True,
                    disable=json_out or not err_console.is_terminal,
                ) as progress:
                    task = progress.add_task("replay", total=None)
                    report = engine.replay(
                        start, end, step_s=step, progress=lambda i, n: progress.update(task, completed=i, total=n)
                    )
            else:
                report = engine.check(_time(at, application.store, "--at") or datetime.now(UTC))
        except ValueError as exc:
            _fail(str(exc), 2)
            return
    data = report.as_dict()
    if json_out:
        print(to_json(data))
        return
    fired = sum(1 for t in data["transitions"] if t["event"] == "firing")
    resolved = sum(1 for t in data["transitions"] if t["event"] == "resolved")
    span = f"at {report.since.isoformat()}" if report.steps == 1 else f"{report.since} .. {report.until}"
    console.print(
        f"evaluated {len(ruleset.rules)} rules {span} ({report.steps} steps): {fired} fired, {resolved} resolved, "
        f"{len(data['open'])} open; {len(data['notifications'])} notification attempts"
    )
    # One line per transition: a table of seven columns folds every cell in a narrow terminal.
    for t in data["transitions"]:
        if t["event"] not in ("firing", "resolved"):
            continue
        colour = "red" if t["event"] == "firing" else "green"
        scope = " ".join(f"{k}={v}" for k, v in (t["scope"] or {}).items()) or "everything"
        console.print(
            f"{str(t['at'])[:16]}  [{colour}]{t['event']:<8}[/{colour}] {t['severity']:<8} {escape(t['rule'])}  "
            f"({escape(scope)})  {escape(t['summary'] or '')}",
            highlight=False,
        )


@alerts_app.command("list")
def list_command(
    state: Annotated[
        str, typer.Option("--state", help="open (pending and firing), firing, pending, resolved, cancelled or all.")
    ] = "open",
    limit: Annotated[int, typer.Option("--limit", help="Most alerts to show.", min=1)] = 100,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Stored alerts, newest first, with their investigation links."""
    allowed = ("open", "pending", "firing", "resolved", "cancelled", "all")
    if state not in allowed:
        _fail(f"--state must be one of {', '.join(allowed)}", 2)
    settings = home_settings(home)
    try:
        application = App(settings)
        application.store  # noqa: B018 - writable when free, so the schema is brought up to date
    except StoreError:
        application = App(settings, read_only=True)  # beside a running serve
    with application:
        try:
            alerts = list_alerts(application.store, state, limit)
        except StoreError as exc:
            _fail(str(exc))
            return
    if json_out:
        print(to_json(alerts))
        return
    if not alerts:
        console.print(f"no {state} alerts")
        return
    print_rows(
        [
            {
                "since": a["fired_at"] or a["started_at"],
                "state": a["state"],
                "severity": a["severity"],
                "rule": a["rule"],
                "scope": a["scope"],
                "value": a["value"],
                "threshold": a["threshold"],
                "segment": a["segment"],
                "investigate": a["investigation"],
            }
            for a in alerts
        ],
        title=f"{state} alerts",
    )


@alerts_app.command("test")
def test_command(
    rule: Annotated[str, typer.Argument(help="Rule name from the rules file.")],
    at: Annotated[str | None, typer.Option("--at", help="Evaluate at this time (ISO 8601, or `last`).")] = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="Also send a test notification to the rule's notifiers.")
    ] = False,
    rules: RulesOption = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Evaluate one rule and show its figures; changes no alert state (and notifies only with --notify)."""
    settings = home_settings(home)
    ruleset = _load(settings, rules)
    with _open_app(settings) as application:
        engine = _engine(application, ruleset, notify=False, json_out=json_out)
        try:
            result = engine.test(rule, _time(at, application.store, "--at") or datetime.now(UTC), notify=notify)
        except KeyError as exc:
            _fail(str(exc.args[0]), 2)
            return
    if json_out:
        print(to_json(result))
        return
    evaluations = result["evaluations"]
    console.print(f"rule [bold]{rule}[/bold] at {result['at'].isoformat()}: {len(evaluations)} scope(s) evaluated")
    for ev in evaluations:
        verdict = "[red]HOLDS[/red]" if ev["holds"] else "[green]clear[/green]"
        console.print(f"  {verdict} {ev['summary']}")
    if not evaluations:
        console.print("  nothing to evaluate (an anomaly rule with no anomaly open at that time)")
    for n in result.get("notifications", []):
        console.print(
            f"  notified {n['notifier']} (attempt {n['attempt']}): {'ok' if n['ok'] else 'failed'} {n['detail']}"
        )


@alerts_app.command("init")
def init_command(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing rules file.")] = False,
    rules: RulesOption = None,
    home: HomeOption = None,
) -> None:
    """Write the commented default rules to alerts.yaml in the home directory, to edit by hand."""
    settings = home_settings(home)
    path = _rules_path(settings, rules)
    if path.exists() and not force:
        _fail(f"{path} exists; pass --force to overwrite it", 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(default_rules_text(), encoding="utf-8")
    console.print(f"wrote {path}: edit it, then `seamline alerts test RULE` shows a rule's figures")
