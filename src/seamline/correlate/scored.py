"""Scored links: client requests that share no id with the server, matched to access-log lines.

1. Candidates (SQL blocking): an unlinked client request with a status, and the unlinked
   access-log lines (nginx, Apache) with the same method, route and status whose logged time
   is near the request's span on the corrected client clock.
2. A likelihood ratio per pair, true pair against a random line of the same block: the time
   model of the line's origin (`_score_model`), user agent and session IP (weighted by how
   common they are among the candidate lines), body bytes, and whether the server took no
   longer than the browser waited. True-pair rates are learned from this run's exact pairs.
3. A posterior per client request over its candidates and "none of them" (the prior that a
   match is present is fitted by EM unless given): that is the confidence.
4. One-to-one assignment, greedy by descending confidence; pairs at or above the threshold
   become links of method `scored`. Then the posteriors of the requests left are computed
   again without the lines just taken (a line another request surely made is no longer a
   rival), and so on while that links more. (Full belief propagation over the matching was
   tried: a little more recall without ids, at ten times the cost.) Every client request
   and page view in the window still unlinked gets an `unlinked_requests` row saying why.

All of it is SQL over temp tables inside the caller's transaction; only the prior's EM and
an assignment below a 0.5 threshold (where a request can have several eligible pairs) loop
in Python, over per-request numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from seamline.correlate._score_features import CANDIDATES, CONTEXT, PAIRS, READ
from seamline.correlate._score_model import DROP_MACROS, MACROS, OriginModel, learn
from seamline.correlate._window import Window

EVIDENCE = ("ua", "ip", "bytes", "duration")  # besides time, which is always used
BUCKET_MS = 10_000.0  # time buckets of the candidate join; a request spans one to a few
AMBIGUITY_MARGIN = 0.2  # top two this close (and together past the threshold): ambiguous
MAX_ROUNDS = 6
PRIOR_BOUNDS = (0.05, 0.995)
_EM_ROUNDS = 50
C = TypeVar("C")
S = TypeVar("S")

_TEMP_TABLES = (
    "_sc_c_all",
    "_sc_s_all",
    "_sc_exact",
    "_sc_s_open",
    "_sc_rk",
    "_sc_blk",
    "_sc_client",
    "_sc_server",
    "_sc_sip",
    "_sc_model",
    "_sc_cand",
    "_sc_co",
    "_sc_rate",
    "_sc_ips",
    "_sc_g",
    "_sc_ctx",
    "_sc_pair",
    "_sc_live",
    "_sc_sum",
    "_sc_post",
    "_sc_first",
    "_sc_new",
    "_sc_picked",
    "_sc_summary",
)


@dataclass
class ScoredStats:
    """What one scored pass did."""

    clients: int = 0  # client requests considered (status > 0, no link yet)
    with_candidates: int = 0
    pairs: int = 0  # candidate pairs scored
    links: int = 0
    rounds: int = 0  # assignment rounds that linked something
    prior: float = 0.0  # P(the match is among the candidates), fitted or given
    threshold: float = 0.0
    unlinked: dict[str, int] = field(default_factory=dict)
    origins: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "clients": self.clients,
            "with_candidates": self.with_candidates,
            "pairs": self.pairs,
            "links": self.links,
            "rounds": self.rounds,
            "prior": round(self.prior, 4),
            "threshold": self.threshold,
            "unlinked": dict(self.unlinked),
            "origins": self.origins,
            "steps": {k: round(v, 3) for k, v in self.steps.items()},
            "seconds": round(self.seconds, 3),
        }


# --- 3. the posterior, and the assignment ------------------------------------------------------

# The pairs still open: neither side taken in an earlier round.
_LIVE = """
CREATE OR REPLACE TEMP TABLE _sc_live AS
SELECT p.ci, p.si, p.llr FROM _sc_pair p
ANTI JOIN _sc_picked a ON a.ci = p.ci ANTI JOIN _sc_picked b ON b.si = p.si
"""

# Per client: how many candidates, and the log of their summed likelihood ratios (log-sum-exp).
_SUM = """
CREATE OR REPLACE TEMP TABLE _sc_sum AS
SELECT ci, count(*) AS n, mx + ln(sum(exp(llr - mx))) AS log_sum
FROM (SELECT ci, llr, max(llr) OVER (PARTITION BY ci) AS mx FROM _sc_live)
GROUP BY ci, mx
"""

# E-step of the prior: the mean posterior that some candidate is the match.
_EM_STEP = "SELECT avg(1 / (1 + exp(least(-($lp + log_sum), 700)))) FROM _sc_sum"

# P(this line | the request's candidates, "none of them"): lp + llr against log(1 + sum).
_POSTERIOR = """
CREATE OR REPLACE TEMP TABLE _sc_post AS
SELECT p.ci, p.si, s.n,
       least(exp($lp + p.llr - (greatest($lp + s.log_sum, 0) + ln(1 + exp(-abs($lp + s.log_sum))))), 1.0) AS conf
