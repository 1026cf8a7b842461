"""Reports as Markdown and HTML. The HTML carries plotly.js from the installed plotly package inline,
so a saved report opens offline; the UI shows the same fragment inside its own page."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from seamline._output import to_json

TEMPLATES = Path(__file__).parent / "templates"


def fmt(value: Any, column: str = "") -> str:
    """A cell for people: durations in ms/s, rates as percentages, times without microseconds."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, int | float):
        name = column.lower()
        if name.endswith(("_rate", "share", "_significant")) or name.startswith("share"):
            return f"{value * 100:.2f}%"
        if name.endswith("_ms") or name.endswith(" ms"):
            return f"{value / 1000:.2f} s" if abs(value) >= 1000 else f"{value:.0f} ms"
        if isinstance(value, float):
            return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
        return f"{value:,}"
    return str(value)


def fmt_change(value: Any) -> str:
    """A relative change as +12% / −5%."""
    if value is None:
        return ""
    return f"{value * 100:+.0f}%"


def _cell(table: dict[str, Any], i: int, column: str) -> str:
    text = fmt(table["rows"][i][column], column)
    before = table.get("before")
    if before and i < len(before) and column in before[i] and before[i][column] is not None:
        text += f" (was {fmt(before[i][column], column)})"
    return text


def _ticks(text: str) -> Markup:
    """`name` spans of a headline as <code>, everything else escaped."""
    parts = str(text).split("`")
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["change"] = fmt_change
    env.filters["figure"] = lambda fig: orjson.dumps(fig, default=str).decode()
    env.globals["cell"] = _cell
    env.filters["ticks"] = _ticks
    env.globals["change_text"] = _change_text
    return env


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: verdict, then each step's figures and evidence table."""
    pb, verdict = report["playbook"], report["verdict"]
    scope = ", ".join(f"{k}={v}" for k, v in report["scope"].items()) or "everything"
    window = report["incident_window"]
    lines = [
        f"# {pb['title']}: {scope}",
        "",
        f"Incident time {fmt(report['at'])} UTC; verdict over {fmt(window['start'])} – {fmt(window['end'])}.",
        f"Playbook `{pb['name']}` ({pb['source']}).",
        "",
        "## Verdict",
        "",
        verdict["headline"],
        "",
    ]
    if verdict.get("cohorts"):
        lines += ["| dimension | value | lift | share |", "|---|---|---|---|"]
        lines += [
            f"| {_md_escape(str(c.get('dimension')))} | {_md_escape(str(c.get('value')))} | {fmt(c.get('lift'))} | "
            f"{fmt(c.get('share'), 'share')} |"
            for c in verdict["cohorts"]
        ]
        lines.append("")
    for n, step in enumerate(report["steps"], 1):
        lines += [f"## {n}. {step['title']}", ""]
        lines.append(f"*Look for:* {step['look_for']}")
        lines.append("")
        w = step["window"]
        when = f"View `{step['view']}`, {fmt(w['start'])} – {fmt(w['end'])}"
        if step.get("compare"):
            when += f", compared with {fmt(step['compare']['start'])} – {fmt(step['compare']['end'])}"
        lines += [when + ".", ""]
        if step["status"] != "ok":
            lines += [f"**{step['status']}**: {step['message']}", ""]
            continue
        if step.get("message"):
            lines += [f"_{step['message']}_", ""]
        if step["figures"]:
            lines += ["| figure | now | before | change |", "|---|---|---|---|"]
            lines += [
                f"| {f['label']} | {fmt(f['value'], f['label'])} | {fmt(f['before'], f['label'])} | "
                f"{fmt_change(f['change'])} |"
                for f in step["figures"]
            ]
            lines.append("")
        table = step.get("table")
        if table and table["rows"]:
            cols = table["columns"]
            lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            lines += [
                "| " + " | ".join(_md_escape(_cell(table, i, c)) for c in cols) + " |"
                for i in range(len(table["rows"]))
            ]
            lines.append("")
        elif table is not None:
            lines += ["_No rows in this window._", ""]
        if step.get("chart"):
            lines += ["_(chart in the HTML report)_", ""]
    if report.get("findings"):
        lines += ["## Findings in this period", ""]
        lines += [f"- {fmt(f['start_ts'])} **{f['kind']}** {f['target']}: {f['title']}" for f in report["findings"]]
        lines.append("")
    lines.append(f"_Generated {fmt(report['generated_at'])} UTC by Seamline._")
    return "\n".join(lines) + "\n"


def fragment(report: dict[str, Any], linked: bool = True) -> Markup:
    """The report body as HTML (no page around it): for the UI and for the standalone file.

    `linked` makes transaction ids and "open in the UI" links; a saved file has no server to open them."""
    return Markup(_ENV.get_template("report.html").render(report=report, linked=linked))


