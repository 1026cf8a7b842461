"""Playbooks over a real correlated store built from the simulated shop: templates, the runner and its
verdict against the simulator's ground truth, reports, findings, and the UI pages in chromium."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from typer.testing import CliRunner

from _server import Server, free_port
from _views_data import build_home
from seamline.app import App
from seamline.cli import app as cli
from seamline.playbooks import PLAYBOOKS, PlaybookError, load_playbooks, parse_playbook, run_playbook
from seamline.playbooks.findings import FindingError, add_finding, list_findings, remove_finding
from seamline.playbooks.render import to_html, to_markdown
from seamline.settings import Settings

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def built(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the simulated shop ingested, correlated and its dashboard facts built (store closed)."""
    home = tmp_path_factory.mktemp("playbooks-home")
    build_home(simulated, home)
    return home


@pytest.fixture
def store_app(built: Path, tmp_path: Path) -> Iterator[App]:
    """An App on a private copy of the built home, so writes in one test do not leak into another."""
    home = tmp_path / "home"
    shutil.copytree(built, home)
    application = App(Settings({"home": home}))
    yield application
    application.close()


@pytest.fixture(scope="module")
def reader(built: Path) -> Iterator[App]:
    """A read-only App on the built home, shared by the tests that only run playbooks."""
    application = App(Settings({"home": built}), read_only=True)
    yield application
    application.close()


def _incident(sim: Path, kind: str) -> dict[str, Any]:
    incidents = json.loads((sim / "truth" / "incidents.json").read_text())
    return next(i for i in incidents if i["kind"] == kind)


def _at(incident: dict[str, Any], minutes: float = 0.5) -> str:
    start = datetime.fromisoformat(incident["start"].replace("Z", "+00:00"))
    return (start + timedelta(minutes=minutes)).isoformat()


# --- templates -------------------------------------------------------------------------------------
def test_the_five_builtin_playbooks_are_shipped() -> None:
    """PLAYBOOKS holds the five named templates the alerts link to, each with ordered steps and look-for text."""
    assert set(PLAYBOOKS) == {
        "latency-spike",
        "error-escalation",
        "frontend-regression",
        "release-regression",
        "dependency-failure",
    }
    for playbook in PLAYBOOKS.values():
        assert len(playbook.steps) >= 4
        assert all(s.look_for and s.title for s in playbook.steps)
        assert playbook.source.startswith("builtin:")


def test_a_user_template_overrides_and_another_extends(tmp_path: Path) -> None:
    """A user template named like a built-in replaces it (with a note); `extends` keeps the parent's steps and adds."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "mine.yaml").write_text(
        "name: latency-spike\ntitle: Our latency spike\ndescription: Short.\nsteps:\n"
        "  - {id: only, title: Only step, view: flows, window: [-10m, +5m], look_for: anything}\n"
    )
    (folder / "more.yaml").write_text(
        "name: checkout-errors\nextends: error-escalation\ntitle: Checkout errors\nsteps:\n"
        "  - {id: vitals, title: Vitals too, view: web_vitals, window: [-5m, +5m], compare: before, look_for: LCP}\n"
        "  - {id: impact, title: Replaced impact, view: user_impact, look_for: users}\n"
    )
    found = load_playbooks(folder)
    assert [s.id for s in found["latency-spike"].steps] == ["only"]
    assert "overrides the builtin:latency-spike.yaml" in found["latency-spike"].notes[0]
    parent = [s.id for s in PLAYBOOKS["error-escalation"].steps]
    child = found["checkout-errors"]
    assert [s.id for s in child.steps] == [*parent, "vitals"]
    assert next(s for s in child.steps if s.id == "impact").title == "Replaced impact"
    vitals = child.steps[-1]
    assert vitals.compare == (timedelta(minutes=-15), timedelta(minutes=-5))
    assert PLAYBOOKS["latency-spike"].title == "Latency spike"  # the built-in registry is untouched


_HEAD = "name: x\ntitle: t\ndescription: d\nsteps:\n"
BAD = [
    (_HEAD + "  - {id: a, title: A, view: nope, look_for: l}\n", "no view 'nope'"),
    (
        _HEAD + "  - {id: a, title: A, view: flows, look_for: l, window: [5m, -5m]}\n",
        "step 1 (a).window: the window's start 5m is not before its end -5m",
    ),
    (_HEAD + "  - {id: a, title: A, view: flows, look_for: l, window: [-1x, 0]}\n", "cannot read offset '-1x'"),
    (
        _HEAD + "  - {id: a, title: A, view: failures, look_for: l, params: {colour: red}}\n",
        "view 'failures' has no parameter 'colour'",
    ),
    (_HEAD + "  - {id: a, title: A, view: flows}\n", "step 1 (a): `look_for` is required"),
    (
        _HEAD + "  - {id: a, title: A, view: flow_latency, look_for: l, params: {flow: '{team}'}}\n",
        "unknown placeholder {team}",
    ),
    (
        _HEAD + "  - {id: a, title: A, view: flows, look_for: l}\n  - {id: a, title: B, view: flows, look_for: l}\n",
        "step ids must be unique; repeated: a",
    ),
    ("name: x\nextends: nothing-like-it\nsteps: []\n", "extends 'nothing-like-it', which is not a known playbook"),
    ("name: Bad Name\ntitle: t\ndescription: d\nsteps: []\n", "must be lower-case letters, digits and dashes"),
    (_HEAD + "  - {id: a, title: A, view: waterfall, look_for: l}\n", "takes no time window"),
    (
        _HEAD + "  - {id: a, title: A, view: flows, look_for: l, chart: {kind: pie}}\n",
        "chart.kind must be one of line, bar, heatmap",
    ),
    (_HEAD + "  - {id: a, title: A, view: flows, look_for: l, limit: 0}\n", "limit: a whole number from 1 to 200"),
    ("name: x\ntitle: t\n  description: [\n", "line 3"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[f"bad-{i}" for i in range(len(BAD))])
def test_bad_templates_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    """A broken template fails to load with an error naming the file, the step and the field to fix."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "bad.yaml").write_text(text)
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(folder)
    assert message in str(caught.value)
    assert "bad.yaml" in str(caught.value)


