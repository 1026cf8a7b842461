"""Playbook templates: YAML -> `Playbook`, validated with errors that name the file, step and field.

A template is a mapping with `name`, `title`, `description`, optional `extends` (a playbook
to start from), `incident` (the window the verdict is computed over, relative to the
incident time) and an ordered list of `steps`. Each step runs one view (see
`seamline.views.VIEWS`) with parameters (`{flow}`-style placeholders take the investigation's
scope; a parameter whose placeholder the scope lacks is left out) over a window relative to
the incident time, optionally against a comparison window, and says what to look for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from seamline.views import VIEWS

# Keys an investigation's scope may carry. The first group names what a step's parameters
# take through placeholders; the second are also the views' shared filters.
SCOPE_KEYS: tuple[str, ...] = ("flow", "route", "service", "page", "name", "dependency", "backend_release")
FILTER_SCOPE_KEYS: tuple[str, ...] = ("region", "release", "flag", "browser", "segment", "environment")
ALL_SCOPE_KEYS = SCOPE_KEYS + FILTER_SCOPE_KEYS
CHART_KINDS = ("line", "bar", "heatmap")
# Where the verdict looks, around the incident time: alerts fire shortly after a problem starts.
DEFAULT_INCIDENT = (timedelta(minutes=-2), timedelta(minutes=20))

_DURATION = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_STEP_KEYS = {
    "id",
    "title",
    "view",
    "params",
    "window",
    "compare",
    "look_for",
    "table",
    "columns",
    "sort",
    "limit",
    "chart",
    "figures",
    "requires",
    "scope_filters",
}
_TOP_KEYS = {"name", "title", "description", "extends", "incident", "steps", "applies_to"}


class PlaybookError(ValueError):
    """A template that cannot be used, worded to point at the line to fix."""


def parse_offset(text: Any, where: str) -> timedelta:
    """'-30m', '+10m', '0', '2h' -> a signed timedelta; raises PlaybookError naming `where`."""
    if isinstance(text, int | float) and text == 0:
        return timedelta(0)
    match = _DURATION.match(str(text))
    if not match:
        raise PlaybookError(f"{where}: cannot read offset {text!r}; use e.g. -30m, +10m, 2h, 1d")
    sign, number, unit = match.groups()
    seconds = float(number) * _UNITS[unit]
    return timedelta(seconds=-seconds if sign == "-" else seconds)


def _window(value: Any, where: str) -> tuple[timedelta, timedelta]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise PlaybookError(f"{where}: a window is a list of two offsets, e.g. [-30m, +10m]; got {value!r}")
    start, end = parse_offset(value[0], where), parse_offset(value[1], where)
    if start >= end:
        raise PlaybookError(f"{where}: the window's start {value[0]} is not before its end {value[1]}")
    return start, end


@dataclass(frozen=True, slots=True)
class Chart:
    """What to draw from a view's answer: `series` (name -> values over `x`) or a heatmap (`z` over `x` x `y`)."""

    kind: str = "line"
    series: str | None = None
    x: str = "buckets"
    y: str | None = None
    z: str | None = None
    title: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: getattr(self, k) for k in ("kind", "series", "x", "y", "z", "title") if getattr(self, k)}


