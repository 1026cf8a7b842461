"""Dashboard views on a small simulated, correlated shop: facts, filters, every view, saved views, JSON twins."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
import pytest

from _views_data import build_home
from seamline._output import to_json
from seamline.app import App
from seamline.schema import TABLE_SCHEMAS
from seamline.settings import Settings
from seamline.store import DuckDBStore
from seamline.views import VIEWS, Filters, ViewError, run_view
from seamline.views import waterfall as waterfall_module
from seamline.views.facts import facts_stale, refresh_facts
from seamline.views.releases import _compare, _wilson
from seamline.views.saved import SavedViewError, create_view, delete_view, get_view, list_views, update_view
from seamline.views.watchlist import WatchlistError, load_watchlist, watchlist


@pytest.fixture(scope="module")
def app(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The simulated shop ingested, correlated and with facts, open for reading and saved-view writes."""
    home = tmp_path_factory.mktemp("views-home")
    build_home(simulated, home)
    application = App(Settings({"home": home}))
    yield application
    application.close()


@pytest.fixture(scope="module")
def ids(app: App) -> dict[str, str]:
    """A checkout action with requests, and its session."""
    row = app.store.query(
        "SELECT transaction_id, session_id FROM transaction_facts WHERE kind = 'action' AND e2e_ms IS NOT NULL "
        "AND flow = 'checkout' ORDER BY requests DESC, e2e_ms DESC LIMIT 1"
    ).to_pylist()[0]
    return {"ident": row["transaction_id"], "session_id": row["session_id"]}


# --- facts --------------------------------------------------------------------------------------


def test_every_transaction_has_current_facts_and_refresh_is_incremental(app: App) -> None:
    """Each transaction has one facts row of its own run; refreshing again builds nothing."""
    store = app.store
    assert store.scalar("SELECT count(*) FROM transactions") == store.scalar("SELECT count(*) FROM transaction_facts")
    assert not facts_stale(store)
    assert refresh_facts(store)["transactions"] == 0
    assert store.scalar("SELECT count(*) FROM request_facts") > store.scalar("SELECT count(*) FROM transactions")


def test_rebuilt_transactions_get_new_facts(app: App) -> None:
    """A transaction rebuilt by a later correlation run (new run id) gets its facts rebuilt."""
    store = app.store
    tx = store.scalar("SELECT transaction_id FROM transactions ORDER BY start_ts LIMIT 1")
    store.execute("UPDATE transactions SET correlation_run_id = 'rerun' WHERE transaction_id = ?", [tx])
    assert facts_stale(store)
    assert refresh_facts(store)["transactions"] == 1
    assert store.scalar("SELECT correlation_run_id FROM transaction_facts WHERE transaction_id = ?", [tx]) == "rerun"
    assert (
        store.scalar(
            "SELECT count(*) FROM request_facts WHERE transaction_id = ? AND correlation_run_id <> 'rerun'", [tx]
        )
        == 0
    )


def test_segments_add_up_to_end_to_end_latency(app: App) -> None:
    """client + network + server + dependency + unattributed equals e2e, and no segment is negative."""
    bad = app.store.query(
        "SELECT count(*) FILTER (WHERE abs(client_ms + network_ms + server_ms + dependency_ms + unattributed_ms "
        "- e2e_ms) > 0.01) AS off, "
        "count(*) FILTER (WHERE least(client_ms, network_ms, server_ms, dependency_ms, unattributed_ms) < 0) AS neg, "
        "count(*) FILTER (WHERE e2e_ms IS NOT NULL) AS n FROM transaction_facts"
    ).to_pylist()[0]
    assert bad["n"] > 100 and bad["off"] == 0 and bad["neg"] == 0
    # The dependency segment is where database and third-party time shows up.
    assert app.store.scalar("SELECT sum(dependency_ms) FROM transaction_facts WHERE flow = 'checkout'") > 0


# --- filters ------------------------------------------------------------------------------------


def test_filter_values_are_bound_not_spliced(app: App) -> None:
    """A filter value that looks like SQL matches nothing and breaks nothing."""
    evil = "x' OR 1=1 --"
    for key in ("browser", "region", "release", "segment", "environment", "flag"):
        data = run_view(app.store, "flows", {key: evil})
        assert data["flows"] == [], key