def _plotly_js() -> str:
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def to_html(report: dict[str, Any]) -> str:
    """A standalone HTML page (plotly.js inline, no network needed)."""
    return _ENV.get_template("standalone.html").render(
        title=f"{report['playbook']['title']} · Seamline",
        body=fragment(report, linked=False),
        plotly_js=Markup(_plotly_js().replace("</script", "<\\/script")),
        report_js=Markup((TEMPLATES / "report.js").read_text(encoding="utf-8")),
        css=Markup((TEMPLATES / "report.css").read_text(encoding="utf-8")),
    )


def to_json_text(report: dict[str, Any]) -> str:
    """The report as JSON text."""
    return to_json(report)


def _change_text(change: dict[str, Any] | None, key: str) -> str:
    """`+123 ms [lo, hi] significant` from a views.releases difference."""
    if not change or change.get(key) is None:
        return "–"
    stem = "p90" if key == "p90_ms" else "failure_rate"  # views.releases names: p90_ci, failure_rate_ci
    lo, hi = change.get(f"{stem}_ci") or (None, None)
    text = f"{fmt(change[key], key)} [{fmt(lo, key)}, {fmt(hi, key)}]"
    return text + (" significant" if change.get(f"{stem}_significant") else "")


def review_markdown(data: dict[str, Any]) -> str:
    """The health review as Markdown."""
    period, previous = data["period"], data["previous"]
    lines = [
        f"# Health review {fmt(period['start'])} – {fmt(period['end'])} UTC",
        "",
        f"Compared with the period before: {fmt(previous['start'])} – {fmt(previous['end'])}.",
        "",
        "## Drift of key metrics",
        "",
        "| metric | scope | now | before | change | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for d in data["drift"]:
        column = "x_ms" if d["unit"] == "ms" else "x_rate"
        lines.append(
            f"| {d['label']} | {_md_escape(d['scope'])} | {fmt(d['now'], column)} | {fmt(d['before'], column)} | "
            f"{fmt_change(d['change'])} | {d['verdict']} |"
        )
    lines += ["", "## Changes deployed in the period", ""]
    if not data["changes"]:
        lines += ["_No release or flag change in the period._", ""]
    else:
        lines += [
            "| change | when / rollout | p90 difference [95% CI] | failure-rate difference [95% CI] |",
            "|---|---|---|---|",
        ]
        for c in data["changes"]:
            diff = (c.get("overall") or {}).get("difference")
            when = (
                f"{fmt(c['at'])} (against {c.get('baseline') or '–'})"
                if c["kind"] == "release"
                else f"on for {fmt(c['on_share_before'], 'share')} → {fmt(c['on_share'], 'share')}"
            )
            lines.append(
                f"| {c['kind']} {_md_escape(c['name'])} | {when} | {_change_text(diff, 'p90_ms')} | "
                f"{_change_text(diff, 'failure_rate')} |"
            )
        lines.append("")
    lines += ["## Correlation heatmaps", ""]
    for h in data["heatmaps"]:
        lines += [f"### {h['title']}", ""]
        if h["strong_pairs"]:
            lines += ["| page | backend | r |", "|---|---|---|"]
            lines += [
                f"| {_md_escape(p['page'])} | {_md_escape(p['backend'])} | {p['r']:.2f} |" for p in h["strong_pairs"]
            ]
        else:
            lines.append("_No page and backend moved together (r >= 0.5)._")
        lines.append("")
    if data.get("findings"):
        lines += ["## Findings in the period", ""]
        lines += [f"- {fmt(f['start_ts'])} **{f['kind']}** {f['target']}: {f['title']}" for f in data["findings"]]
        lines.append("")
    lines.append(f"_Generated {fmt(data['generated_at'])} UTC by Seamline._")
    return "\n".join(lines) + "\n"


def review_fragment(data: dict[str, Any]) -> Markup:
    """The review body as HTML."""
    return Markup(_ENV.get_template("review.html").render(review=data))


def review_html(data: dict[str, Any]) -> str:
    """The review as a standalone HTML page (plotly.js inline)."""
    return _ENV.get_template("standalone.html").render(
        title="Health review · Seamline",
        body=review_fragment(data),
        plotly_js=Markup(_plotly_js().replace("</script", "<\\/script")),
        report_js=Markup((TEMPLATES / "report.js").read_text(encoding="utf-8")),
        css=Markup((TEMPLATES / "report.css").read_text(encoding="utf-8")),
    )


_ENV = _env()  # after every helper the templates use is defined
