"""Clock-skew estimation: NTP pair math, the robust fit, request alignment, and a simulated shop vs its truth."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from conftest import ingest_simulated
from seamline.app import App
from seamline.correlate._skew_align import Coverage, align_sessions, max_coverage
from seamline.correlate._skew_fit import bound_coarse, fit_precise, ntp_terms
from seamline.correlate.evaluate_skew import evaluate_skew
from seamline.correlate.exact import link_exact
from seamline.correlate.run import _clear, _window
from seamline.correlate.skew import estimate_skew, skew_report
from seamline.settings import Settings

PAIR_TABLE = "CREATE TABLE pairs (session_id VARCHAR, x DOUBLE, o DOUBLE, delay DOUBLE, res DOUBLE)"


def _ntp(rows: list[tuple[float, float, float, float]]) -> list[tuple[float, float]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE p (t1 DOUBLE, t4 DOUBLE, t2 DOUBLE, d DOUBLE)")
    con.executemany("INSERT INTO p VALUES (?, ?, ?, ?)", rows)
    return con.execute(f"SELECT {ntp_terms('t1', 't4', 't2', 'd')} FROM p").fetchall()


def test_ntp_offset_is_exact_for_symmetric_legs_and_bounded_by_half_the_delay() -> None:
    """NTP's offset is exact for equal legs and otherwise off by half the legs' difference, within delay/2."""
    theta, t2, d = 1234.5, 1_000_000.0, 80.0
    rows = []
    for up, down in ((40.0, 40.0), (30.0, 90.0), (200.0, 20.0)):
        t1 = t2 - up + theta  # the device clock reads theta ahead of the server's
        t4 = t2 + d + down + theta
        rows.append((t1, t4, t2, d))
    (o_sym, delay_sym), (o_slow_down, delay_2), (o_slow_up, delay_3) = _ntp(rows)
    assert o_sym == pytest.approx(theta) and delay_sym == pytest.approx(80.0)
    assert o_slow_down == pytest.approx(theta + 30.0) and delay_2 == pytest.approx(120.0)
    assert o_slow_up == pytest.approx(theta - 90.0) and delay_3 == pytest.approx(220.0)
    for o, delay in ((o_slow_down, delay_2), (o_slow_up, delay_3)):
        assert abs(o - theta) <= delay / 2


def _session_pairs(
    rng: random.Random, sid: str, offset: float, drift: float, n: int, minutes: float, res: float = 0.0
) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for _ in range(n):
        x = rng.uniform(0.0, minutes)
        delay = rng.uniform(60.0, 400.0)
        asym = rng.uniform(-0.04, 0.04) * delay  # one leg slower than the other
        stamp = rng.uniform(0.0, res)  # a whole-second stamp makes the server look early
        rows.append((sid, x, offset + drift * x + asym + stamp, delay, res))
    return rows


def test_robust_fit_recovers_offset_and_drift_despite_outliers_and_asymmetry() -> None:
    """A drifting and a steady session are fitted to a few ms and ms/min even with some wildly wrong pairs."""
    rng = random.Random(3)
    rows = _session_pairs(rng, "drifting", 1234.5, 60.0, 40, 8.0)
    rows += [("drifting", rng.uniform(0, 8), 1234.5 + 2500.0, 100.0, 0.0) for _ in range(4)]  # wrong pairs
    rows += _session_pairs(rng, "steady", -300_000.0, 0.0, 30, 5.0)
    rows += [("steady", 1.0, -299_000.0, 90.0, 0.0)]
    rows += [("single", 0.5, 777.0, 120.0, 0.0)]
    con = duckdb.connect()
    con.execute(PAIR_TABLE)
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?, ?)", rows)
    fit_precise(con, "pairs", "fit")
    got = {r[0]: r[1:] for r in con.execute("SELECT session_id, a, b, pairs, spread FROM fit").fetchall()}
    a, b, pairs, _ = got["drifting"]
    assert a == pytest.approx(1234.5, abs=5.0) and b == pytest.approx(60.0, abs=4.0)
    assert 36 <= pairs <= 40, "the four wrong pairs are dropped, few good ones with them"
    a, b, _, _ = got["steady"]
    assert a == pytest.approx(-300_000.0, abs=5.0) and abs(b) < 3.0
    assert got["single"][:2] == (pytest.approx(777.0), 0.0), "one pair gives its own offset and no drift"


def test_whole_second_pairs_bound_the_offset_within_a_second() -> None:
    """Access-log pairs (stamp truncated to the second) bound the true offset; more pairs, a tighter bound."""
    rng = random.Random(11)
    con = duckdb.connect()
    con.execute(PAIR_TABLE)
    rows = _session_pairs(rng, "few", 5000.0, 0.0, 2, 3.0, 1000.0)
    rows += _session_pairs(rng, "many", -42.0, 0.0, 25, 3.0, 1000.0)
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE none_precise (session_id VARCHAR)")
    bound_coarse(con, "pairs", "none_precise", "bounds")
    got = {r[0]: r[1:] for r in con.execute("SELECT session_id, lo, hi, pairs FROM bounds").fetchall()}
    for sid, truth in (("few", 5000.0), ("many", -42.0)):
        lo, hi, _ = got[sid]
        assert lo <= truth <= hi
    assert got["many"][1] - got["many"][0] < got["few"][1] - got["few"][0]
    assert got["many"][1] - got["many"][0] < 500.0


def test_max_coverage_finds_the_offset_most_requests_agree_on() -> None:
    """Eight requests agree on one offset among random distractors; ties and too few requests are refused."""
    rng = random.Random(5)
    theta = 4321.0
    ranges: list[tuple[object, float, float]] = []
    for key in range(8):
        ranges.append((key, theta - rng.uniform(0, 1000), theta + rng.uniform(0, 300)))
        for _ in range(3):  # lines of other visitors with the same route and browser
            centre = theta + rng.uniform(-20_000, 20_000)
            ranges.append((key, centre - 600, centre + 400))
    cov = max_coverage(ranges)
    assert isinstance(cov, Coverage) and cov.accepted
    assert cov.count == 8 and cov.lo <= theta <= cov.hi
    tie = [(k, 0.0, 100.0) for k in range(4)] + [(k + 4, 5000.0, 5100.0) for k in range(4)]
    assert max_coverage(tie) is not None and not max_coverage(tie).accepted  # type: ignore[union-attr]
    assert not max_coverage([(1, 0.0, 10.0), (2, 5.0, 20.0)]).accepted  # type: ignore[union-attr]


def _row(event_id: str, kind: str, route: str, ts: datetime, **kw: object) -> dict[str, object]:
    base = {"source": "nginx", "origin": "test", "ingest_batch_id": "b", "schema_version": 3, "http_method": "GET"}
    return {**base, "event_id": event_id, "kind": kind, "route": route, "ts": ts, "http_status": 200, **kw}


def test_alignment_places_a_session_without_ids_from_whole_second_access_lines(app: App) -> None:
    """A session's requests line up with gateway lines (end stamped to the second) and a plain combined line."""
    rng = random.Random(9)
    theta = 93_210.0  # the device clock is 93 s ahead
    t0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
    rows: list[dict[str, object]] = []
    at = 0.0
    for i in range(7):
        at += rng.uniform(2_000, 15_000)
        up, down, rt = rng.uniform(30, 60), rng.uniform(30, 60), rng.uniform(5, 80)
        start = t0 + timedelta(milliseconds=at)
        route = "/v1/recommendations" if i == 3 else "/api/products/{id}"
        device = start + timedelta(milliseconds=theta)
        client = {"source": "client_events", "session_id": "s1", "user_agent": ua, "client_ts": device}
        rows.append(_row(f"c{i}", "client_request", route, start, duration_ms=up + rt + down, **client))
        stamp = (start + timedelta(milliseconds=up + rt)).replace(microsecond=0)  # nginx $time_local: end, truncated
        if i == 3:  # the recommendations box: plain combined, no request time
            rows.append(_row(f"s{i}", "server_request", route, stamp, user_agent=ua))
        else:
            started = stamp - timedelta(milliseconds=round(rt, 3))
            rows.append(_row(f"s{i}", "server_request", route, started, user_agent=ua, duration_ms=round(rt, 3)))
    for j in range(40):  # other visitors on the same route, some with the same browser
        stamp = (t0 + timedelta(milliseconds=rng.uniform(-30_000, at + 30_000))).replace(microsecond=0)
        other = ua if j % 2 else "curl/8"
        rows.append(_row(f"d{j}", "server_request", "/api/products/{id}", stamp, user_agent=other, duration_ms=12.0))
    con = app.store._con
    cols = sorted({k for r in rows for k in r})
    con.executemany(
        f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [[r.get(c) for c in cols] for r in rows],
    )
    con.execute("CREATE TEMP TABLE _skew_align_todo (session_id VARCHAR, o0 DOUBLE, prior DOUBLE)")
    con.execute("INSERT INTO _skew_align_todo VALUES ('s1', ?, ?)", [theta - 70.0, theta - 20.0])
    found = align_sessions(con, t0 - timedelta(minutes=5), t0 + timedelta(minutes=10))
    assert set(found) == {"s1"}
    assert found["s1"].requests == 7
    assert found["s1"].offset == pytest.approx(theta, abs=60.0)


