"""Exact links, transactions, the waterfall and coverage on a simulated shop, against its truth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from conftest import ingest_simulated
from seamline.app import App
from seamline.correlate.exact import link_exact
from seamline.correlate.run import _clear, _window
from seamline.correlate.transactions import build_transactions
from seamline.settings import Settings
from seamline.sources.client_events import natural_id
from seamline.views.coverage import join_coverage
from seamline.views.waterfall import transaction_waterfall


@pytest.fixture(scope="module")
def correlated(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, str]]:
    """The simulated shop ingested, with exact links and transactions built (no skew or scoring)."""
    app = App(Settings({"home": tmp_path_factory.mktemp("home")}))
    ingest_simulated(app, simulated)
    app.writer.flush()
    run_id = uuid.uuid4().hex[:16]
    with app.store.transaction() as con:
        window, _ = _window(con, True, timedelta(minutes=30))
        _clear(con, window)
        link_exact(con, window, run_id)
        build_transactions(con, window, run_id)
    yield app, run_id
    app.close()


def _truth(sim: Path) -> list[dict]:
    return [orjson.loads(line) for line in (sim / "truth" / "links.ndjson").read_bytes().splitlines()]


def test_exact_links_are_all_right_and_complete(correlated: tuple[App, str], simulated: Path) -> None:
    """Every id-carrying truth link is found to the right access-log line, and no exact link is wrong."""
    app, _ = correlated
    rows = app.store.query(
        "SELECT l.from_event_id, s.position FROM links l JOIN events s ON s.event_id = l.to_event_id "
        "WHERE l.method <> 'scored' AND s.source = 'nginx' AND s.origin LIKE '%gateway/access.log'"
    ).to_pylist()
    found = {(r["from_event_id"], r["position"]) for r in rows}
    expected = {
        (natural_id("client", t["session_id"], t["event_id"]), t["line"])
        for t in _truth(simulated)
        if t["propagated"] and t["file"] == "gateway/access.log"
    }
    assert expected, "the simulation has id-carrying requests"
    assert expected <= found, f"{len(expected - found)} id-carrying requests were not linked"
    assert found <= expected, f"{len(found - expected)} exact links contradict the truth"


def test_action_transactions_hold_their_requests_and_server_side(correlated: tuple[App, str]) -> None:
    """A click's transaction holds the requests it caused and the server spans of their traces."""
    app, _ = correlated
    tx = app.store.query(
        "SELECT transaction_id, client_requests, server_records, flow FROM transactions "
        "WHERE kind = 'action' AND links_exact > 0 AND flow = 'checkout' ORDER BY server_records DESC LIMIT 1"
    ).to_pylist()[0]
    members = app.store.query(
        "SELECT e.kind, e.attributes['action_id'] AS action_id, e.trace_id FROM event_transactions et "
        "JOIN events e ON e.event_id = et.event_id WHERE et.transaction_id = ?",
        [tx["transaction_id"]],
    ).to_pylist()
    root = app.store.query(
        "SELECT attributes['action_id'] AS a, session_id FROM events WHERE event_id = ?", [tx["transaction_id"]]
    ).to_pylist()[0]
    requests = [m for m in members if m["kind"] == "client_request"]
    assert requests and all(m["action_id"] == root["a"] for m in requests)
    traces = {m["trace_id"] for m in requests if m["trace_id"]}
    spans = [m for m in members if m["kind"] == "span"]
    assert spans and {s["trace_id"] for s in spans} <= traces
    assert tx["client_requests"] == len(requests) and tx["server_records"] >= len(spans)


def test_every_client_record_belongs_to_at_most_one_transaction(correlated: tuple[App, str]) -> None:
    """Membership is a function: no record is counted in two transactions."""
    app, run_id = correlated
    dupes = app.store.scalar(
        "SELECT count(*) FROM (SELECT event_id FROM event_transactions WHERE correlation_run_id = ? "
        "GROUP BY event_id HAVING count(*) > 1)",
        [run_id],
    )
    assert dupes == 0


def test_waterfall_of_a_checkout_reaches_the_database(correlated: tuple[App, str]) -> None:
    """The waterfall of a checkout order goes from the click through gateway and services to the database."""
    app, _ = correlated
    tx_id = app.store.scalar(
        "SELECT transaction_id FROM transactions WHERE name = 'checkout.place_order' AND links_exact > 0 "
        "ORDER BY server_records DESC LIMIT 1"
    )
    data = transaction_waterfall(app.store, tx_id)
    assert data is not None
    lanes = {r["lane"] for r in data["rows"]}
    assert {"client", "gateway", "database"} <= lanes and "payments" in lanes
    starts = [r["start_ms"] for r in data["rows"]]
    assert starts == sorted(starts)
    assert all(r["source"] for r in data["rows"])
    assert any(r["network_ms"] is not None for r in data["rows"] if r["kind"] == "client_request")
    trace_id = next(r["trace_id"] for r in data["rows"] if r["kind"] == "span")
    assert transaction_waterfall(app.store, trace_id)["transaction"]["transaction_id"] == tx_id


def test_coverage_adds_up(correlated: tuple[App, str]) -> None:
    """Exact + scored + unlinked equals all client requests, overall and per route."""
    app, _ = correlated
    data = join_coverage(app.store, by="route")
    o = data["overall"]
    assert o["exact"] + o["scored"] + o["unlinked"] == o["requests"] > 0
    assert sum(r["requests"] for r in data["breakdown"]) <= o["requests"]
    assert all(r["exact"] + r["scored"] + r["unlinked"] == r["requests"] for r in data["breakdown"])
    with pytest.raises(ValueError, match="cannot break coverage down"):
        join_coverage(app.store, by="nonsense")