@dataclass(frozen=True, slots=True)
class Step:
    """One step: a view over a window relative to the incident time, and what to look for."""

    id: str
    title: str
    view: str
    look_for: str
    params: dict[str, str] = field(default_factory=dict)
    window: tuple[timedelta, timedelta] = (timedelta(minutes=-30), timedelta(minutes=10))
    compare: tuple[timedelta, timedelta] | None = None
    table: str | None = None
    columns: tuple[str, ...] = ()
    sort: str | None = None
    limit: int = 10
    chart: Chart | None = None
    figures: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    scope_filters: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (offsets in minutes)."""
        return {
            "id": self.id,
            "title": self.title,
            "view": self.view,
            "params": self.params,
            "window_minutes": [self.window[0].total_seconds() / 60, self.window[1].total_seconds() / 60],
            "compare_minutes": None
            if self.compare is None
            else [self.compare[0].total_seconds() / 60, self.compare[1].total_seconds() / 60],
            "look_for": self.look_for,
            "requires": list(self.requires),
        }


@dataclass(frozen=True, slots=True)
class Playbook:
    """An investigation template: an ordered list of steps and where it was loaded from."""

    name: str
    title: str
    description: str
    steps: tuple[Step, ...]
    incident: tuple[timedelta, timedelta] = DEFAULT_INCIDENT
    applies_to: tuple[str, ...] = ("flow",)
    source: str = "builtin"
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "applies_to": list(self.applies_to),
            "source": self.source,
            "notes": list(self.notes),
            "incident_minutes": [self.incident[0].total_seconds() / 60, self.incident[1].total_seconds() / 60],
            "steps": [s.as_dict() for s in self.steps],
        }


def _text(data: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PlaybookError(f"{where}: `{key}` is required")
        return None
    if not isinstance(value, str | int | float):
        raise PlaybookError(f"{where}: `{key}` must be text, not {type(value).__name__}")
    return str(value).strip()


def _chart(value: Any, where: str) -> Chart | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Chart(series=value)
    if not isinstance(value, dict):
        raise PlaybookError(f"{where}.chart: give a series key (text) or a mapping with kind/series/x/y/z")
    unknown = set(value) - {"kind", "series", "x", "y", "z", "title"}
    if unknown:
        raise PlaybookError(f"{where}.chart: unknown keys {sorted(unknown)}")
    kind = str(value.get("kind", "heatmap" if "z" in value else "line"))
    if kind not in CHART_KINDS:
        raise PlaybookError(f"{where}.chart.kind must be one of {', '.join(CHART_KINDS)}, not {kind!r}")
    chart = Chart(kind=kind, **{k: str(v) for k, v in value.items() if k != "kind"})
    if kind == "heatmap" and not (chart.z and chart.y):
        raise PlaybookError(f"{where}.chart: a heatmap needs `z` (the matrix), `x` and `y` (the labels)")
    if kind != "heatmap" and not chart.series:
        raise PlaybookError(f"{where}.chart: a {kind} chart needs `series` (a key holding name -> values)")
    return chart


def _step(data: Any, index: int, where: str) -> Step:
    at = f"{where}: step {index + 1}"
    if not isinstance(data, dict):
        raise PlaybookError(f"{at}: a step is a mapping with id, title, view, look_for, ...")
    step_id = _text(data, "id", at)
    at = f"{where}: step {index + 1} ({step_id})"
    unknown = set(data) - _STEP_KEYS
    if unknown:
        raise PlaybookError(f"{at}: unknown keys {sorted(unknown)}; known: {', '.join(sorted(_STEP_KEYS))}")
    view_name = _text(data, "view", at)
    view = VIEWS.get(str(view_name))
    if view is None:
        raise PlaybookError(f"{at}: no view {view_name!r}; views: {', '.join(VIEWS)}")
    if not view.filtered:
        raise PlaybookError(f"{at}: view {view_name!r} takes no time window, so a playbook step cannot use it")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise PlaybookError(f"{at}.params: a mapping of view parameters, e.g. {{flow: '{{flow}}'}}")
    known = {p.name for p in view.params}
    for key, value in params.items():
        if key not in known:
            takes = ", ".join(sorted(known)) or "none"
            raise PlaybookError(f"{at}.params: view {view_name!r} has no parameter {key!r}; it takes: {takes}")
        for name in _PLACEHOLDER.findall(str(value)):
            if name not in ALL_SCOPE_KEYS:
                raise PlaybookError(
                    f"{at}.params.{key}: unknown placeholder {{{name}}}; use {', '.join(ALL_SCOPE_KEYS)}"
                )
    window = _window(data.get("window", ["-30m", "+10m"]), f"{at}.window")
    compare_raw = data.get("compare")
    compare: tuple[timedelta, timedelta] | None
    if compare_raw in (None, False, "none"):
        compare = None
    elif compare_raw == "before":
        # The same length, ending where the step's window starts.
        compare = (window[0] - (window[1] - window[0]), window[0])
    else:
        compare = _window(compare_raw, f"{at}.compare")
    columns = data.get("columns") or ()
    if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
        raise PlaybookError(f"{at}.columns: a list of column names")
    figures = data.get("figures") or {}
    if not isinstance(figures, dict):
        raise PlaybookError(f"{at}.figures: a mapping of label -> dotted path in the view's answer")
    requires = data.get("requires") or ()
    if isinstance(requires, str):
        requires = (requires,)
    for key in requires:
        if key not in ALL_SCOPE_KEYS:
            raise PlaybookError(f"{at}.requires: {key!r} is not a scope key ({', '.join(ALL_SCOPE_KEYS)})")
    limit = data.get("limit", 10)
    if not isinstance(limit, int) or not 1 <= limit <= 200:
        raise PlaybookError(f"{at}.limit: a whole number from 1 to 200, not {limit!r}")
    return Step(
        id=str(step_id),
        title=str(_text(data, "title", at)),
        view=str(view_name),
        look_for=str(_text(data, "look_for", at)),
        params={str(k): str(v) for k, v in params.items()},
        window=window,
        compare=compare,
        table=_text(data, "table", at, required=False),
        columns=tuple(columns),
        sort=_text(data, "sort", at, required=False),
        limit=limit,
        chart=_chart(data.get("chart"), at),
        figures={str(k): str(v) for k, v in figures.items()},
        requires=tuple(requires),
        scope_filters=bool(data.get("scope_filters", True)),
    )


def parse_playbook(data: Any, source: str, base: dict[str, Playbook] | None = None) -> Playbook:
    """Validate one template's mapping; `base` holds playbooks an `extends:` may name."""
    if not isinstance(data, dict):
        raise PlaybookError(f"{source}: a playbook is a YAML mapping with name, title, description and steps")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PlaybookError(f"{source}: unknown keys {sorted(unknown)}; known: {', '.join(sorted(_TOP_KEYS))}")
    name = _text(data, "name", source)
    if not _NAME.match(str(name)):
        raise PlaybookError(f"{source}: name {name!r} must be lower-case letters, digits and dashes")
    where = f"{source} ({name})"
    parent: Playbook | None = None
    if data.get("extends") is not None:
        parent = (base or {}).get(str(data["extends"]))
        if parent is None:
            raise PlaybookError(f"{where}: extends {data['extends']!r}, which is not a known playbook")
    raw_steps = data.get("steps")
    if raw_steps is None and parent is None:
        raise PlaybookError(f"{where}: `steps` is required (a list)")
    if raw_steps is not None and not isinstance(raw_steps, list):
        raise PlaybookError(f"{where}: `steps` must be a list")
    steps = [_step(s, i, where) for i, s in enumerate(raw_steps or [])]
    if parent is not None:
        # An extending template adds its steps after the parent's; a step with a parent's id replaces it.
        own = {s.id: s for s in steps}
        steps = [own.pop(s.id, s) for s in parent.steps] + [s for s in steps if s.id in own]
    if not steps:
        raise PlaybookError(f"{where}: a playbook needs at least one step")
    ids = [s.id for s in steps]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise PlaybookError(f"{where}: step ids must be unique; repeated: {', '.join(duplicated)}")
    applies = data.get("applies_to", list(parent.applies_to) if parent else ["flow"])
    if isinstance(applies, str):
        applies = [applies]
    for key in applies:
        if key not in ALL_SCOPE_KEYS:
            raise PlaybookError(f"{where}.applies_to: {key!r} is not a scope key ({', '.join(ALL_SCOPE_KEYS)})")
    incident = (
        _window(data["incident"], f"{where}.incident")
        if "incident" in data
        else (parent.incident if parent else DEFAULT_INCIDENT)
    )
    title = _text(data, "title", where, required=parent is None) or (parent.title if parent else "")
    description = _text(data, "description", where, required=parent is None) or (parent.description if parent else "")
    return Playbook(
        name=str(name),
        title=title,
        description=description,
        steps=tuple(steps),
        incident=incident,
        applies_to=tuple(applies),
        source=source,
    )


def load_file(path: Path, base: dict[str, Playbook] | None = None) -> Playbook:
    """Read and validate one YAML template."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise PlaybookError(f"{path}:{line} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise PlaybookError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_playbook(data, str(path), base)


def with_note(playbook: Playbook, note: str) -> Playbook:
    """A copy carrying one more note (e.g. that it overrides a built-in)."""
    return replace(playbook, notes=(*playbook.notes, note))
