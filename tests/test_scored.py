"""Scored links for requests without ids: the scoring, the assignment, the reasons, and accuracy on a simulation."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from conftest import ingest_simulated
from seamline.app import App
from seamline.correlate import correlate
from seamline.correlate._window import Window
from seamline.correlate.evaluate import evaluate_connection, evaluate_links
from seamline.correlate.scored import ScoredStats, assign, link_scored
from seamline.settings import Settings
from seamline.simulate import SimConfig
from seamline.simulate.runner import run

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC).timestamp() * 1000.0
RUN = "run-test"
UAS = (
    "Mozilla/5.0 (Windows NT 10.0) Chrome/131",
    "Mozilla/5.0 (Macintosh) Safari/605",
    "Mozilla/5.0 (X11) Firefox/133",
)


@dataclass
class Shop:
    """Hand-made client requests and nginx lines with the timing rules of the real ones."""

    rng: random.Random = field(default_factory=lambda: random.Random(3))
    rows: list[dict[str, Any]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    line_no: int = 0

    def client(
        self,
        eid: str,
        start: float,
        dur: float,
        *,
        session: str,
        ua: str,
        kind: str = "client_request",
        route: str | None = "/api/items/{id}",
        status: int | None = 200,
        size: int | None = None,
        span: str | None = None,
    ) -> str:
        """A browser record starting at `start` (ms, server clock) that took `dur` ms."""
        self.rows.append(
            {
                "event_id": eid,
                "kind": kind,
                "ts": start,
                "duration_ms": dur,
                "session_id": session,
                "device_id": session,
                "user_agent": ua,
                "http_method": "GET" if kind == "client_request" else None,
                "route": route,
                "http_status": status,
                "response_bytes": size,
                "span_id": span,
                "source": "client_events",
                "origin": "test-client",
            }
        )
        return eid

    def line(
        self,
        eid: str,
        received: float,
        rt: float,
        *,
        ua: str,
        ip: str,
        size: int = 900,
        route: str = "/api/items/{id}",
        status: int = 200,
    ) -> str:
        """An nginx line: $time_local is the end truncated to the second, ts = that - $request_time."""
        self.line_no += 1
        rt = round(rt)  # $request_time has milliseconds
        end = received + rt
        logged = (end // 1000.0) * 1000.0
        self.rows.append(
            {
                "event_id": eid,
                "kind": "server_request",
                "ts": logged - rt,
                "duration_ms": rt,
                "user_agent": ua,
                "client_ip": ip,
                "http_method": "GET",
                "route": route,
                "http_status": status,
                "response_bytes": size,
                "source": "nginx",
                "origin": "/logs/gateway/access.log",
                "service": "gateway",
                "position": self.line_no,
            }
        )
        return eid

    def request(
        self,
        cid: str,
        sid: str,
        start: float,
        *,
        session: str,
        ua: str,
        ip: str,
        size: int,
        client_size: bool = True,
        rt: float | None = None,
    ) -> None:
        """A request the browser saw and the gateway logged: up, server time, down."""
        rt = rt if rt is not None else self.rng.uniform(20.0, 200.0)
        up, down = self.rng.uniform(10.0, 40.0), self.rng.uniform(10.0, 60.0)
        self.client(cid, start, up + rt + down, session=session, ua=ua, size=size if client_size else None)
        self.line(sid, start + up, rt, ua=ua, ip=ip, size=size)

    def trained(self, pairs: int = 60) -> Shop:
        """Id-carrying requests an exact link already joined: what the model learns from."""
        for i in range(pairs):
            session = f"known{i % 20}"
            self.request(
                f"xc{i}",
                f"xs{i}",
                T0 + i * 9_000.0 + self.rng.uniform(0.0, 1000.0),
                session=session,
                ua=UAS[i % 3],
                ip=f"ip-{session}",
                size=700 + 13 * i,
            )
            self.links.append((f"xc{i}", f"xs{i}"))
        # Lines nobody in the test asked for, far from the tests' requests: they set how common a
        # browser, an address or a body size is among the gateway's lines.
        for i in range(300):
            self.line(
                f"bg{i}",
                T0 + 4_000_000.0 + i * 700.0,
                self.rng.uniform(20.0, 300.0),
                ua=UAS[i % 3],
                ip=f"ip-bg{i % 150}",
                size=self.rng.randrange(500, 5000),
            )
        return self

    def store(self, app: App) -> None:
        """Write the rows and the exact links into the app's store."""
        cols = sorted({k for r in self.rows for k in r})
        table = pa.table({c: [r.get(c) for r in self.rows] for c in cols})
        links = pa.table(
            {"c": [c for c, _ in self.links], "s": [s for _, s in self.links]},
            schema=pa.schema([("c", pa.string()), ("s", pa.string())]),
        )
        select = ", ".join("to_timestamp(ts / 1000.0)" if c == "ts" else c for c in cols)
        con = app.store.cursor()
        con.register("rows_in", table)
        con.register("links_in", links)
        con.execute(
            f"INSERT INTO events ({', '.join(cols)}, ingest_batch_id, schema_version) "
            f"SELECT {select}, 'b1', 3 FROM rows_in"
        )
        con.execute("INSERT INTO links SELECT c, s, 'traceparent', 1.0, NULL, ? FROM links_in", [RUN])
        con.close()