FROM _sc_live p JOIN _sc_sum s ON s.ci = p.ci
"""

# Above 0.5 a request has at most one eligible pair, so greedy by confidence is: each line
# goes to the request that wants it most.
_PICK_SQL = """
CREATE OR REPLACE TEMP TABLE _sc_new AS
SELECT ci, si FROM _sc_post WHERE conf >= $threshold
QUALIFY row_number() OVER (PARTITION BY si ORDER BY conf DESC, ci) = 1
"""

_KEEP_PICKS = """
INSERT INTO _sc_picked SELECT p.ci, p.si, p.conf, p.n, $round FROM _sc_new k JOIN _sc_post p USING (ci, si)
"""

_INSERT_LINKS = """
INSERT INTO links (from_event_id, to_event_id, method, confidence, features, correlation_run_id)
SELECT c.cid, s.sid, 'scored', k.conf,
       json_object(
           'origin', f.okey, 'candidates', k.n, 'round', k.round, 'dt_ms', round(f.dt, 1),
           'ua', f.ua_eq, 'ip', f.ip_eq, 'bytes', f.bytes_eq, 'duration', f.dur_ok,
           'llr', json_object('prior', round($lp, 2), 'time', round(f.l_time, 2), 'ident', round(f.l_ident, 2),
                              'bytes', round(f.l_bytes, 2), 'duration', round(f.l_dur, 2))
       )::VARCHAR,
       $run_id
FROM _sc_picked k JOIN _sc_pair f ON f.ci = k.ci AND f.si = k.si
JOIN _sc_client c ON c.ci = k.ci JOIN _sc_server s ON s.si = k.si
"""

# --- 4. why the rest stayed unlinked -----------------------------------------------------------

# Reasons read the first round (candidates, the best line) and the last (what is left).
_FIRST = """
CREATE OR REPLACE TEMP TABLE _sc_first AS
SELECT ci, max(n) AS n, arg_max(si, conf) AS best_si FROM _sc_post GROUP BY ci
"""

_SUMMARY = """
CREATE OR REPLACE TEMP TABLE _sc_summary AS
SELECT c.cid, coalesce(f.n, 0) AS n, f.best_si IN (SELECT si FROM _sc_picked) AS best_taken,
       max(p.conf) AS best, coalesce(max(p.conf, 2)[2], 0) AS second
FROM _sc_client c LEFT JOIN _sc_first f ON f.ci = c.ci LEFT JOIN _sc_post p ON p.ci = c.ci
GROUP BY c.cid, f.n, f.best_si
"""

_UNLINKED = """
INSERT INTO unlinked_requests (event_id, reason, best_confidence, candidates, correlation_run_id)
SELECT e.cid,
       CASE WHEN e.kind = 'client_request' AND e.status = 0 THEN 'no_response'
            WHEN s.cid IS NOT NULL AND s.n = 0 THEN 'no_candidate'
            WHEN s.n > 0 AND (s.best_taken OR s.best IS NULL
                              OR (s.second >= s.best - $margin AND s.best + s.second >= $threshold)) THEN 'ambiguous'
            WHEN s.n > 0 THEN 'below_threshold'
            ELSE 'no_id' END,
       least(s.best, 1.0), s.n, $run_id