def test_a_template_mapping_is_validated_without_a_file() -> None:
    """parse_playbook accepts a plain mapping, so tools can check a template before writing it."""
    playbook = parse_playbook(
        {
            "name": "tiny",
            "title": "Tiny",
            "description": "d",
            "steps": [{"id": "a", "title": "A", "view": "flows", "look_for": "x", "window": ["-1h", "+0m"]}],
        },
        "inline",
    )
    assert playbook.steps[0].window == (timedelta(hours=-1), timedelta(0))


# --- the runner and its verdict ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PLAYBOOKS))
def test_every_shipped_playbook_runs_over_the_simulated_shop(reader: App, simulated: Path, name: str) -> None:
    """Each built-in playbook runs every step over real data without an error and renders to Markdown and HTML."""
    incident = _incident(simulated, "backend_latency_regression")
    report = run_playbook(reader.store, PLAYBOOKS[name], {"flow": "checkout"}, _at(incident))
    statuses = {s["id"]: (s["status"], s["message"]) for s in report["steps"]}
    assert all(status in ("ok", "skipped") for status, _ in statuses.values()), statuses
    assert any(s["table"] and s["table"]["rows"] for s in report["steps"]) or any(s["chart"] for s in report["steps"])
    markdown, html = to_markdown(report), to_html(report)
    assert markdown.startswith("# ") and "## Verdict" in markdown
    assert html.count('class="report-chart"') == sum(1 for s in report["steps"] if s["chart"])


def test_the_checkout_latency_report_names_the_payments_service(reader: App, simulated: Path) -> None:
    """For the simulated checkout latency incident the verdict names the segment and service of the ground truth."""
    incident = _incident(simulated, "backend_latency_regression")
    assert (incident["root_cause"], incident["service"]) == ("service", "payments")
    report = run_playbook(reader.store, PLAYBOOKS["latency-spike"], {"flow": "checkout"}, _at(incident))
    verdict = report["verdict"]
    assert verdict["available"], verdict
    assert (verdict["segment"], verdict["service"]) == ("service", "payments"), verdict
    assert "payments" in verdict["headline"]
    server = next(s for s in report["steps"] if s["id"] == "server-latency")
    rows, before = server["table"]["rows"], server["table"]["before"]
    i = next(i for i, r in enumerate(rows) if (r["layer"], r["service"]) == ("service", "payments"))
    # Matched with the comparison window on (layer, service): payments' p90 grew across the incident.
    assert before[i]["p90_ms"] is not None and rows[i]["p90_ms"] > before[i]["p90_ms"]
    # The release step compares the release deployed just before the incident time.
    release = next(s for s in report["steps"] if s["id"] == "release")
    assert release["query"]["release"] == incident["scope"]["release"]


def test_row_level_steps_are_withheld_when_asked(reader: App, simulated: Path) -> None:
    """A step over a withheld (row-level) view is skipped with a reason, and no transaction id reaches the report."""
    at = _at(_incident(simulated, "backend_latency_regression"))
    report = run_playbook(
        reader.store, PLAYBOOKS["latency-spike"], {"flow": "checkout"}, at, withheld=frozenset({"slow_transactions"})
    )
    slowest = next(s for s in report["steps"] if s["id"] == "slowest")
    assert slowest["status"] == "skipped" and "may not read rows" in slowest["message"]
    assert slowest["table"] is None and "transaction_id" not in to_markdown(report)