def _window() -> Window:
    start = datetime.fromtimestamp(T0 / 1000.0 - 60, tz=UTC)
    return Window(start, start + timedelta(hours=2))


def _score(app: App, shop: Shop, **kwargs: Any) -> tuple[ScoredStats, dict[str, tuple[str, float]], dict[str, str]]:
    shop.store(app)
    with app.store.transaction() as con:
        stats = link_scored(con, _window(), RUN, **kwargs)
    links = {
        r["from_event_id"]: (r["to_event_id"], r["confidence"])
        for r in app.store.query("SELECT * FROM links WHERE method = 'scored'").to_pylist()
    }
    reasons = {r["event_id"]: r["reason"] for r in app.store.query("SELECT * FROM unlinked_requests").to_pylist()}
    return stats, links, reasons


# --- scoring on hand-made candidates ----------------------------------------------------------------


def test_true_line_beats_lines_of_other_visitors(app: App) -> None:
    """An id-less request links to its own line, not to same-route lines seconds away or from other browsers."""
    shop = Shop().trained()
    start = T0 + 2_000_000.0
    shop.request("c1", "s1", start, session="known3", ua=UAS[0], ip="ip-known3", size=1234)
    shop.line("d1", start + 60.0, 40.0, ua=UAS[1], ip="ip-other1", size=1234)  # same bytes, other browser
    shop.line("d2", start - 300.0, 60.0, ua=UAS[0], ip="ip-other2", size=990)  # same browser, a bit early
    shop.line("d3", start - 2_300.0, 2_450.0, ua=UAS[0], ip="ip-other3", size=900)  # longer than the browser waited
    stats, links, _ = _score(app, shop)
    assert links["c1"][0] == "s1"
    assert links["c1"][1] >= 0.99
    assert stats.pairs >= 3


def test_link_features_explain_the_score(app: App) -> None:
    """A scored link stores its features and their log likelihood ratios as compact JSON."""
    shop = Shop().trained()
    shop.request("c1", "s1", T0 + 2_000_000.0, session="known3", ua=UAS[0], ip="ip-known3", size=1234)
    _score(app, shop)
    features = orjson.loads(app.store.scalar("SELECT features FROM links WHERE method = 'scored'"))
    assert features["origin"] == "gateway" and features["ua"] is True and features["ip"] is True
    assert set(features["llr"]) == {"prior", "time", "ident", "bytes", "duration"}
    assert features["llr"]["bytes"] > 0 and features["llr"]["time"] > 0


def test_two_lines_that_fit_equally_are_ambiguous(app: App) -> None:
    """Two lines in the same second from the same kind of browser, nothing else to tell them apart: no link."""
    shop = Shop().trained()
    start = T0 + 2_000_300.0
    shop.client("c1", start, 400.0, session="newcomer", ua=UAS[0])  # no bytes, no session IP known
    shop.line("a", start + 30.0, 100.0, ua=UAS[0], ip="ip-x")
    shop.line("b", start + 35.0, 102.0, ua=UAS[0], ip="ip-y")
    _, links, reasons = _score(app, shop)
    assert "c1" not in links
    assert reasons["c1"] == "ambiguous"
    best = app.store.scalar("SELECT best_confidence FROM unlinked_requests WHERE event_id = 'c1'")
    assert 0.3 < best < 0.7