def test_a_filter_narrows_the_data(app: App) -> None:
    """The browser filter keeps only that browser's transactions, counted the same as plain SQL."""
    browser = app.store.scalar("SELECT browser FROM transaction_facts GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    all_flows = run_view(app.store, "flows", {"range": "all"})["flows"]
    some = run_view(app.store, "flows", {"range": "all", "browser": browser})["flows"]
    expected = app.store.scalar("SELECT count(*) FROM transaction_facts WHERE browser = ?", [browser])
    assert sum(f["transactions"] for f in some) == expected < sum(f["transactions"] for f in all_flows)


def test_flag_filter_selects_the_variant(app: App) -> None:
    """flag=name:variant keeps the transactions with that variant; a bare name keeps any variant."""
    on = run_view(app.store, "flows", {"range": "all", "flag": "search_v2:on"})["flows"]
    expected = app.store.scalar("SELECT count(*) FROM transaction_facts WHERE feature_flags['search_v2'] = 'on'")
    assert sum(f["transactions"] for f in on) == expected > 0
    any_variant = run_view(app.store, "flows", {"range": "all", "flag": "search_v2"})["flows"]
    assert sum(f["transactions"] for f in any_variant) >= expected


def test_time_range_is_relative_to_the_latest_data(app: App) -> None:
    """range=1h ends at the latest transaction, not at the wall clock; from/to override it."""
    latest = app.store.scalar("SELECT max(start_ts) FROM transaction_facts")
    window = Filters.from_params({"range": "1h"}).window(app.store)
    assert window.end - latest < timedelta(seconds=1) and window.end - window.start == timedelta(hours=1)
    start = latest - timedelta(minutes=20)
    explicit = Filters.from_params({"from": start.isoformat(), "to": latest.isoformat()}).window(app.store)
    assert (explicit.start, explicit.end) == (start, latest)


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("flows", {"range": "forever"}),
        ("flows", {"from": "yesterday"}),
        ("failures", {"by": "colour"}),
        ("flow_latency", {"kind": "sideways"}),
        ("web_vitals", {"vital": "XYZ"}),
        ("slow_transactions", {"limit": "many"}),
        ("waterfall", {}),
    ],
)
def test_bad_parameters_are_reported(app: App, name: str, query: dict[str, str]) -> None:
    """A parameter the view cannot use is a ViewError naming it, not a crash."""
    with pytest.raises(ViewError):
        run_view(app.store, name, query)


# --- every view ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_answers_with_json(app: App, ids: dict[str, str], name: str) -> None:
    """Each registered view runs with its defaults (and required ids) and answers JSON-ready data."""
    view = VIEWS[name]
    query = {p.name: ids[p.name] for p in view.params if p.required}
    data = view.call(app.store if view.takes_store else None, query, app.settings.home_dir)
    assert data is not None
    assert len(to_json(data)) > 20
    assert view.doc.endswith(".") and view.as_dict()["endpoint"] == f"/api/views/{name}"


def test_flow_latency_percentiles_are_ordered(app: App) -> None:
    """p50 <= p90 <= p99 in every bucket, and the segment series cover the same buckets."""
    data = run_view(app.store, "flow_latency", {"flow": "checkout", "range": "all", "kind": "all"})
    assert data["summary"]["p50_ms"] <= data["summary"]["p90_ms"] <= data["summary"]["p99_ms"]
    p50, p90, p99 = data["p50"]["checkout"], data["p90"]["checkout"], data["p99"]["checkout"]
    points = [(a, b, c) for a, b, c in zip(p50, p90, p99, strict=True) if a is not None]
    assert points and all(a <= b + 1e-6 and b <= c + 1e-6 for a, b, c in points)
    assert all(len(v) == len(data["buckets"]) for v in data["segments"].values())


def test_failures_by_route_count_the_client_requests(app: App) -> None:
    """Per route, the 5xx count equals the client requests in transactions answered 5xx."""
    data = run_view(app.store, "failures", {"by": "route", "range": "all"})
    expected = {
        r["route"]: r["n"]
        for r in app.store.query(
            "SELECT e.route, count(*) AS n FROM events e JOIN event_transactions et ON et.event_id = e.event_id "
            "WHERE e.kind = 'client_request' AND e.http_status >= 500 GROUP BY 1"
        ).to_pylist()
    }
    got = {r["route"]: r["http_5xx"] for r in data["rows"] if r["http_5xx"]}
    assert got == expected


