"""The data quality report: per source and field against a baseline period, trends, CLI and the UI page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from _governance_data import copy_home, governed_template_fixture  # noqa: F401  (a fixture)
from _server import Server, free_port
from seamline.cli import app as cli
from seamline.governance.quality import parse_since, quality_report
from seamline.schema import SCHEMA_VERSION, rows_to_batch
from seamline.store import DuckDBStore
from seamline.validate import count_out_of_range

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def home(governed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the simulated shop, ingested, correlated and with facts."""
    return copy_home(governed_template, tmp_path_factory.mktemp("quality") / "home")


def test_report_per_source_and_field_matches_the_validator(home: Path) -> None:
    """Null rates, distinct counts and out-of-range counts per source agree with direct queries and validate.py."""
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    try:
        data = quality_report(store, since="1h")
        start, end = datetime.fromisoformat(data["window"]["start"]), datetime.fromisoformat(data["window"]["end"])
        assert end - start == timedelta(hours=1)
        fields = {(f["source"], f["field"]): f for f in data["fields"]}
        counts = store.query(
            "SELECT count(*) AS n, count(user_id) AS u FROM events "
            "WHERE source = 'client_events' AND ts >= ? AND ts < ?",
            [start, end],
        ).to_pylist()[0]
        rows, filled = counts["n"], counts["u"]
        user = fields[("client_events", "user_id")]
        assert user["rows"] == rows and user["null_rate"] == round((rows - filled) / rows, 4)
        assert 0 < user["null_rate"] < 1 and user["cardinality"] > 1
        where = "source = 'nginx' AND ts >= ? AND ts < ?"
        expected = count_out_of_range(store, where, [start, end])
        got = {f["field"]: f["out_of_range"] for f in data["fields"] if f["source"] == "nginx" and f["out_of_range"]}
        assert got == expected
        assert {s["source"] for s in data["sources"]} == {"client_events", "json_log", "nginx", "otlp_traces"}
        assert ("nginx", "page") not in fields, "fields a source never fills are left out"
        assert data["clock_skew_trend"] and all(r["sessions"] > 0 for r in data["clock_skew_trend"])
        shares = data["join_coverage_trend"]
        assert shares and all(
            abs(r["exact_share"] + r["scored_share"] + r["unlinked_share"] - 1) < 1e-3 for r in shares
        )
    finally:
        store.close()


def test_a_field_that_empties_is_flagged_against_the_baseline(tmp_path: Path) -> None:
    """http_status filled in the baseline and half empty in the window is flagged; a steady field is not."""
    store = DuckDBStore(tmp_path / "q.duckdb")
    store.upgrade()
    t0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp() * 1_000_000)
    rows = []
    for i in range(400):
        current = i >= 200
        rows.append(
            {
                "event_id": f"e{i}",
                "kind": "server_request",
                "ts": t0 + i * 60_000_000,
                "source": "nginx",
                "origin": "o",
                "ingest_batch_id": "b",
                "schema_version": SCHEMA_VERSION,
                "http_status": None if current and i % 2 else 200,
                "route": "/api/cart",
                "duration_ms": 5000000.0 if current and i % 10 == 0 else 12.0,
            }
        )
    store.append("events", rows_to_batch(rows))
    data = quality_report(store, since=datetime.fromtimestamp((t0 + 200 * 60_000_000) / 1e6, UTC))
    flagged = {f["field"]: f["drift"] for f in data["flagged"]}
    assert "nulls 0% -> 50%" in flagged["http_status"]
    assert "out of range 0.0% -> 10.0%" in flagged["duration_ms"]
    assert "route" not in flagged
    store.close()


def test_cli_json_table_and_bad_input(home: Path) -> None:
    """`seamline quality --json` prints the report; tables print; an unknown source or time is a clear error."""
    runner = CliRunner()
    result = runner.invoke(cli, ["quality", "--source", "nginx", "--since", "6h", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {s["source"] for s in data["sources"]} == {"nginx"} and data["fields"]
    table = runner.invoke(cli, ["quality", "--all", "--home", str(home)])
    assert table.exit_code == 0 and "join coverage over time" in table.output
    bad = runner.invoke(cli, ["quality", "--source", "nope", "--home", str(home)])
    assert bad.exit_code == 2 and "no events from source 'nope'" in bad.output
    with pytest.raises(ValueError, match="cannot read --since"):
        parse_since("yesterday", None)


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[Server]:
    """`seamline serve` on the simulated shop."""
    srv = Server(home, free_port())
    yield srv
    srv.stop()


def test_quality_page_shows_fields_trends_and_drift(server: Server) -> None:
    """/api/quality answers for the page's window, and the page renders its per-field table and trends."""
    window = httpx.get(f"{server.url}/api/views/data_quality?range=all", timeout=30).json()["window"]
    g = httpx.get(f"{server.url}/api/quality", params={"since": window["start"], "until": window["end"]}, timeout=30)
    assert g.status_code == 200, g.text
    g = g.json()
    assert g["fields"] and g["clock_skew_trend"] and g["join_coverage_trend"]
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.url}/quality?range=all")
        page.wait_for_selector("#table-fields table", timeout=30_000)
        page.wait_for_selector("#chart-coverage-trend.js-plotly-plot", timeout=30_000)
        cells = page.locator("#table-fields tbody tr").count()
        browser.close()
    assert cells == len(g["fields"])
    assert errors == []
