"""`seamline investigate`, `seamline playbooks list|show`, `seamline annotate add|list|remove` and `seamline review`.

Thin over `seamline.playbooks`: the same functions the UI's /investigate and /review pages
and their JSON twins call. Register in cli.py with `register(app)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seamline._output import console, err_console, print_rows, to_json
from seamline.app import App, home_settings
from seamline.commands._common import HomeOption, _fail
from seamline.playbooks import Playbook, PlaybookError, load_playbooks, run_playbook
from seamline.playbooks.findings import KINDS, FindingError, add_finding, list_findings, parse_time, remove_finding
from seamline.playbooks.render import review_html, review_markdown, to_html, to_markdown
from seamline.playbooks.review import ReviewError, review
from seamline.store import StoreError

playbooks_app = typer.Typer(help="Investigation templates: list and show them.", no_args_is_help=True)
annotate_app = typer.Typer(
    help="Findings tagged to a release, feature, experiment or product area.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write the report to a .md or .html file.", show_default=False)
]


def register(app: typer.Typer) -> None:
    """Add `investigate`, `review`, `playbooks` and `annotate` to the seamline CLI."""
    app.command("investigate")(investigate)
    app.command("review")(review_command)
    app.add_typer(playbooks_app, name="playbooks")
    app.add_typer(annotate_app, name="annotate")


def _open(home: Path | None, writable: bool = False) -> App:
    """Readers open read-only when `seamline serve` holds the store; writers need it free."""
    settings = home_settings(home)
    try:
        application = App(settings)
        application.store  # noqa: B018 - take the write lock now, so a busy store falls back below
        return application
    except StoreError as exc:
        if writable:
            _fail(f"{exc} (stop `seamline serve`, or use the UI or POST /api/annotations while it runs)")
    try:
        application = App(settings, read_only=True)
        application.store  # noqa: B018 - fail here, with a clear message, when no reader may open it either
        return application
    except StoreError as exc:
        _fail(f"{exc} (while `seamline serve` runs, the same report is at /investigate and /review)")
        raise


def _playbooks(home: Path | None) -> dict[str, Playbook]:
    settings = home_settings(home)
    try:
        return load_playbooks(settings.resolve_in_home(settings.playbooks_dir))
    except PlaybookError as exc:
        _fail(str(exc), 2)
        raise


def _withheld() -> frozenset[str]:
    """Row-level views a token without row access may not see in a report (none for local use)."""
    from seamline.access._cli import current_principal
    from seamline.access.roles import VIEW_CLASS, Cap, allows, view_cap

    principal = current_principal()
    if principal is None or principal.role is None or allows(principal.role, Cap.ROWS):
        return frozenset()
    return frozenset(name for name in VIEW_CLASS if view_cap(name) is Cap.ROWS)


def _write(out: Path, markdown: str, html: str) -> None:
    if out.suffix.lower() in (".html", ".htm"):
        out.write_text(html, encoding="utf-8")
    elif out.suffix.lower() in (".md", ".markdown"):
        out.write_text(markdown, encoding="utf-8")
    else:
        _fail(f"--out must end in .md or .html, not {out.name!r}", 2)
    console.print(f"wrote {out}")


def investigate(
    playbook: Annotated[str, typer.Argument(help="Playbook name (see `seamline playbooks list`).")],
    at: Annotated[str, typer.Option("--at", help="Incident time, ISO 8601 (e.g. 2026-11-02T00:50:00Z).")],
    until: Annotated[
        str | None, typer.Option("--until", help="End of the incident (default: the playbook's window).")
    ] = None,
    flow: Annotated[str | None, typer.Option("--flow", help="Flow (user journey), e.g. checkout.")] = None,
    route: Annotated[str | None, typer.Option("--route", help="Route, e.g. 'POST /api/checkout'.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Backend service, e.g. payments.")] = None,
    page: Annotated[str | None, typer.Option("--page", help="Page route, e.g. /product/{id}.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Only this region.")] = None,
    release: Annotated[str | None, typer.Option("--release", help="The release in question.")] = None,
    flag: Annotated[str | None, typer.Option("--flag", help="Flag cohort, name=variant.")] = None,
    browser: Annotated[str | None, typer.Option("--browser", help="Only this browser.")] = None,
    alert: Annotated[str | None, typer.Option("--alert", help="Alert id the investigation answers.")] = None,
    out: OutOption = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Run a playbook around an incident time and print (or write) its report, verdict first."""
    found = _playbooks(home)
    chosen = found.get(playbook)
    if chosen is None:
        _fail(f"no playbook {playbook!r}; try: {', '.join(sorted(found))}", 2)
        return
    scope = {
        "flow": flow,
        "route": route,
        "service": service,
        "page": page,
        "region": region,
        "release": release,
        "flag": flag,
        "browser": browser,
    }
    with (
        _open(home) as application,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=json_out,
        ) as progress,
    ):
        task = progress.add_task(chosen.title, total=None)
        try:
            report = run_playbook(
                application.store,
                chosen,
                scope,
                at,
                until,
                application.settings.home_dir,
                alert_id=alert,
                progress=lambda title: progress.update(task, description=title),
                withheld=_withheld(),
            )
        except PlaybookError as exc:
            _fail(str(exc), 2)
            return
    if json_out:
        print(to_json(report))
        return
    if out is not None:
        _write(out, to_markdown(report), to_html(report))
        console.print(report["verdict"]["headline"])
        return
    print(to_markdown(report))