def test_user_impact_counts_distinct_users(app: App) -> None:
    """Affected users are the distinct users of failed transactions, a share of all users in scope."""
    data = run_view(app.store, "user_impact", {"range": "all", "condition": "js_error"})
    expected = app.store.scalar("SELECT count(DISTINCT user_key) FROM transaction_facts WHERE js_errors > 0")
    assert data["affected"]["users"] == expected
    assert 0 < data["share"]["users"] <= 1
    slow = run_view(app.store, "user_impact", {"range": "all", "condition": "slow", "threshold_ms": "1"})
    assert slow["affected"]["transactions"] == app.store.scalar(
        "SELECT count(*) FROM transaction_facts WHERE e2e_ms > 1"
    )


def test_heatmap_is_pages_by_backends_of_correlations(app: App) -> None:
    """The matrix has a row per page and a column per backend, each a correlation in [-1, 1] or empty."""
    data = run_view(app.store, "heatmap", {"range": "all", "backend": "errors", "frontend": "slow"})
    assert len(data["correlation"]) == len(data["pages"]) > 0
    assert all(len(row) == len(data["backends"]) for row in data["correlation"])
    values = [v for row in data["correlation"] for v in row if v is not None]
    assert all(-1 <= v <= 1 for v in values)


def test_web_vitals_per_page(app: App) -> None:
    """Every page with vitals has a p75 LCP and a poor share between 0 and 1."""
    data = run_view(app.store, "web_vitals", {"range": "all"})
    rows = [r for r in data["rows"] if "LCP" in r]
    assert rows and all(r["LCP"]["p75"] > 0 and 0 <= r["LCP"]["poor_share"] <= 1 for r in rows)