def test_a_line_claimed_by_a_surer_request_goes_to_it(app: App) -> None:
    """Two requests want the same line: the surer one gets it, and the other's best was taken."""
    shop = Shop().trained()
    start = T0 + 2_000_100.0
    shop.request("c1", "s1", start, session="known1", ua=UAS[1], ip="ip-known1", size=4321)
    shop.client("c2", start + 5.0, 900.0, session="newcomer", ua=UAS[1], size=None)
    _, links, reasons = _score(app, shop)
    assert links["c1"][0] == "s1"
    assert "c2" not in links
    assert reasons["c2"] == "ambiguous"


def test_scoring_never_touches_exact_links(app: App) -> None:
    """A line an id already linked is no candidate, however well an id-less request fits it."""
    shop = Shop().trained()
    start = T0 + 2_000_000.0
    shop.request("x", "s1", start, session="known2", ua=UAS[2], ip="ip-known2", size=777)
    shop.links.append(("x", "s1"))
    shop.client("twin", start + 1.0, 250.0, session="known2", ua=UAS[2], size=777)
    _, links, reasons = _score(app, shop)
    assert "twin" not in links and "x" not in links
    assert reasons["twin"] == "no_candidate"
    assert app.store.scalar("SELECT method FROM links WHERE from_event_id = 'x'") == "traceparent"
    assert app.store.scalar("SELECT count(*) FROM links WHERE to_event_id = 's1'") == 1


def test_every_unlinked_request_gets_a_reason(app: App) -> None:
    """Lost requests, requests nothing fits, weak matches and page views without ids each say why."""
    shop = Shop().trained()
    base = T0 + 3_000_000.0
    shop.client("lost", base, 3000.0, session="known1", ua=UAS[0], status=0)
    shop.client("nowhere", base, 120.0, session="known1", ua=UAS[0], route="/api/unlogged")
    shop.client("weak", base + 60_000.0, 900.0, session="newcomer", ua=UAS[0], size=555)
    shop.line("far", base + 60_000.0 + 850.0, 120.0, ua=UAS[1], ip="ip-z", size=2000)  # other browser, other size
    shop.client("view", base, 800.0, session="known1", ua=UAS[0], kind="page_view", route=None, status=None)
    stats, links, reasons = _score(app, shop)
    assert not links
    assert reasons == {"lost": "no_response", "nowhere": "no_candidate", "weak": "below_threshold", "view": "no_id"}
    assert stats.unlinked == {"below_threshold": 1, "no_candidate": 1, "no_id": 1, "no_response": 1}


def test_without_exact_pairs_or_lines_nothing_breaks(app: App) -> None:
    """No exact pairs to learn from and no server lines at all: every request is simply unlinked."""
    shop = Shop()
    shop.client("c1", T0 + 1000.0, 200.0, session="s", ua=UAS[0])
    stats, links, reasons = _score(app, shop)
    assert not links and reasons == {"c1": "no_candidate"} and stats.clients == 1


def test_threshold_and_prior_are_honoured(app: App) -> None:
    """A lower threshold links the weak match; a given prior is used as is."""
    shop = Shop().trained()
    base = T0 + 3_000_000.0
    shop.client("weak", base, 900.0, session="newcomer", ua=UAS[0], size=555)
    shop.line("far", base + 850.0, 120.0, ua=UAS[1], ip="ip-z", size=2000)
    stats, links, _ = _score(app, shop, threshold=0.0, prior=0.8)
    assert links["weak"][0] == "far" and links["weak"][1] < 0.9
    assert stats.prior == pytest.approx(0.8)


def test_greedy_assignment_is_one_to_one() -> None:
    """Pairs are taken by descending confidence, and neither a request nor a line is used twice."""
    pairs = [("c1", "s1", 0.97), ("c2", "s1", 0.95), ("c2", "s2", 0.6), ("c3", "s2", 0.55), ("c1", "s3", 0.2)]
    assert assign(pairs) == [("c1", "s1"), ("c2", "s2")]
    assert assign([]) == []