FROM _sc_c_all e
ANTI JOIN (SELECT from_event_id FROM links WHERE correlation_run_id = $run_id) l ON l.from_event_id = e.cid
LEFT JOIN _sc_summary s ON s.cid = e.cid
"""


def _model_table(con: duckdb.DuckDBPyConnection, models: dict[str, OriginModel]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _sc_model (okey VARCHAR, anchor_end BOOLEAN, r DOUBLE, shift DOUBLE, "
        "b DOUBLE, wide DOUBLE, tail DOUBLE, w DOUBLE, q_ua DOUBLE, q_ip DOUBLE, q_bytes DOUBLE, q_dur DOUBLE)"
    )
    rows = [
        [
            m.origin,
            m.anchor == "end",
            m.resolution_ms,
            m.shift_ms,
            m.scale_ms,
            m.wide_ms,
            m.tail,
            m.window_ms,
            m.q_ua,
            m.q_ip,
            m.q_bytes,
            m.q_dur,
        ]
        for m in models.values()
    ]
    if rows:
        con.executemany("INSERT INTO _sc_model VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _fit_prior(con: duckdb.DuckDBPyConnection, start: float = 0.9) -> float:
    """EM for P(the true line is among a request's candidates), over `_sc_sum`."""
    lo, hi = PRIOR_BOUNDS
    pi = start
    for _ in range(_EM_ROUNDS):
        mean = con.execute(_EM_STEP, {"lp": math.log(pi / (1.0 - pi))}).fetchone()[0]
        if mean is None:
            return pi
        new = min(max(float(mean), lo), hi)
        if abs(new - pi) < 1e-5:
            return new
        pi = new
    return pi


def assign(pairs: Sequence[tuple[C, S, float]]) -> list[tuple[C, S]]:
    """Greedy one-to-one: take pairs by descending confidence (ties by ids) while neither side is used."""
    used_c: set[C] = set()
    used_s: set[S] = set()
    out: list[tuple[C, S]] = []
    for cid, sid, _ in sorted(pairs, key=lambda p: (-p[2], p[0], p[1])):
        if cid in used_c or sid in used_s:
            continue
        used_c.add(cid)
        used_s.add(sid)
        out.append((cid, sid))
    return out


def _pick(con: duckdb.DuckDBPyConnection, threshold: float) -> None:
    """This round's one-to-one picks into `_sc_new`."""
    if threshold > 0.5:
        con.execute(_PICK_SQL, {"threshold": threshold})
        return
    eligible = con.execute("SELECT ci, si, conf FROM _sc_post WHERE conf >= ?", [threshold]).fetchall()
    picked = assign(eligible)
    table = pa.table(
        {"ci": [p[0] for p in picked], "si": [p[1] for p in picked]},
        schema=pa.schema([("ci", pa.int64()), ("si", pa.int64())]),
    )
    con.register("_sc_new_in", table)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _sc_new AS SELECT * FROM _sc_new_in")
    finally:
        con.unregister("_sc_new_in")


def link_scored(
    con: duckdb.DuckDBPyConnection,
    window: Window,
    run_id: str,
    threshold: float = 0.9,
    *,
    prior: float | None = None,
    evidence: Collection[str] = EVIDENCE,
) -> ScoredStats:
    """Insert scored links (and unlinked_requests rows) for the window.

    `prior` None fits P(match present) by EM; `evidence` chooses which features besides time
    are used (for diagnostics: what accuracy time alone gives).
    """
    started = time.perf_counter()
    stats = ScoredStats(threshold=threshold)
    clock = [started]

    def step(name: str) -> None:
        now = time.perf_counter()
        stats.steps[name] = now - clock[0]
        clock[0] = now

    params: dict[str, Any] = {
        "start": window.start,
        "end": window.end,
        "outer_start": window.outer_start,
        "outer_end": window.outer_end,
        "run_id": run_id,
    }
    for macro in MACROS:
        con.execute(macro)
    for statement in READ:
        con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
    step("read")
    models = learn(con, run_id)
    _model_table(con, models)
    stats.origins = {k: m.as_dict() for k, m in models.items()}
    step("learn")
    pre = max((m.resolution_ms + m.window_ms for m in models.values()), default=0.0)
    post = max((m.window_ms for m in models.values()), default=0.0)
    con.execute(CANDIDATES, {"pre": pre, "post": post, "bucket": BUCKET_MS})
    step("candidates")
    for statement in CONTEXT:
        con.execute(statement)
    step("background")
    con.execute(PAIRS, {name: name in evidence for name in EVIDENCE})
    con.execute("CREATE OR REPLACE TEMP TABLE _sc_picked (ci BIGINT, si BIGINT, conf DOUBLE, n BIGINT, round INTEGER)")
    step("features")
    lp = 0.0
    for rnd in range(1, MAX_ROUNDS + 1):
        con.execute(_LIVE)
        con.execute(_SUM)
        if rnd == 1:
            pi = _fit_prior(con) if prior is None else min(max(prior, 1e-6), 1 - 1e-6)
            stats.prior = pi
            lp = math.log(pi / (1.0 - pi))
        con.execute(_POSTERIOR, {"lp": lp})
        if rnd == 1:
            con.execute(_FIRST)
        _pick(con, threshold)
        if not con.execute("SELECT count(*) FROM _sc_new").fetchone()[0]:
            break
        con.execute(_KEEP_PICKS, {"round": rnd})
        stats.rounds = rnd
    else:  # out of rounds with picks still coming: the reasons need what is left after them
        for statement in (_LIVE, _SUM):
            con.execute(statement)
        con.execute(_POSTERIOR, {"lp": lp})
    step("assign")
    con.execute(_INSERT_LINKS, {"lp": lp, "run_id": run_id})
    con.execute(_SUMMARY)
    con.execute(_UNLINKED, {"run_id": run_id, "margin": AMBIGUITY_MARGIN, "threshold": threshold})
    step("unlinked")
    counts = con.execute(
        "SELECT (SELECT count(*) FROM _sc_client), (SELECT count(*) FROM _sc_first), (SELECT count(*) FROM _sc_pair), "
        "(SELECT count(*) FROM _sc_picked)"
    ).fetchone()
    stats.clients, stats.with_candidates, stats.pairs, stats.links = (int(x) for x in counts)
    stats.unlinked = dict(
        con.execute(
            "SELECT reason, count(*) FROM unlinked_requests WHERE correlation_run_id = ? "
            "GROUP BY reason ORDER BY reason",
            [run_id],
        ).fetchall()
    )
    for table in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for macro in DROP_MACROS:
        con.execute(f"DROP MACRO IF EXISTS {macro}")
    stats.seconds = time.perf_counter() - started
    return stats