def test_waterfall_from_facts_matches_the_joined_members(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The facts shortcut returns exactly what joining event_transactions, links and events returns."""
    sample = [
        r["transaction_id"]
        for r in app.store.query(
            "SELECT transaction_id FROM transaction_facts ORDER BY hash(transaction_id) LIMIT 40"
        ).to_pylist()
    ]
    assert all(waterfall_module._from_facts(app.store, t) is not None for t in sample)
    fast = {t: waterfall_module.transaction_waterfall(app.store, t) for t in sample}
    monkeypatch.setattr(waterfall_module, "_from_facts", lambda store, tx: None)
    for t in sample:
        assert waterfall_module.transaction_waterfall(app.store, t) == fast[t]


def test_waterfall_rows_hold_every_member_once_and_each_transaction_together(app: App) -> None:
    """The refresh writes one waterfall row per member, and a transaction's rows are consecutive in the table."""
    store = app.store
    assert store.scalar("SELECT count(*) FROM waterfall_rows") == store.scalar(
        "SELECT count(*) FROM event_transactions"
    )
    assert store.scalar("SELECT count(DISTINCT transaction_id) FROM waterfall_rows") == store.scalar(
        "SELECT count(*) FROM transactions"
    )
    # Consecutive rows: per transaction, the span of row ids equals its row count.
    scattered = store.scalar(
        "SELECT count(*) FROM (SELECT transaction_id FROM waterfall_rows GROUP BY 1 "
        "HAVING max(rowid) - min(rowid) + 1 <> count(*))"
    )
    assert scattered == 0


def test_a_transaction_whose_facts_alone_expired_is_rebuilt_without_duplicates(app: App) -> None:
    """Facts deleted on their own (facts and requests age by different clocks) come back once, requests too."""
    store = app.store
    tables = ("transaction_facts", "request_facts", "waterfall_rows")
    before = {t: store.scalar(f"SELECT count(*) FROM {t}") for t in tables}
    tx = store.scalar("SELECT transaction_id FROM request_facts ORDER BY transaction_id LIMIT 1")
    store.execute("DELETE FROM transaction_facts WHERE transaction_id = ?", [tx])
    assert refresh_facts(store)["transactions"] == 1
    assert {t: store.scalar(f"SELECT count(*) FROM {t}") for t in tables} == before


def test_a_correlation_run_keeps_where_its_time_went(app: App) -> None:
    """Each finished correlation run stores its seconds per phase, which add up to no more than the run."""
    row = app.store.query(
        "SELECT phase_seconds, seconds FROM correlation_runs WHERE status = 'done' ORDER BY started_at DESC LIMIT 1"
    ).to_pylist()[0]
    phases = orjson.loads(row["phase_seconds"])
    assert {"clear", "window", "exact", "skew", "scored", "transactions"} <= set(phases)
    assert all(v >= 0 for v in phases.values())
    top_level = sum(v for k, v in phases.items() if "." not in k)
    assert top_level <= row["seconds"] + 0.01


def test_upgrade_to_waterfall_rows_empties_the_facts_and_a_refresh_rebuilds_them(tmp_path: Path) -> None:
    """Migration 8 drops the packed members and the facts; the next refresh writes facts and waterfall rows again."""
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.upgrade(to=7)
    store.execute(
        "INSERT INTO transaction_facts (transaction_id, kind, start_ts, members, correlation_run_id) "
        "VALUES ('t1', 'action', '2026-11-02T10:00:00Z', 'e1', 'r1')"
    )
    assert store.upgrade() == [8]
    assert store.scalar("SELECT count(*) FROM transaction_facts") == 0
    assert "members" not in dict(store.table_columns("transaction_facts"))
    assert "waterfall_rows" in store.tables()
    assert store.downgrade(7) == [8]
    assert "members" in dict(store.table_columns("transaction_facts")) and "waterfall_rows" not in store.tables()
    store.close()


def test_session_timeline_holds_both_sides_in_order(app: App, ids: dict[str, str]) -> None:
    """A session's timeline has its client events and its server records, in time order, with transactions."""
    data = run_view(app.store, "session", {"session_id": ids["session_id"]})
    sides = {r["side"] for r in data["timeline"]}
    assert sides == {"client", "server"}
    times = [r["ts"] for r in data["timeline"]]
    assert times == sorted(times)
    assert ids["ident"] in {r["transaction_id"] for r in data["timeline"]}
    assert run_view(app.store, "session", {"session_id": "no-such-session"}) is None


# --- release and flag impact ----------------------------------------------------------------------


def _synthetic_store(tmp_path: Path) -> DuckDBStore:
    """Transactions of two groups with known latency and failure: treatment slower and failing more."""
    store = DuckDBStore(tmp_path / "synthetic.duckdb")
    store.upgrade()
    rng = random.Random(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(4000):
        treated = i % 2 == 1  # web@1 is seen first, so it is web@2's baseline
        rows.append(
            {
                "transaction_id": f"t{i}",
                "kind": "action",
                "name": "checkout.place_order",
                "flow": "checkout",
                "session_id": f"s{i}",
                "user_key": f"u{i % 900}",
                "release": "web@2" if treated else "web@1",
                "feature_flags": [("new_checkout", "on" if treated else "off")],
                "start_ts": start + timedelta(seconds=i),
                "e2e_ms": rng.lognormvariate(6.5 if treated else 6.0, 0.4),
                "js_errors": int(rng.random() < (0.10 if treated else 0.02)),
                "status_0": 0,
                "status_4xx": 0,
                "status_5xx": 0,
                "server_errors": 0,
                "timeouts": 0,
                "requests": 1,
                "correlation_run_id": "r",
            }
        )
    names = TABLE_SCHEMAS["transaction_facts"].names
    store.append(
        "transaction_facts",
        pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows], schema=TABLE_SCHEMAS["transaction_facts"]),
    )
    return store