def test_learned_time_model_matches_nginx_semantics(app: App) -> None:
    """Fitted on exact pairs, the gateway's lines are read as end-of-request times truncated to the second."""
    shop = Shop().trained(pairs=80)
    stats, _, _ = _score(app, shop)
    model = stats.origins["gateway"]
    assert model["anchor"] == "end" and model["resolution_ms"] == 1000.0
    assert model["pairs"] == 80 and model["q_ua"] > 0.95 and model["q_bytes"] > 0.95


# --- accuracy on a simulated shop where 30% of requests carry no ids ----------------------------


@pytest.fixture(scope="module")
def simulated_idless(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """An hour of dense traffic: legacy widgets plus devices that never send ids, clocks within 5 minutes."""
    out = tmp_path_factory.mktemp("idless")
    cfg = SimConfig(
        seed=5,
        events=20_000,
        duration_s=3600.0,
        start_ms=T0,
        legacy_share=0.18,
        idless_device_share=0.27,
        max_clock_offset_ms=300_000.0,
    )
    return out, run(cfg, out)


@pytest.fixture(scope="module")
def correlated(simulated_idless: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """That shop ingested and correlated by the orchestrator."""
    sim, _ = simulated_idless
    app = App(Settings({"home": tmp_path_factory.mktemp("home")}))
    ingest_simulated(app, sim)
    app.writer.flush()
    correlate(app.store, full=True)
    yield app
    app.close()


def test_simulator_can_make_whole_devices_idless(simulated_idless: tuple[Path, Any]) -> None:
    """The scenario's knobs work: about 30% of server-reaching requests lack ids, clocks stay within 5 min."""
    sim, summary = simulated_idless
    assert 0.22 <= summary.legacy_share <= 0.4
    truth = [orjson.loads(line) for line in (sim / "truth" / "links.ndjson").read_bytes().splitlines()]
    bare = {
        t["session_id"]
        for t in truth
        if t["event_type"] == "request"
        and t["propagation"] == "none"
        and t["file"] == "gateway/access.log"
        and "/api/stock/" not in t["url"]
    }
    assert bare, "some sessions send fetches without traceparent"
    clocks = [orjson.loads(line) for line in (sim / "truth" / "clock_offsets.ndjson").read_bytes().splitlines()]
    assert max(abs(c["offset_ms"]) for c in clocks) <= 300_000.0


def test_scored_links_are_precise_and_find_most_idless_requests(
    correlated: App, simulated_idless: tuple[Path, Any]
) -> None:
    """Against the truth: exact links all right, scored precision >= 0.98 and recall >= 0.9, per origin too."""
    sim, _ = simulated_idless
    report = evaluate_links(correlated.store, sim / "truth")
    assert report["exact"]["precision"] == 1.0
    scored = report["scored"]
    assert scored["idless_requests"] > 200
    assert scored["precision"] >= 0.98, scored
    assert scored["recall"] >= 0.9, scored
    assert {o["file"] for o in report["by_origin"]} == {"gateway/access.log", "legacy/access.log"}
    for origin in report["by_origin"]:
        assert origin["recall"] >= 0.85 and origin["precision"] >= 0.97, origin
    duplicated = correlated.store.scalar(
        "SELECT count(*) FROM (SELECT to_event_id FROM links WHERE method = 'scored' GROUP BY 1 HAVING count(*) > 1)"
    )
    assert duplicated == 0


def test_confidence_is_calibrated_with_time_alone(correlated: App, simulated_idless: tuple[Path, Any]) -> None:
    """Time alone, every best match linked: confident links are right, and confidence tracks precision."""
    sim, _ = simulated_idless
    window = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    con = correlated.store.cursor()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM links WHERE method = 'scored'")
        con.execute("DELETE FROM unlinked_requests")
        run_id = con.execute("SELECT correlation_run_id FROM correlation_runs").fetchone()[0]
        link_scored(con, window, run_id, 0.0, evidence=())
        report = evaluate_connection(con, sim / "truth")
    finally:
        con.execute("ROLLBACK")
        con.close()
    bins = report["reliability"]
    confident = [b for b in bins if b["mean_confidence"] >= 0.9]
    n = sum(b["links"] for b in confident)
    assert n > 100
    assert sum(b["precision"] * b["links"] for b in confident) / n >= 0.95
    total = sum(b["links"] for b in bins)
    mean_conf = sum(b["mean_confidence"] * b["links"] for b in bins) / total
    assert abs(mean_conf - report["scored"]["precision"]) <= 0.1
