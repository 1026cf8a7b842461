"""The match model behind scored links: each server origin's time semantics and what a true pair looks like.

Time. A client request occupies [c0, c0 + dc] on the (corrected) client clock; the server
handled it somewhere inside. What a log line says about that moment depends on its writer:
an access-log line is written at the END of the request (nginx) or stamped with its START
(Apache), truncated to `resolution` (1 s for $time_local). The sources turn the logged time
into ts = logged - duration, so the logged instant is `lg = ts + duration`, and the anchor
(the request's end or start) lies in [lg, lg + R). For a true pair the anchor is modelled
uniform over where it can be given both durations; the client clock's residual error after
skew correction is a mixture of two Laplace laws with one shift: a narrow one (scale) for
most requests and a wide one (wide, weight `tail`) for clocks corrected badly (slow uplinks,
drifting devices). For an origin with exact pairs in the run, the anchor, shift, scales and
tail weight are fitted to those pairs by maximum likelihood; an origin without any (an
uninstrumented box) borrows the pooled residual, widened, and the anchor its log format
implies.

Identity and payload. A true pair's user agents are equal, its server IP is one of the
session's (known from the session's exact links), its body byte counts agree and the server
took no longer than the browser waited. How often that holds for true pairs is counted on
the exact pairs; how often it holds by chance is counted on the candidate server rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb

# What the logged time of an access-log line is, by source: nginx writes $time_local when the
# request ends; Apache's %t is when the request was received.
SOURCE_ANCHOR: dict[str, str] = {"nginx": "end", "apache": "start"}
ACCESS_SOURCES = "('nginx', 'apache')"

DURATION_TOLERANCE_MS = 5.0  # rounding of both durations
MISSING_CLIENT_DURATION_MS = 10_000.0
MAX_CLIENT_DURATION_MS = 120_000.0
TRAIN_PAIRS_PER_ORIGIN = 2_000
MIN_FIT_PAIRS = 50  # fewer exact pairs than this: the origin borrows the pooled or default model
# Residual of an origin that has no exact pairs: the pooled one, this much wider.
FALLBACK_WIDEN = 1.5
# With nothing to learn from at all (no exact pairs in the run).
DEFAULT_TIME = {"shift_ms": 0.0, "scale_ms": 300.0, "wide_ms": 3000.0, "tail": 0.05}
# Rates a true pair shows (learned values are capped at LEARNED_CAP; an origin without exact
# pairs takes the pooled rate capped here, so one unobserved habit cannot veto its matches).
DEFAULT_RATES = {"q_ua": 0.95, "q_ip": 0.8, "q_bytes": 0.5, "q_dur": 0.98}
FALLBACK_CAP = {"q_ua": 0.98, "q_ip": 0.9, "q_bytes": 0.9, "q_dur": 0.99}
LEARNED_CAP = 0.999

# Coordinate-wise maximum likelihood: a coarse grid over where and how wide, then refinements.
_COARSE_SHIFTS = [float(x) for x in range(-2000, 2001, 200)]
_COARSE_SCALES = [3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0]
_REFINE = ([float(x) for x in range(-150, 151, 25)], [0.5, 0.7, 0.85, 1.0, 1.2, 1.4, 2.0])
_TAILS = ([0.001, 0.003, 0.01, 0.03, 0.1], [100.0, 300.0, 1000.0, 3000.0, 10000.0])
_POLISH = ([float(x) for x in range(-20, 21, 5)], [0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5])
_STAGES: tuple[tuple[str, tuple[list[float], list[float]]], ...] = (
    (
        "SELECT f.okey, f.r, a.x AS anchor_end, d.x AS shift, k.x AS b, 10 * k.x AS wide, 0.01 AS tail "
        "FROM _sc_fit f, (SELECT unnest([true, false]) AS x) a, {d}, {k}",
        (_COARSE_SHIFTS, _COARSE_SCALES),
    ),
    (
        "SELECT f.okey, f.r, f.anchor_end, f.shift + d.x, f.b * k.x, f.wide, f.tail FROM _sc_fit f, {d}, {k} "
        "WHERE f.wide > 2 * f.b * k.x",
        _REFINE,
    ),
    (
        "SELECT f.okey, f.r, f.anchor_end, f.shift, f.b, k.x AS wide, d.x AS tail FROM _sc_fit f, {d}, {k} "
        "WHERE k.x > 2 * f.b",
        _TAILS,
    ),
    (
        "SELECT f.okey, f.r, f.anchor_end, f.shift + d.x, f.b * k.x, f.wide, f.tail FROM _sc_fit f, {d}, {k} "
        "WHERE f.wide > 2 * f.b * k.x",
        _POLISH,
    ),
)
_FIT_STEP = """
CREATE OR REPLACE TEMP TABLE _sc_fit AS
SELECT okey, r, anchor_end, shift, b, wide, tail FROM (
    SELECT g.okey, g.r, g.anchor_end, g.shift, g.b, g.wide, g.tail,
           sum(ln(greatest(_sc_ptime(t.c0, t.dc, t.ds, t.lg, g.anchor_end, g.r, g.shift, g.b, g.wide, g.tail),
                           1e-300))) AS ll
    FROM _sc_train_sample t
    JOIN (SELECT * FROM ({grid}) AS g(okey, r, anchor_end, shift, b, wide, tail)) g ON g.okey = t.okey
    GROUP BY g.okey, g.r, g.anchor_end, g.shift, g.b, g.wide, g.tail
)
QUALIFY row_number() OVER (PARTITION BY okey ORDER BY ll DESC, b DESC, shift) = 1
"""

# E[max(w + e, 0)] for e ~ Laplace(0, b): the building block of the uniform-convolved-Laplace
# probability that an anchor falls into a log line's time bin.
MACROS = (
    "CREATE OR REPLACE TEMP MACRO _sc_psi(w, b) AS "
    "CASE WHEN w >= 0 THEN w + b / 2 * exp(-w / b) ELSE b / 2 * exp(w / b) END",
    # Probability that U[0, g] + Laplace(0, b) lands in [x, x + r): a trapezoid smoothed by the residual.
    "CREATE OR REPLACE TEMP MACRO _sc_pbin(x, r, g, b) AS "
    "greatest((_sc_psi(x + r, b) - _sc_psi(x, b) - _sc_psi(x + r - g, b) + _sc_psi(x - g, b)) / g, 0)",
    # Where the anchor can be, relative to the client start, for each origin semantics.
    "CREATE OR REPLACE TEMP MACRO _sc_lo(c0, ds, anchor_end) AS "
    "c0 + CASE WHEN anchor_end AND ds IS NOT NULL THEN ds ELSE 0 END",
    "CREATE OR REPLACE TEMP MACRO _sc_hi(c0, dc, ds, anchor_end) AS "
    "c0 + dc - CASE WHEN NOT anchor_end AND ds IS NOT NULL THEN ds ELSE 0 END",
    # Density (per ms of logged time) of a true pair's log line under the two-scale residual.
    "CREATE OR REPLACE TEMP MACRO _sc_ptime2(x, r, g, b, wide, tail) AS "
    "((1 - tail) * _sc_pbin(x, r, g, b) + tail * _sc_pbin(x, r, g, wide)) / r",
    "CREATE OR REPLACE TEMP MACRO _sc_ptime(c0, dc, ds, lg, anchor_end, r, shift, b, wide, tail) AS "
    "_sc_ptime2(lg - _sc_lo(c0, ds, anchor_end) - shift, r, "
    "greatest(_sc_hi(c0, dc, ds, anchor_end) - _sc_lo(c0, ds, anchor_end), 1.0), b, wide, tail)",
)
DROP_MACROS = ("_sc_ptime", "_sc_ptime2", "_sc_hi", "_sc_lo", "_sc_pbin", "_sc_psi")


@dataclass(slots=True)
class OriginModel:
    """Everything scoring needs to know about one server origin (a service's access log)."""

    origin: str
    source: str
    rows: int  # candidate rows from it in the window
    anchor: str  # "end" or "start": which instant the logged time marks
    resolution_ms: float
    pairs: int = 0  # exact pairs it was fitted on (0: borrowed model)
    shift_ms: float = DEFAULT_TIME["shift_ms"]
    scale_ms: float = DEFAULT_TIME["scale_ms"]
    wide_ms: float = DEFAULT_TIME["wide_ms"]
    tail: float = DEFAULT_TIME["tail"]
    q_ua: float = DEFAULT_RATES["q_ua"]
    q_ip: float = DEFAULT_RATES["q_ip"]
    q_bytes: float = DEFAULT_RATES["q_bytes"]
    q_dur: float = DEFAULT_RATES["q_dur"]

    @property
    def window_ms(self) -> float:
        """How far outside a client request's span a candidate's logged time may fall."""
        reach = max(12.0 * self.scale_ms, 6.0 * self.wide_ms)
        return min(max(abs(self.shift_ms) + reach, 500.0), 60_000.0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (reported in ScoredStats)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def origin_semantics(con: duckdb.DuckDBPyConnection) -> dict[str, OriginModel]:
    """One model per origin of the candidate server rows (`_sc_server`), with its time resolution."""
    rows = con.execute(
        """
        SELECT okey, any_value(source), count(*),
               avg(CASE WHEN round(lg_us / 1000) % 1000 = 0 THEN 1 ELSE 0 END)
        FROM _sc_server GROUP BY okey ORDER BY okey
        """
    ).fetchall()
    out: dict[str, OriginModel] = {}
    for okey, source, n, whole_s in rows:
        # Truncated to the second ($time_local, %t) or finer; below a millisecond counts as 1 ms.
        resolution = 1000.0 if whole_s >= 0.99 else 1.0
        out[okey] = OriginModel(okey, source, int(n), SOURCE_ANCHOR.get(source, "end"), resolution)
    return out


def _fit_time(con: duckdb.DuckDBPyConnection, trained: list[OriginModel]) -> None:
    """Maximum-likelihood anchor, shift, scales and tail weight for origins with enough exact pairs."""
    if not trained:
        return
    models = {m.origin: m for m in trained}
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _sc_fit (okey VARCHAR, r DOUBLE, anchor_end BOOLEAN, shift DOUBLE, "
        "b DOUBLE, wide DOUBLE, tail DOUBLE)"
    )
    con.executemany(
        "INSERT INTO _sc_fit VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[m.origin, m.resolution_ms, m.anchor == "end", m.shift_ms, m.scale_ms, m.wide_ms, m.tail] for m in trained],
    )
    for grid, (deltas, factors) in _STAGES:
        sql = grid.format(d="(SELECT unnest($d::DOUBLE[]) AS x) d", k="(SELECT unnest($k::DOUBLE[]) AS x) k")
        con.execute(_FIT_STEP.format(grid=sql), {"d": deltas, "k": factors})
    for okey, _, anchor_end, shift, b, wide, tail in con.execute("SELECT * FROM _sc_fit").fetchall():
        m = models[okey]
        m.anchor = "end" if anchor_end else "start"
        m.shift_ms, m.scale_ms, m.wide_ms, m.tail = float(shift), float(b), float(wide), float(tail)
    con.execute("DROP TABLE _sc_fit")


def _rate(hits: int, n: int) -> float:
    return (hits + 1.0) / (n + 2.0)


def learn(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, OriginModel]:
    """Fit each candidate origin's model from this run's exact client-request pairs.

    Needs the temp tables `_score_features.READ` builds: `_sc_exact` (this run's exact
    pairs), `_sc_sip` (each session's IPs) and `_sc_server` (the candidate lines).
    """
    models = origin_semantics(con)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _sc_train_sample AS
        SELECT okey, c0, dc, ds, lg FROM _sc_exact WHERE kind = 'client_request' AND dc IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY okey ORDER BY h) <= {TRAIN_PAIRS_PER_ORIGIN}
        """
    )
    # Identity: is the pair's IP among those of the session's OTHER exact links?
    per_origin = con.execute(
        """
        WITH t AS (
            SELECT t.*, sip.n AS same_ip, tot.n AS session_links
            FROM _sc_exact t
            LEFT JOIN _sc_sip sip ON sip.session_id = t.session_id AND sip.ip = t.ip
            LEFT JOIN (SELECT session_id, sum(n) AS n FROM _sc_sip GROUP BY ALL) tot ON tot.session_id = t.session_id
        )
        SELECT okey, count(*),
               count(ua_eq), count(*) FILTER (ua_eq),
               count(*) FILTER (session_links > 1), count(*) FILTER (session_links > 1 AND same_ip > 1),
               count(bytes_eq), count(*) FILTER (bytes_eq),
               count(dur_ok), count(*) FILTER (dur_ok)
        FROM t WHERE kind = 'client_request' GROUP BY okey
        """
    ).fetchall()
    pooled = [0] * 8
    for okey, n, *counts in per_origin:
        pooled = [a + b for a, b in zip(pooled, counts, strict=True)]
        m = models.get(okey)
        if m is None:
            continue
        m.pairs = int(n)
        if m.pairs >= MIN_FIT_PAIRS:
            ua_n, ua_k, ip_n, ip_k, by_n, by_k, du_n, du_k = counts
            m.q_ua = min(_rate(ua_k, ua_n), LEARNED_CAP)
            m.q_ip = min(_rate(ip_k, ip_n), LEARNED_CAP)
            m.q_bytes = min(_rate(by_k, by_n), LEARNED_CAP)
            m.q_dur = min(_rate(du_k, du_n), LEARNED_CAP)
    trained = [m for m in models.values() if m.pairs >= MIN_FIT_PAIRS]
    _fit_time(con, trained)
    ua_n, ua_k, ip_n, ip_k, by_n, by_k, du_n, du_k = pooled
    rates = {"q_ua": (ua_k, ua_n), "q_ip": (ip_k, ip_n), "q_bytes": (by_k, by_n), "q_dur": (du_k, du_n)}
    for m in models.values():
        if m.pairs >= MIN_FIT_PAIRS:
            continue
        for k, (hits, n) in rates.items():
            if n >= MIN_FIT_PAIRS:
                setattr(m, k, min(_rate(hits, n), FALLBACK_CAP[k]))
        if trained:
            weight = sum(t.pairs for t in trained)
            m.shift_ms = sum(t.shift_ms * t.pairs for t in trained) / weight
            m.scale_ms = max(t.scale_ms for t in trained) * FALLBACK_WIDEN
            m.wide_ms = max(t.wide_ms for t in trained) * FALLBACK_WIDEN
            m.tail = max(t.tail for t in trained)
    con.execute("DROP TABLE _sc_train_sample")
    return models