def test_comparison_intervals_bracket_the_truth(tmp_path: Path) -> None:
    """p90 and failure-rate intervals hold the group values, and a real difference is significant."""
    store = _synthetic_store(tmp_path)
    filters = Filters(range="all")
    window = filters.window(store)
    group = ("CASE WHEN feature_flags[?] = ? THEN 'treatment' ELSE 'baseline' END", ["new_checkout", "on"])
    [overall, *_] = _compare(store, filters, window, group)
    t, b, d = overall["treatment"], overall["baseline"], overall["difference"]
    assert t["transactions"] == b["transactions"] == 2000
    assert t["p90_ci"][0] <= t["p90_ms"] <= t["p90_ci"][1]
    assert t["failure_rate_ci"][0] <= t["failure_rate"] <= t["failure_rate_ci"][1]
    assert d["p90_significant"] and d["p90_ms"] > 0 and d["failure_rate_significant"] and d["failure_rate"] > 0
    flag = run_view(store, "flag_impact", {"range": "all", "flag": "new_checkout:on"})
    assert flag["comparison"][0]["difference"]["failure_rate_significant"]
    release = run_view(store, "release_impact", {"range": "all", "release": "web@2"})
    assert release["baseline"] == "web@1" and release["comparison"][0]["difference"]["p90_significant"]
    store.close()


def test_wilson_interval() -> None:
    """The Wilson interval of 0 of 100 starts at 0 and of 50 of 100 is centred on 0.5."""
    assert _wilson(0, 100)[0] == 0.0 and 0.03 < _wilson(0, 100)[1] < 0.04
    lo, hi = _wilson(50, 100)
    assert abs((lo + hi) / 2 - 0.5) < 1e-6 and 0.39 < lo < 0.41


# --- watchlist and saved views ----------------------------------------------------------------------


def test_watchlist_from_file_and_by_default(app: App, tmp_path: Path) -> None:
    """Without a file the watchlist is the busiest flows and pages; a file replaces it; a bad file is named."""
    default = watchlist(app.store, Filters(range="all"), tmp_path)
    assert default["source"] == "default" and {f["name"] for f in default["flows"]} >= {"checkout", "browse"}
    (tmp_path / "watchlist.yaml").write_text("flows:\n  - name: checkout\n    p90_ms: 1\npages: ['/cart']\n")
    configured = watchlist(app.store, Filters(), tmp_path)
    assert configured["flows"] == [{"name": "checkout", "p90_ms": 1}] and configured["pages"] == [{"name": "/cart"}]
    overview = run_view(app.store, "overview", {"range": "all"}, tmp_path)
    assert [f["flow"] for f in overview["flows"]] == ["checkout"] and overview["flows"][0]["status"] == "bad"
    (tmp_path / "watchlist.yaml").write_text("flows:\n  - name: checkout\n    p90: fast\n")
    with pytest.raises(WatchlistError, match="unknown keys"):
        load_watchlist(tmp_path / "watchlist.yaml")


def test_saved_views_are_editable_and_shared_ones_are_not(app: App) -> None:
    """A team view can be created, edited and deleted; shared views refuse changes; input is validated."""
    store = app.store
    made = create_view(store, "Checkout, EU", "payments", "flow", "?flow=checkout&region=eu-west", "for on-call")
    assert made["url"] == "/flows/checkout?region=eu-west" and get_view(store, made["view_id"])["team"] == "payments"
    edited = update_view(store, made["view_id"], name="Checkout, US", query="flow=checkout&region=us-east")
    assert edited["name"] == "Checkout, US" and "us-east" in edited["query"]
    assert any(v["view_id"] == made["view_id"] for v in list_views(store, team="payments"))
    with pytest.raises(SavedViewError):
        update_view(store, "shared-checkout", name="mine now")
    with pytest.raises(SavedViewError):
        delete_view(store, "shared-checkout")
    with pytest.raises(SavedViewError):
        create_view(store, "x", "shared", "flow")
    with pytest.raises(SavedViewError):
        create_view(store, "x", "team", "not-a-page")
    odd = create_view(store, "'); DROP TABLE saved_views; --", "qa", "overview", "range=7d")
    assert get_view(store, odd["view_id"])["name"] == "'); DROP TABLE saved_views; --"
    delete_view(store, made["view_id"])
    delete_view(store, odd["view_id"])
    assert get_view(store, made["view_id"]) is None and get_view(store, "shared-checkout") is not None


# --- HTTP: pages and JSON twins -----------------------------------------------------------------------