def review_command(
    since: Annotated[str, typer.Option("--since", help="Start of the period, ISO 8601 date or time.")],
    until: Annotated[str | None, typer.Option("--until", help="End of the period (default: the latest data).")] = None,
    out: OutOption = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Health review of a period: drift of key metrics, the impact of each deployed change, correlation heatmaps."""
    with (
        _open(home) as application,
        Progress(
            SpinnerColumn(),
            TextColumn("reviewing…"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=json_out,
        ),
    ):
        try:
            data = review(application.store, since, until)
        except ReviewError as exc:
            _fail(str(exc), 2)
            return
    if json_out:
        print(to_json(data))
        return
    if out is not None:
        _write(out, review_markdown(data), review_html(data))
        return
    print(review_markdown(data))


@playbooks_app.command("list")
def list_playbooks(json_out: JsonFlag = False, home: HomeOption = None) -> None:
    """Every playbook: built-in ones and those in the playbooks folder of the home directory."""
    found = _playbooks(home)
    if json_out:
        print(to_json([p.as_dict() for p in found.values()]))
        return
    print_rows(
        [
            {
                "playbook": p.name,
                "title": p.title,
                "steps": len(p.steps),
                "scope": ", ".join(p.applies_to),
                "source": p.source + (f" ({'; '.join(p.notes)})" if p.notes else ""),
            }
            for p in found.values()
        ],
        title="playbooks",
    )


@playbooks_app.command("show")
def show_playbook(
    name: Annotated[str, typer.Argument(help="Playbook name.")], json_out: JsonFlag = False, home: HomeOption = None
) -> None:
    """The steps of one playbook: view, window and what to look for."""
    found = _playbooks(home)
    if name not in found:
        _fail(f"no playbook {name!r}; try: {', '.join(sorted(found))}", 2)
    data = found[name].as_dict()
    if json_out:
        print(to_json(data))
        return
    console.print(f"[bold]{data['title']}[/bold] ({data['source']}): {data['description']}")
    print_rows(
        [
            {
                "step": s["id"],
                "title": s["title"],
                "view": s["view"],
                "window (min)": f"{s['window_minutes'][0]:+g}..{s['window_minutes'][1]:+g}",
                "look for": s["look_for"],
            }
            for s in data["steps"]
        ]
    )


@annotate_app.command("add")
def annotate_add(
    kind: Annotated[str, typer.Option("--kind", help=f"One of: {', '.join(KINDS)}.")],
    target: Annotated[str, typer.Option("--target", help="Release, feature, experiment, product area or incident.")],
    title: Annotated[str, typer.Option("--title", help="One line shown on charts.")],
    at: Annotated[str | None, typer.Option("--at", help="Time it is about (default now), ISO 8601.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End, for a period.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="The finding in full (Markdown).")] = None,
    flow: Annotated[str | None, typer.Option("--flow", help="Flow it concerns.")] = None,
    route: Annotated[str | None, typer.Option("--route", help="Route it concerns.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Service it concerns.")] = None,
    page: Annotated[str | None, typer.Option("--page", help="Page it concerns.")] = None,
    alert: Annotated[str | None, typer.Option("--alert", help="Alert it came out of.")] = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Record a finding; it shows on the UI's time-series charts."""
    scope = {"flow": flow, "route": route, "service": service, "page": page}
    with _open(home, writable=True) as application:
        try:
            finding = add_finding(application.store, kind, target, title, at, until, scope, body, alert_id=alert)
        except FindingError as exc:
            _fail(str(exc), 2)
            return
    if json_out:
        print(to_json(finding))
        return
    console.print(f"added {finding['annotation_id']}: {finding['kind']} {finding['target']}: {finding['title']}")


@annotate_app.command("list")
def annotate_list(
    since: Annotated[str | None, typer.Option("--since", help="Only findings from this time on.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only findings before this time.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Findings, newest first."""
    with _open(home) as application:
        try:
            found = list_findings(
                application.store,
                parse_time(since, "since") if since else None,
                parse_time(until, "until") if until else None,
                kind,
                target,
            )
        except FindingError as exc:
            _fail(str(exc), 2)
            return
    if json_out:
        print(to_json(found))
        return
    rows: list[dict[str, Any]] = [
        {
            "id": f["annotation_id"],
            "at": f["start_ts"],
            "until": f["end_ts"],
            "kind": f["kind"],
            "target": f["target"],
            "title": f["title"],
            "scope": ", ".join(f"{k}={v}" for k, v in f["scope"].items()),
        }
        for f in found
    ]
    print_rows(rows, title=f"{len(rows)} findings")


@annotate_app.command("remove")
def annotate_remove(
    annotation_id: Annotated[str, typer.Argument(help="Id of the finding (see `annotate list`).")],
    home: HomeOption = None,
) -> None:
    """Delete one finding."""
    with _open(home, writable=True) as application:
        try:
            removed = remove_finding(application.store, annotation_id)
        except KeyError:
            _fail(f"no finding {annotation_id!r}", 2)
            return
    console.print(f"removed {annotation_id}: {removed['title']}")
