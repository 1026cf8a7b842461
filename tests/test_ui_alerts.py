"""The Alerts page in a real browser (Debian's chromium through Playwright) against a real
`seamline serve` whose store holds a small simulated shop and the alerts a replay of the
packaged rules raised over it. Skipped when /usr/bin/chromium is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from _server import Server, free_port
from _views_data import build_home
from seamline.alerting import AlertEngine, load_rules
from seamline.app import App
from seamline.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def server(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`seamline serve` on the simulated shop after `alerts check` replayed the packaged rules over it."""
    home = tmp_path_factory.mktemp("ui-alerts-home")
    build_home(simulated, home)
    app = App(Settings({"home": home}))
    try:
        span = app.store.query("SELECT min(start_ts) AS lo, max(start_ts) AS hi FROM transaction_facts").to_pylist()[0]
        engine = AlertEngine(app.store, load_rules(None), home=home, notify=False)
        engine.replay(span["lo"].replace(second=0, microsecond=0), span["hi"] + timedelta(minutes=10))
    finally:
        app.close()
    # The scheduler would evaluate "now", long after the simulated day; keep it out of the test.
    srv = Server(home, free_port(), extra_env={"SEAMLINE_ALERT_INTERVAL_SECONDS": "0"})
    yield srv
    srv.stop()


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


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A fresh tab and the console errors it logs."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab, errors
    context.close()


def test_api_alerts_lists_what_the_replay_raised(server: Server) -> None:
    """The JSON twin answers the stored alerts with links, and refuses an unknown state."""
    data = httpx.get(f"{server.url}/api/alerts?state=all", timeout=30).json()
    assert data["state"] == "all" and data["alerts"]
    assert all(a["investigation"].startswith("/investigate/") for a in data["alerts"] if a["playbook"])
    assert httpx.get(f"{server.url}/api/alerts?state=bogus", timeout=30).status_code == 400


def test_alerts_page_lists_alerts_and_opens_the_investigation(server: Server, page: tuple[Page, list[str]]) -> None:
    """The Alerts page shows each alert with severity, scope, value and segment; its link opens the report."""
    tab, errors = page
    expected = httpx.get(f"{server.url}/api/alerts?state=all", timeout=30).json()["alerts"]
    tab.goto(server.url + "/alerts")
    tab.wait_for_function("document.body.dataset.ready", timeout=45_000)
    rows = tab.locator("tr.alert")
    assert rows.count() == len(expected)
    assert tab.locator("nav a[data-nav=alerts]").get_attribute("class") == "active"
    first = expected[0]
    row = tab.locator(f"tr[data-alert-id='{first['alert_id']}']")
    text = row.inner_text().lower()  # the severity badge is upper-cased by CSS
    assert first["severity"] in text and first["rule"] in text
    if first["segment"]:
        assert first["segment"] in text
    tab.screenshot(path=str(ARTIFACTS / "alerts.png"), full_page=True)
    assert errors == []
    link = tab.locator("tr.alert a.investigate").first
    href = link.get_attribute("href")
    assert href and href.startswith("/investigate/")
    link.click()
    tab.wait_for_url("**/investigate/**", timeout=30_000)
    tab.wait_for_load_state("load")
    assert tab.url.endswith(href) and "at=" in tab.url
    heading = tab.locator("h1").inner_text()
    assert heading
    tab.screenshot(path=str(ARTIFACTS / "alerts-investigation.png"), full_page=True)


def test_alerts_page_by_state(server: Server, page: tuple[Page, list[str]]) -> None:
    """Choosing a state lists only alerts in it; an unknown state is a clear error, not a crash."""
    tab, _ = page
    tab.goto(server.url + "/alerts?state=resolved")
    states = tab.locator("tr.alert td:nth-child(2)").all_inner_texts()
    assert all(s == "resolved" for s in states)
    response = tab.goto(server.url + "/alerts?state=bogus")
    assert response is not None and response.status == 400
    assert "state must be" in tab.locator(".error").first.inner_text()