def test_json_twins_pages_and_saved_views_over_http(app: App, ids: dict[str, str]) -> None:
    """Views answer under /api/views, pages render with escaped filters, plotly.js is local, edits are same-origin."""
    from seamline.web.server import create_app

    api = create_app(app)

    async def calls() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://seamline") as c:
            out = {
                "list": await c.get("/api/views"),
                "flows": await c.get("/api/views/flows?range=all"),
                "bad": await c.get("/api/views/failures?by=colour"),
                "missing": await c.get("/api/views/nothing"),
                "waterfall": await c.get(f"/api/views/waterfall?ident={ids['ident']}"),
                "page": await c.get("/flows/checkout?browser=%3Cscript%3Ealert(1)%3C/script%3E"),
                "plotly": await c.get("/ui/plotly.min.js"),
                "event": await c.get(f"/api/events/{ids['ident']}"),
                "foreign": await c.post(
                    "/api/saved-views",
                    json={"name": "n", "team": "t", "page": "overview"},
                    headers={"origin": "https://elsewhere.example"},
                ),
                "create": await c.post("/api/saved-views", json={"name": "n", "team": "t", "page": "overview"}),
            }
            out["delete"] = await c.delete(f"/api/saved-views/{out['create'].json()['view_id']}")
            out["shared"] = await c.delete("/api/saved-views/shared-checkout")
            return out

    r = asyncio.run(calls())
    assert {v["name"] for v in r["list"].json()} == set(VIEWS)
    assert r["flows"].status_code == 200 and r["flows"].json()["flows"]
    assert r["bad"].status_code == 400 and "by" in r["bad"].json()["error"]
    assert r["missing"].status_code == 404
    assert r["waterfall"].json()["transaction"]["transaction_id"] == ids["ident"]
    assert r["page"].status_code == 200 and "<script>alert(1)" not in r["page"].text
    assert "&lt;script&gt;" in r["page"].text
    assert r["plotly"].status_code == 200 and len(r["plotly"].content) > 1_000_000
    assert r["event"].json()["lineage"]["source"] == "client_events"
    assert r["foreign"].status_code == 403 and r["create"].status_code == 201
    assert r["delete"].status_code == 200 and r["shared"].status_code == 400


def test_views_and_watchlist_commands(app: App, tmp_path: Path) -> None:
    """`seamline views list|show` and `seamline watchlist init|show` work on a copy of the store."""
    import shutil

    import typer
    from typer.testing import CliRunner

    from seamline.commands.views import register

    app.store.checkpoint()
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(app.settings.database_path, home / "seamline.duckdb")
    shutil.copy(app.settings.home_dir / "pseudonym.key", home / "pseudonym.key")
    cli = typer.Typer()
    register(cli)
    runner = CliRunner()
    listed = runner.invoke(cli, ["views", "list", "--json"])
    assert listed.exit_code == 0 and "flow_latency" in listed.output
    shown = runner.invoke(cli, ["views", "show", "failures", "-p", "by=route", "-p", "range=all", "--home", str(home)])
    assert shown.exit_code == 0, shown.output
    assert '"unit": "request"' in shown.output
    assert runner.invoke(cli, ["views", "show", "nope", "--home", str(home)]).exit_code == 2
    assert runner.invoke(cli, ["views", "show", "failures", "-p", "by=colour", "--home", str(home)]).exit_code == 2
    init = runner.invoke(cli, ["watchlist", "init", "--home", str(home)])
    assert init.exit_code == 0, init.output
    assert "checkout" in (home / "watchlist.yaml").read_text()
    assert runner.invoke(cli, ["watchlist", "init", "--home", str(home)]).exit_code == 2
    shown = runner.invoke(cli, ["watchlist", "show", "--json", "--home", str(home)])
    assert shown.exit_code == 0 and '"source": "file"' in shown.output


def test_quality_coverage_from_facts_matches_join_coverage(app: App) -> None:
    """The data-quality page's coverage (from request_facts) agrees with `seamline coverage`."""
    from seamline.views.coverage import join_coverage

    facts = run_view(app.store, "data_quality", {"range": "all"})["coverage"]["overall"]
    joined = join_coverage(app.store, by="route")["overall"]
    # Facts hold the requests that belong to a transaction: all but the odd one before a session's first page.
    assert 0.995 * joined["requests"] <= facts["requests"] <= joined["requests"]
    for share in ("exact_share", "scored_share", "unlinked_share"):
        assert abs(facts[share] - joined[share]) < 0.005