@pytest.fixture(scope="module")
def skewed(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The simulated shop ingested, with exact links and clock offsets estimated (twice: it must be stable)."""
    app = App(Settings({"home": tmp_path_factory.mktemp("skew_home")}))
    ingest_simulated(app, simulated)
    app.writer.flush()
    _correlate(app)
    first = app.store.query("SELECT session_id, offset_ms FROM clock_offsets ORDER BY session_id").to_pylist()
    _correlate(app)
    again = app.store.query("SELECT session_id, offset_ms FROM clock_offsets ORDER BY session_id").to_pylist()
    assert [r["session_id"] for r in first] == [r["session_id"] for r in again]
    assert all(abs(a["offset_ms"] - b["offset_ms"]) < 1e-6 for a, b in zip(first, again, strict=True))
    yield app
    app.close()


def _correlate(app: App) -> None:
    run_id = uuid.uuid4().hex[:16]
    with app.store.transaction() as con:
        window, _ = _window(con, True, timedelta(minutes=30))
        _clear(con, window)
        link_exact(con, window, run_id)
        estimate_skew(con, window, run_id)


def test_skew_meets_the_accuracy_target_on_well_linked_sessions(skewed: App, simulated: Path) -> None:
    """Sessions with >= 3 exactly linked requests are placed within 20 ms (median), far better than at ingest."""
    report = evaluate_skew(skewed.store, simulated / "truth")
    linked = report["linked_3_or_more"]
    assert linked["sessions"] >= 50
    assert linked["median_abs_ms"] <= 20.0
    assert report["overall"]["p90_abs_ms"] <= 50.0
    assert report["ingest_time"]["overall"]["median_abs_ms"] > 3 * report["overall"]["median_abs_ms"]


def test_every_session_gets_one_offset_row_and_consistent_client_times(skewed: App) -> None:
    """One clock_offsets row per session with client records, and ts == client_ts - clock_offset_ms on each."""
    store = skewed.store
    sessions = store.scalar("SELECT count(DISTINCT session_id) FROM events WHERE client_ts IS NOT NULL")
    rows = store.query("SELECT session_id, count(*) AS n FROM clock_offsets GROUP BY session_id").to_pylist()
    assert len(rows) == sessions and all(r["n"] == 1 for r in rows)
    bad = store.scalar(
        "SELECT count(*) FROM events WHERE client_ts IS NOT NULL "
        "AND epoch_us(client_ts) - epoch_us(ts) <> CAST(round(clock_offset_ms * 1000) AS BIGINT)"
    )
    assert bad == 0
    report = skew_report(store)
    assert sum(m["sessions"] for m in report["methods"]) == sessions
    assert report["top_sessions"] and report["overall"]["p50_ms"] is not None


def test_sessions_without_ids_are_carried_from_their_device_or_aligned(
    simulated: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With the ids of half the sessions stripped, device carry and alignment place them to tens of ms."""
    app = App(Settings({"home": tmp_path_factory.mktemp("skew_noids")}))
    try:
        ingest_simulated(app, simulated)
        app.writer.flush()
        app.store.execute(
            "UPDATE events SET trace_id = NULL, span_id = NULL, parent_span_id = NULL "
            "WHERE client_ts IS NOT NULL AND hash(session_id) % 2 = 0"
        )
        _correlate(app)
        report = evaluate_skew(app.store, simulated / "truth")
        methods = report["by_method"]
        assert {"ntp", "device", "alignment"} <= set(methods)
        assert methods["alignment"]["median_abs_ms"] <= 30.0
        assert methods["device"]["median_abs_ms"] <= 20.0
        assert report["overall"]["p99_abs_ms"] <= 1000.0, "no session was aligned to a wrong offset"
    finally:
        app.close()
