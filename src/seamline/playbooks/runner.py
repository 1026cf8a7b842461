"""Load playbooks (built-in and the user's folder) and run one into a report.

A report is plain JSON-ready data: the verdict first, then each step's window, key figures
(against the comparison window), evidence table and plotly figure. `render.py` turns it
into Markdown or HTML; the UI shows the same report at /investigate/<playbook>.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from seamline.playbooks import _evidence
from seamline.playbooks._template import (
    ALL_SCOPE_KEYS,
    FILTER_SCOPE_KEYS,
    Playbook,
    PlaybookError,
    Step,
    load_file,
    with_note,
)
from seamline.playbooks._verdict import verdict
from seamline.playbooks.findings import FindingError, list_findings, parse_time
from seamline.store.base import Store
from seamline.views import VIEWS, ViewError
from seamline.views._filters import Filters
from seamline.views.releases import releases as list_releases

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_BUILTIN: dict[str, Playbook] = {}


def builtin_playbooks() -> dict[str, Playbook]:
    """The templates shipped in seamline/playbooks/builtin/, by name."""
    out: dict[str, Playbook] = {}
    folder = resources.files("seamline.playbooks") / "builtin"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            playbook = load_file(Path(str(entry)))
            out[playbook.name] = replace(playbook, source=f"builtin:{entry.name}")
    return out


def load_playbooks(user_dir: Path | None = None, base: Mapping[str, Playbook] | None = None) -> dict[str, Playbook]:
    """Built-in playbooks plus every *.yaml in `user_dir`; a user template of the same name replaces
    the built-in one (with a note), and `extends:` may name any built-in or earlier-loaded one."""
    if base is None:
        if not _BUILTIN:
            _BUILTIN.update(builtin_playbooks())  # the shipped files do not change while running
        base = _BUILTIN
    out = dict(base)
    if user_dir is None or not user_dir.is_dir():
        return out
    for path in sorted([*user_dir.glob("*.yaml"), *user_dir.glob("*.yml")]):
        playbook = load_file(path, out)
        if playbook.name in out:
            playbook = with_note(playbook, f"overrides the {out[playbook.name].source} playbook of the same name")
        out[playbook.name] = playbook
    return out


def parse_scope(params: Mapping[str, Any]) -> dict[str, str]:
    """The scope keys present in a query or CLI options (others are ignored)."""
    return {k: str(params[k]).strip() for k in ALL_SCOPE_KEYS if params.get(k) not in (None, "")}


def _fill(template: str, scope: dict[str, str]) -> str | None:
    """A parameter with its placeholders filled; None when the scope lacks one of them."""
    missing = [n for n in _PLACEHOLDER.findall(template) if n not in scope]
    if missing:
        return None
    return _PLACEHOLDER.sub(lambda m: scope[m.group(1)], template)


def _deployed_before(store: Store, at: datetime) -> str | None:
    """The release first seen last at or before the incident time (what a regression usually follows)."""
    known = [r for r in list_releases(store, Filters())["releases"] if r["first_seen"] <= at + timedelta(minutes=1)]
    return max(known, key=lambda r: r["first_seen"])["release"] if known else None


def _query(step: Step, scope: dict[str, str], start: datetime, end: datetime) -> dict[str, str]:
    query: dict[str, str] = {"from": start.isoformat(), "to": end.isoformat()}
    for key, template in step.params.items():
        value = _fill(template, scope)
        if value is not None:
            query[key] = value
    if step.scope_filters:
        if "backend_release" in scope:
            query["release"] = scope["backend_release"]  # the views' release filter matches either column
        for key in FILTER_SCOPE_KEYS:
            if key in scope:
                # Incidents write a flag as name=variant; the views' filter takes name:variant.
                query[key] = scope[key].replace("=", ":", 1) if key == "flag" else scope[key]
    return query


def _ui_link(step: Step, query: dict[str, str]) -> str | None:
    page = VIEWS[step.view].page
    if page is None:
        return None
    params = dict(query)
    if "{flow}" in page:
        if "flow" not in params:
            return None
        page = page.replace("{flow}", params.pop("flow"))
    if "{" in page:
        return None
    return f"{page}?{urlencode(params)}"


def _run_step(
    store: Store,
    step: Step,
    scope: dict[str, str],
    at: datetime,
    incident: tuple[datetime, datetime],
    findings: list[dict[str, Any]],
    home: Path | None,
    withheld: frozenset[str],
) -> dict[str, Any]:
    start, end = at + step.window[0], at + step.window[1]
    out: dict[str, Any] = {
        **{k: v for k, v in step.as_dict().items() if k in ("id", "title", "view", "look_for")},
        "window": {"start": start, "end": end},
        "compare": None,
        "status": "ok",
        "message": None,
        "figures": [],
        "table": None,
        "chart": None,
    }
    missing = [k for k in step.requires if k not in scope]
    if missing:
        out.update(status="skipped", message=f"needs {', '.join(missing)} in the scope")
        return out
    if step.view in withheld:
        out.update(
            status="skipped", message=f"view {step.view!r} lists single transactions; your role may not read rows"
        )
        return out
    query = _query(step, scope, start, end)
    if step.view == "release_impact" and "release" not in query:
        chosen = _deployed_before(store, at)
        if chosen is not None:
            query["release"] = chosen
    out["query"] = query
    out["link"] = _ui_link(step, query)
    view = VIEWS[step.view]
    try:
        data = view.call(store, query, home)
        before = None
        if step.compare is not None:
            c_start, c_end = at + step.compare[0], at + step.compare[1]
            out["compare"] = {"start": c_start, "end": c_end}
            before = view.call(store, {**query, "from": c_start.isoformat(), "to": c_end.isoformat()}, home)
    except ViewError as exc:
        out.update(status="error", message=str(exc))
        return out
    if data is None:
        out.update(status="empty", message="the view found nothing in this window")
        return out
    if isinstance(data, dict) and data.get("message") and not data.get("comparison"):
        out["message"] = str(data["message"])
    out["figures"] = _evidence.figures(step, data, before)
    out["table"] = _evidence.table(step, data, before)
    out["chart"] = _evidence.chart(
        step.chart,
        data,
        at,
        incident,
        [f for f in findings if f["start_ts"] < end and (f.get("end_ts") or f["start_ts"]) >= start],
        (start, end),
    )
    return out


def run_playbook(
    store: Store,
    playbook: Playbook,
    scope: Mapping[str, Any],
    at: Any,
    until: Any = None,
    home: Path | None = None,
    alert_id: str | None = None,
    progress: Any = None,
    withheld: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Run every step of `playbook` for `scope` around the incident time `at`; returns the report.

    `until` (optional) ends the incident window the verdict covers; by default it is the
    playbook's `incident` window around `at`. `progress(step_title)` is called before each step;
    steps over the views in `withheld` (row-level ones a viewer may not read) are skipped.
    """
    clean = {k: str(v) for k, v in scope.items() if v not in (None, "")}
    unknown = sorted(set(clean) - set(ALL_SCOPE_KEYS))
    if unknown:
        raise PlaybookError(f"unknown scope keys {unknown}; use {', '.join(ALL_SCOPE_KEYS)}")
    try:
        at_time = parse_time(at, "at")
        end_time = parse_time(until, "until") if until not in (None, "") else None
    except FindingError as exc:
        raise PlaybookError(str(exc)) from None
    if end_time is not None and end_time <= at_time:
        raise PlaybookError("until must be after at")
    incident = (at_time + playbook.incident[0], end_time or at_time + playbook.incident[1])
    if end_time is not None:
        incident = (at_time, end_time)
    earliest = min(at_time + s.window[0] for s in playbook.steps)
    latest = max(at_time + s.window[1] for s in playbook.steps)
    findings = list_findings(store, earliest, latest)
    steps = []
    for step in playbook.steps:
        if progress is not None:
            progress(step.title)
        steps.append(_run_step(store, step, clean, at_time, incident, findings, home, withheld))
    return {
        "playbook": playbook.as_dict(),
        "scope": clean,
        "at": at_time,
        "alert_id": alert_id,
        "incident_window": {"start": incident[0], "end": incident[1]},
        "generated_at": datetime.now(UTC),
        "verdict": verdict(store, clean, incident[0], incident[1]),
        "steps": steps,
        "findings": findings,
    }