def test_a_bad_scope_or_time_is_refused(reader: App) -> None:
    """An unknown scope key or an unreadable time gives a clear PlaybookError, not a traceback."""
    with pytest.raises(PlaybookError, match="unknown scope keys"):
        run_playbook(reader.store, PLAYBOOKS["latency-spike"], {"team": "x"}, "2026-11-02T00:00:00Z")
    with pytest.raises(PlaybookError, match="cannot read time"):
        run_playbook(reader.store, PLAYBOOKS["latency-spike"], {"flow": "checkout"}, "yesterday")
    with pytest.raises(PlaybookError, match="until must be after at"):
        run_playbook(reader.store, PLAYBOOKS["latency-spike"], {}, "2026-11-02T01:00:00Z", "2026-11-02T00:00:00Z")


def test_the_cli_writes_an_offline_html_report_and_json(built: Path, simulated: Path, tmp_path: Path) -> None:
    """`seamline investigate ... --out report.html` embeds plotly.js (no CDN) and `--json` prints the verdict."""
    home = tmp_path / "home"
    shutil.copytree(built, home)
    at = _at(_incident(simulated, "backend_latency_regression"))
    out = tmp_path / "report.html"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["investigate", "latency-spike", "--flow", "checkout", "--at", at, "--home", str(home), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    # Nothing is fetched: no external script or stylesheet, plotly.min.js itself is inline.
    assert "<script src=" not in html and "<link" not in html
    assert 'href="/' not in html  # a saved file has no server behind it to open UI links
    assert "Plotly" in html and len(html) > 1_000_000
    result = runner.invoke(
        cli, ["investigate", "latency-spike", "--flow", "checkout", "--at", at, "--home", str(home), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"]["service"] == "payments"
    result = runner.invoke(cli, ["investigate", "no-such", "--at", at, "--home", str(home)])
    assert result.exit_code == 2 and "no playbook 'no-such'" in result.output


# --- findings ---------------------------------------------------------------------------------------
def test_findings_round_trip_and_refuse_bad_input(store_app: App) -> None:
    """A finding is stored, listed by time overlap with its scope, and removed; bad kinds and times are refused."""
    store = store_app.store
    added = add_finding(
        store,
        "release",
        "api@2026.11.2",
        "fraud check deployed",
        "2026-11-02T00:50:00Z",
        "2026-11-02T00:55:00Z",
        {"flow": "checkout"},
        "slow PSP call",
        alert_id="a1",
    )
    found = list_findings(store, datetime.fromisoformat("2026-11-02T00:54:00+00:00"))
    assert [f["annotation_id"] for f in found] == [added["annotation_id"]]
    assert found[0]["scope"] == {"flow": "checkout"} and found[0]["alert_id"] == "a1"
    assert list_findings(store, datetime.fromisoformat("2026-11-02T00:56:00+00:00")) == []
    with pytest.raises(FindingError, match="kind must be one of"):
        add_finding(store, "rumour", "x", "y")
    with pytest.raises(FindingError, match="until must be after at"):
        add_finding(store, "note", "x", "y", "2026-11-02T01:00:00Z", "2026-11-02T00:00:00Z")
    with pytest.raises(FindingError, match="cannot read time"):
        add_finding(store, "note", "x", "y", "soon")
    remove_finding(store, added["annotation_id"])
    assert list_findings(store) == []
    with pytest.raises(KeyError):
        remove_finding(store, added["annotation_id"])


def test_annotate_commands_round_trip(built: Path, tmp_path: Path) -> None:
    """`seamline annotate add|list|remove` store, show and delete a finding."""
    home = tmp_path / "home"
    shutil.copytree(built, home)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "annotate",
            "add",
            "--kind",
            "experiment",
            "--target",
            "search_v2",
            "--title",
            "ramp to 50%",
            "--at",
            "2026-11-02T00:12:00Z",
            "--home",
            str(home),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    finding_id = json.loads(result.stdout)["annotation_id"]
    result = runner.invoke(cli, ["annotate", "list", "--kind", "experiment", "--home", str(home), "--json"])
    assert [f["title"] for f in json.loads(result.stdout)] == ["ramp to 50%"]
    result = runner.invoke(
        cli, ["annotate", "add", "--kind", "gossip", "--target", "x", "--title", "y", "--home", str(home)]
    )
    assert result.exit_code == 2 and "kind must be one of" in result.output
    assert runner.invoke(cli, ["annotate", "remove", finding_id, "--home", str(home)]).exit_code == 0
    result = runner.invoke(cli, ["annotate", "list", "--home", str(home), "--json"])
    assert json.loads(result.stdout) == []


# --- the UI, in a real server and browser ------------------------------------------------------------
@pytest.fixture(scope="module")
def server(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`seamline serve` on a copy of the built home."""
    home = tmp_path_factory.mktemp("playbooks-serve") / "home"
    shutil.copytree(built, home)
    srv = Server(home, free_port())
    yield srv
    srv.stop()


def test_the_json_twins_answer(server: Server, simulated: Path) -> None:
    """/api/investigate, /api/playbooks and /api/annotations answer JSON, with 400/404 and a message for bad input."""
    at = _at(_incident(simulated, "backend_latency_regression"))
    report = httpx.get(
        f"{server.url}/api/investigate/latency-spike", params={"flow": "checkout", "at": at}, timeout=60
    ).json()
    assert report["verdict"]["service"] == "payments"
    assert len(httpx.get(f"{server.url}/api/playbooks", timeout=10).json()) == 5
    reviewed = httpx.get(f"{server.url}/api/review", params={"since": "2026-11-02T01:00:00Z"}, timeout=60).json()
    assert reviewed["drift"] and reviewed["heatmaps"]
    assert httpx.get(f"{server.url}/api/review?since=never", timeout=10).status_code == 400
    missing = httpx.get(f"{server.url}/api/investigate/latency-spike?flow=checkout", timeout=10)
    assert missing.status_code == 400 and "`at`" in missing.json()["error"]
    assert httpx.get(f"{server.url}/api/investigate/nope?at={at}", timeout=10).status_code == 404
    bad = httpx.post(f"{server.url}/api/annotations", json={"kind": "note", "target": "x"}, timeout=10)
    assert bad.status_code == 400 and "title is required" in bad.json()["error"]
    foreign = httpx.post(
        f"{server.url}/api/annotations",
        headers={"origin": "https://evil.example"},
        json={"kind": "note", "target": "x", "title": "y"},
        timeout=10,
    )
    assert foreign.status_code == 403


def test_findings_show_on_charts_and_a_report_saves_one(server: Server, simulated: Path) -> None:
    """A finding posted to the API is drawn on the flow page's time charts, and the report page saves a new one."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    from test_ui import CHROMIUM_ARGS

    incident = _incident(simulated, "backend_latency_regression")
    posted = httpx.post(
        f"{server.url}/api/annotations",
        json={
            "kind": "release",
            "target": incident["scope"]["release"],
            "title": "fraud-check client deployed",
            "at": incident["start"],
            "scope": {"flow": "checkout"},
        },
        timeout=10,
    )
    assert posted.status_code == 201, posted.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(f"{server.url}/flows/checkout?range=all")
        tab.wait_for_function("document.getElementById('chart-latency').dataset.findings", timeout=45_000)
        shapes = tab.evaluate("document.getElementById('chart-latency').layout.shapes.length")
        labels = tab.evaluate("document.getElementById('chart-latency').layout.annotations.map(a => a.text)")
        assert shapes >= 1 and "release: fraud-check client deployed" in labels
        tab.screenshot(path=str(ARTIFACTS / "findings-on-flow.png"))

        query = urlencode({"flow": "checkout", "at": _at(incident), "alert": "alert-42"})
        tab.goto(f"{server.url}/investigate/latency-spike?{query}")
        tab.wait_for_function("document.body.dataset.reportReady && document.body.dataset.ready", timeout=45_000)
        assert "payments" in tab.inner_text("#verdict-headline")
        assert tab.evaluate("document.querySelectorAll('.report-chart.js-plotly-plot').length") >= 2
        tab.screenshot(path=str(ARTIFACTS / "investigate.png"), full_page=True)
        tab.fill("#finding-form input[name=title]", "payments fraud check is slow")
        tab.click("#finding-submit")
        tab.wait_for_function("document.getElementById('finding-message').dataset.state", timeout=15_000)
        assert tab.get_attribute("#finding-message", "data-state") == "saved", tab.inner_text("#finding-message")

        tab.goto(f"{server.url}/review?since=2026-11-02T01:00:00Z")
        tab.wait_for_function("document.body.dataset.reportReady && document.body.dataset.ready", timeout=45_000)
        assert "Drift of key metrics" in tab.inner_text("main")
        tab.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
        browser.close()
    assert errors == []
    saved = [
        a
        for a in httpx.get(f"{server.url}/api/annotations", timeout=10).json()["annotations"]
        if a["title"] == "payments fraud check is slow"
    ]
    assert len(saved) == 1 and saved[0]["alert_id"] == "alert-42" and saved[0]["scope"] == {"flow": "checkout"}
