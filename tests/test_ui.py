"""The web UI in a real browser: Debian's chromium (never a downloaded build) through Playwright, against
a real `seamline serve` on a small simulated, correlated shop.

Skipped when /usr/bin/chromium is missing (`make test` installs it when it can). A screenshot of
every page lands in test-artifacts/ui/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from _server import Server, free_port
from _views_data import build_home

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every chart's points that are not null, per chart id.
_CHART_POINTS = """
Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => [el.id,
    (el.data || []).reduce((n, t) => n + [t.y, t.z, t.x].filter(Boolean)[0].flat()
        .filter(v => v !== null && v !== undefined).length, 0)]))
"""


@pytest.fixture(scope="module")
def server(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`seamline serve` on the simulated shop, ingested, correlated and with dashboard facts."""
    home = tmp_path_factory.mktemp("ui-home")
    build_home(simulated, home)
    srv = Server(home, free_port())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ids(server: Server) -> dict[str, str]:
    """The slowest checkout interaction and its session, as the server's JSON twin lists them."""
    data = httpx.get(f"{server.url}/api/views/slow_transactions?range=all&flow=checkout&kind=action", timeout=30).json()
    tx = data["transactions"][0]
    return {"transaction": tx["transaction_id"], "session": tx["session_id"]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile for the module, so plotly.js is fetched once and then cached."""
    profile = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield profile
    profile.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[tuple[Page, list[str]]]:
    """A fresh tab and the console errors it logs."""
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab, errors
    tab.close()


def _open(tab: Page, url: str) -> None:
    tab.goto(url)
    _ready(tab)


def _ready(tab: Page) -> None:
    tab.wait_for_function("document.body.dataset.ready", timeout=45_000)
    assert tab.evaluate("document.body.dataset.ready") == "ok", tab.inner_text("#status")


PAGES = [
    ("overview", "/?range=all", ["chart-p90", "chart-failures", "chart-pages"]),
    ("flow", "/flows/checkout?range=all", ["chart-latency", "chart-segments", "chart-failures", "chart-impact"]),
    ("failures", "/failures?range=all&by=route", ["chart-failures", "chart-impact"]),
    ("heatmap", "/heatmap?range=all", ["chart-heatmap", "chart-pair", "chart-frontend", "chart-backend"]),
    ("impact-flag", "/impact?range=all&mode=flag&flag=search_v2:on", ["chart-p90", "chart-failure", "chart-timeline"]),
    ("impact-release", "/impact?range=all&mode=release", []),
    ("vitals", "/vitals?range=all", ["chart-vitals"]),
    ("quality", "/quality?range=all", ["chart-coverage"]),
    ("dictionary", "/dictionary", []),
    ("saved", "/saved", []),
    ("waterfall", "/transactions/{transaction}", ["chart-waterfall"]),
    ("session", "/sessions/{session}", ["chart-session"]),
]


@pytest.mark.parametrize(("name", "path", "charts"), PAGES, ids=[p[0] for p in PAGES])
def test_every_page_loads_without_console_errors(
    server: Server, ids: dict[str, str], page: tuple[Page, list[str]], name: str, path: str, charts: list[str]
) -> None:
    """Each page renders with no console error, its charts hold data, and its screenshot is kept."""
    tab, errors = page
    _open(tab, server.url + path.format(**ids))
    points = tab.evaluate(_CHART_POINTS)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert errors == []
    for chart in charts:
        assert points.get(chart, 0) > 0, f"{chart} has no data: {points}"
    assert tab.locator("h1").inner_text()


def test_a_filter_changes_the_data_and_stays_in_the_url(server: Server, page: tuple[Page, list[str]]) -> None:
    """Choosing a browser in the filter bar reloads with it in the URL, and the table shows only that browser."""
    tab, errors = page
    _open(tab, server.url + "/failures?range=all&by=browser")
    before = tab.locator("#table-failures tbody tr").all_inner_texts()
    assert len(before) > 1
    browser_name = before[0].split("\t")[0]
    tab.fill("input[name=browser]", browser_name)
    tab.press("input[name=browser]", "Escape")  # close the datalist's suggestions
    tab.click("form#filters button[type=submit]")
    tab.wait_for_url(re.compile(r"browser="))
    _ready(tab)
    after = tab.locator("#table-failures tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in after] == [browser_name]
    assert "browser=" in tab.locator("nav a[data-nav=overview]").get_attribute("href")
    assert errors == []


def test_clicking_a_slow_transaction_opens_its_waterfall(server: Server, page: tuple[Page, list[str]]) -> None:
    """On the flow page, the slowest transaction's link opens its waterfall, whose bars match its rows."""
    tab, errors = page
    _open(tab, server.url + "/flows/checkout?range=all")
    first = tab.locator("#table-slow tbody tr").first.locator("a").first
    tx_id = first.get_attribute("href").split("/transactions/")[1].split("?")[0]
    first.click()
    tab.wait_for_url(re.compile("/transactions/"))
    _ready(tab)
    assert tx_id in tab.url
    bars = tab.evaluate("document.getElementById('chart-waterfall').data[0].y.length")
    assert bars > 0
    tab.locator("#table-rows button.source").nth(1).click()
    tab.wait_for_selector("#source-body .origin")
    assert tab.locator("#source-body .origin").inner_text()
    assert errors == []


def test_three_clicks_from_the_overview_to_a_failed_checkout(server: Server, page: tuple[Page, list[str]]) -> None:
    """Overview, the checkout card, a failed checkout: its waterfall shows the error and where it came from."""
    tab, errors = page
    _open(tab, server.url + "/?range=all")
    tab.click("a.card[data-flow=checkout]")
    _ready(tab)
    failed = tab.locator("#table-failed tbody tr a").first
    if failed.count() == 0:
        pytest.skip("no failed checkout in this simulation")
    failed.click()
    tab.wait_for_url(re.compile("/transactions/"))
    _ready(tab)
    assert "failed rows" in tab.locator("#tx-numbers").inner_text()
    assert tab.locator("#table-rows tbody tr.failed").count() >= 1
    tab.screenshot(path=str(ARTIFACTS / "failed-checkout-waterfall.png"), full_page=True)
    assert errors == []


def test_a_team_saves_edits_and_deletes_its_view(server: Server, page: tuple[Page, list[str]]) -> None:
    """Save the current page for a team, find it among saved views, rename it, delete it; shared ones remain."""
    tab, errors = page
    _open(tab, server.url + "/flows/checkout?range=all&region=eu-west")
    tab.click("#save-view-open")
    tab.fill("#save-view-form input[name=name]", "EU checkout")
    tab.fill("#save-view-form input[name=team]", "payments")
    tab.click("#save-view-submit")
    tab.wait_for_function("document.getElementById('status').textContent.startsWith('Saved')")
    _open(tab, server.url + "/saved")
    row = tab.locator("#table-teams tbody tr", has=tab.locator("input[value='EU checkout']"))
    assert row.count() == 1
    assert "region=eu-west" in row.locator("a").first.get_attribute("href")
    row.locator("input[data-key=name]").fill("EU checkout (on-call)")
    row.locator("button.save-edit").click()
    tab.wait_for_selector("#table-teams input[value='EU checkout (on-call)']")
    tab.locator("#table-teams tbody tr", has=tab.locator("input[value='EU checkout (on-call)']")).locator(
        "button.delete"
    ).click()
    tab.wait_for_function("document.getElementById('status').textContent === 'Deleted.'")
    assert tab.locator("#table-teams input[value='EU checkout (on-call)']").count() == 0
    assert tab.locator("#table-shared tbody tr").count() >= 5
    assert errors == []
