"""The health review over a real correlated store built from the simulated shop: drift, change impact with
confidence intervals, correlation heatmaps, and the `seamline review` command."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _views_data import build_home
from seamline.app import App
from seamline.cli import app as cli
from seamline.playbooks.findings import add_finding
from seamline.playbooks.render import review_html, review_markdown
from seamline.playbooks.review import ReviewError, review
from seamline.settings import Settings


@pytest.fixture(scope="module")
def built(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the simulated shop ingested, correlated and its dashboard facts built (store closed)."""
    home = tmp_path_factory.mktemp("review-home")
    build_home(simulated, home)
    return home


@pytest.fixture(scope="module")
def store_app(built: Path) -> Iterator[App]:
    """An App on the built home for the module."""
    application = App(Settings({"home": built}))
    yield application
    application.close()


def _second_half(sim: Path) -> tuple[str, list[dict[str, str]]]:
    """The middle of the simulated span, and the releases the simulator deployed after it."""
    releases = json.loads((sim / "truth" / "releases.json").read_text())
    start = min(datetime.fromisoformat(r["at"].replace("Z", "+00:00")) for r in releases)
    middle = start + timedelta(hours=1)
    later = [r for r in releases if datetime.fromisoformat(r["at"].replace("Z", "+00:00")) >= middle]
    return middle.isoformat(), later


def test_the_review_reports_drift_changes_and_heatmaps(store_app: App, simulated: Path) -> None:
    """Drift covers e2e p90, error rates, LCP and join coverage; every release deployed in the period is measured."""
    since, deployed = _second_half(simulated)
    data = review(store_app.store, since)
    metrics = {d["metric"] for d in data["drift"]}
    assert {"e2e_p90_ms", "error_rate", "js_error_rate", "lcp_p75_ms", "join_coverage"} <= metrics
    overall = next(d for d in data["drift"] if d["metric"] == "e2e_p90_ms" and d["scope"] == "everything")
    assert overall["now"] > 0 and overall["before"] > 0 and overall["verdict"] in ("worse", "better", "steady")
    coverage = next(d for d in data["drift"] if d["metric"] == "join_coverage")
    assert 0.5 < coverage["now"] <= 1.0
    assert data["previous"]["end"] == data["period"]["start"]
    assert data["period"]["end"] - data["period"]["start"] == data["previous"]["end"] - data["previous"]["start"]
    releases = {c["name"]: c for c in data["changes"] if c["kind"] == "release"}
    assert {r["release"] for r in deployed} <= set(releases), (deployed, list(releases))
    measured = [c for c in releases.values() if c["overall"] and c["overall"]["difference"]]
    assert measured, releases
    for change in measured:
        diff = change["overall"]["difference"]
        lo, hi = diff["failure_rate_ci"]
        assert lo <= diff["failure_rate"] <= hi
    flags = {c["name"]: c for c in data["changes"] if c["kind"] == "flag"}
    assert "new_checkout=on" in flags and flags["new_checkout=on"]["changed"]  # ramped from 0% in this half
    assert len(data["heatmaps"]) == 2 and any(h["chart"] for h in data["heatmaps"])


def test_the_review_renders_and_shows_findings(store_app: App, simulated: Path) -> None:
    """Markdown and offline HTML hold every section; a finding inside the period is listed."""
    since, _ = _second_half(simulated)
    add_finding(store_app.store, "product_area", "checkout", "checkout review note", since)
    data = review(store_app.store, since)
    markdown = review_markdown(data)
    for heading in ("## Drift of key metrics", "## Changes deployed in the period", "## Correlation heatmaps"):
        assert heading in markdown
    assert "checkout review note" in markdown
    html = review_html(data)
    assert "<script src=" not in html and 'class="report-chart"' in html


def test_a_bad_period_is_refused(store_app: App) -> None:
    """An unreadable date or an empty period gives a clear ReviewError."""
    with pytest.raises(ReviewError, match="cannot read time"):
        review(store_app.store, "last tuesday")
    with pytest.raises(ReviewError, match="the period is empty"):
        review(store_app.store, "2026-11-02T02:00:00Z", "2026-11-02T01:00:00Z")


def test_the_review_command(built: Path, simulated: Path, tmp_path: Path) -> None:
    """`seamline review --since` prints JSON with --json, writes .md/.html with --out, and refuses a bad date."""
    home = tmp_path / "home"
    shutil.copytree(built, home)
    since, _ = _second_half(simulated)
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "--since", since, "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    assert {"drift", "changes", "heatmaps", "period"} <= set(json.loads(result.stdout))
    for name in ("review.md", "review.html"):
        out = tmp_path / name
        result = runner.invoke(cli, ["review", "--since", since, "--home", str(home), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "Drift of key metrics" in out.read_text()
    result = runner.invoke(cli, ["review", "--since", "soon", "--home", str(home)])
    assert result.exit_code == 2 and "cannot read time" in result.output
    result = runner.invoke(cli, ["review", "--since", since, "--home", str(home), "--out", str(tmp_path / "x.pdf")])
    assert result.exit_code == 2 and "must end in .md or .html" in result.output
