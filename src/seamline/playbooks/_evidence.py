"""Turn a view's answer into report evidence: key figures, a table (with the comparison window beside
it) and a plotly figure. Everything here is pure: data in, JSON-ready data out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seamline.playbooks._template import Chart, Step

_MAX_TRACES = 8
# Colours shared with the UI's charts (ui.js), so a report reads like the dashboards.
COLORS = ("#2f6fdf", "#e0662b", "#2b9e5f", "#b8398f", "#7b5cd6", "#c9a227", "#18a0b0", "#8a8a8a")
ANNOTATION_COLOR = "#c9a227"


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (`summary.segments_mean_ms.server`), None when any part is missing."""
    value = data
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def change(now: Any, before: Any) -> float | None:
    """Relative change now vs before (0.25 = +25%); None when either is missing or before is zero."""
    a, b = _number(now), _number(before)
    if a is None or b is None or b == 0:
        return None
    return round((a - b) / abs(b), 4)


def figures(step: Step, data: Any, before: Any) -> list[dict[str, Any]]:
    """The step's key figures: label, value, the comparison window's value and the change."""
    out = []
    for label, path in step.figures.items():
        value = dig(data, path)
        prior = dig(before, path) if before is not None else None
        out.append({"label": label, "value": value, "before": prior, "change": change(value, prior)})
    return out


def _scalar_columns(rows: list[dict[str, Any]]) -> list[str]:
    first = rows[0]
    return [k for k, v in first.items() if not isinstance(v, dict | list)][:8]


def _sort_key(column: str) -> Any:
    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = _number(dig(row, column))
        return (1, 0.0) if value is None else (0, value)

    return key


def table(step: Step, data: Any, before: Any) -> dict[str, Any] | None:
    """The step's table: chosen columns of the rows at `step.table`, sorted and cut, with the comparison's values."""
    if step.table is None:
        return None
    rows = dig(data, step.table)
    if not isinstance(rows, list):
        return {
            "columns": list(step.columns),
            "rows": [],
            "before": None,
            "message": f"no `{step.table}` in the answer",
        }
    rows = [r for r in rows if isinstance(r, dict)]
    columns = list(step.columns) or (_scalar_columns(rows) if rows else [])
    if step.sort:
        descending = step.sort.startswith("-")
        column = step.sort.lstrip("-+")
        present = [r for r in rows if _number(dig(r, column)) is not None]
        missing = [r for r in rows if _number(dig(r, column)) is None]
        rows = sorted(present, key=lambda r: _number(dig(r, column)) or 0.0, reverse=descending) + missing
    rows = rows[: step.limit]
    flat = [{c: dig(r, c) for c in columns} for r in rows]
    prior_rows: list[dict[str, Any]] | None = None
    if before is not None:
        # Rows are matched on their text columns (e.g. layer + service); numbers are compared.
        keys = [
            c
            for c in columns
            if any(isinstance(r[c], str) for r in flat) and all(r[c] is None or isinstance(r[c], str) for r in flat)
        ]
        prior_list = dig(before, step.table)
        index: dict[tuple[Any, ...], dict[str, Any]] = {}
        if isinstance(prior_list, list) and keys:
            for r in prior_list:
                if isinstance(r, dict):
                    index[tuple(dig(r, k) for k in keys)] = r
        prior_rows = []
        for r in flat:
            match = index.get(tuple(r[k] for k in keys)) if keys else None
            prior_rows.append({c: dig(match, c) for c in columns if c not in keys} if match else {})
    return {"columns": columns, "rows": flat, "before": prior_rows}


def _series(value: Any, name: str) -> dict[str, list[Any]]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items() if isinstance(v, list)}
    if isinstance(value, list):
        return {name: value}
    return {}


def _time_marks(at: datetime, incident: tuple[datetime, datetime]) -> list[dict[str, Any]]:
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": incident[0],
            "x1": incident[1],
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(224,102,43,0.08)",
            "line": {"width": 0},
            "layer": "below",
        },
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": at,
            "x1": at,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#e0662b", "width": 1.5, "dash": "dot"},
        },
    ]


def annotation_marks(annotations: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plotly shapes and labels for findings: a line at a moment, a shaded band for a period."""
    shapes: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for a in annotations:
        start, end = a["start_ts"], a.get("end_ts")
        if end:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": start,
                    "x1": end,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "rgba(201,162,39,0.12)",
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
        else:
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": start,
                    "x1": start,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": ANNOTATION_COLOR, "width": 1.5},
                }
            )
        labels.append(
            {
                "x": start,
                "xref": "x",
                "yref": "paper",
                "y": 1,
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"{a['kind']}: {a['title']}"[:60],
                "font": {"size": 10, "color": "#7a5f00"},
            }
        )
    return shapes, labels


def chart(
    chart_spec: Chart | None,
    data: Any,
    at: datetime,
    incident: tuple[datetime, datetime],
    annotations: list[dict[str, Any]],
    span: tuple[datetime, datetime] | None = None,
) -> dict[str, Any] | None:
    """A plotly figure ({data, layout}) for the step, or None when it has no chart or nothing to draw.

    `span` fixes the time axis to the step's window, so a long incident band does not stretch it."""
    if chart_spec is None:
        return None
    layout: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 30 if chart_spec.title else 10, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"size": 12},
        "height": 300,
    }
    if chart_spec.title:
        layout["title"] = {"text": chart_spec.title, "font": {"size": 13}, "x": 0}
    if chart_spec.kind == "heatmap":
        z, xs, ys = dig(data, str(chart_spec.z)), dig(data, chart_spec.x), dig(data, str(chart_spec.y))
        if not isinstance(z, list) or not z or all(v is None for row in z for v in (row or [])):
            return None
        trace = {
            "type": "heatmap",
            "z": z,
            "x": xs,
            "y": ys,
            "zmin": -1,
            "zmax": 1,
            "colorscale": "RdBu",
            "reversescale": True,
            "hoverongaps": False,
        }
        layout["height"] = max(300, 40 * len(ys or []) + 120)
        layout["margin"].update(l=120, b=110)  # room for long page and backend names
        return {"data": [trace], "layout": layout}
    xs = dig(data, chart_spec.x)
    series = _series(dig(data, str(chart_spec.series)), str(chart_spec.series))
    if not isinstance(xs, list) or not series:
        return None
    traces = []
    for i, (name, values) in enumerate(list(series.items())[:_MAX_TRACES]):
        if all(v is None for v in values):
            continue
        trace: dict[str, Any] = {"x": xs, "y": values, "name": name, "marker": {"color": COLORS[i % len(COLORS)]}}
        if chart_spec.kind == "bar":
            trace["type"] = "bar"
        else:
            trace.update(type="scatter", mode="lines+markers", line={"width": 2}, connectgaps=False)
        traces.append(trace)
    if not traces:
        return None
    shapes, labels = annotation_marks(annotations)
    layout.update(
        xaxis={"type": "date", **({"range": list(span)} if span else {})},
        yaxis={"rangemode": "tozero"},
        hovermode="x unified",
        shapes=_time_marks(at, incident) + shapes,
        annotations=labels,
    )
    if chart_spec.kind == "bar":
        layout["barmode"] = "stack"
    return {"data": traces, "layout": layout}
