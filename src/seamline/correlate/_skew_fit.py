"""Clock offset per session from linked request pairs: NTP's four timestamps, fitted robustly.

A pair is one client request (device clock) and the server record that handled it (server
clock). With t1/t4 the client's send/receive and t2/t3 the server's receive/send:

    offset = ((t1 - t2) + (t4 - t3)) / 2        delay = (t4 - t1) - (t3 - t2)

and the true offset lies in [t1 - t2, t4 - t3] = offset ± delay/2 (causality: the server saw
the request after it left and answered before the answer arrived). The error inside that
bound comes from the asymmetry of the two legs, so it grows with the delay; NTP's clock
filter trusts the lowest-delay samples, and the fit here weights pairs the same way.

Per session, in SQL over all sessions at once (no Python per session):
- precise pairs (server side a span, µs): weighted least squares of offset against device
  time, twice, dropping gross outliers (median/MAD) and then residual outliers; the slope
  (drift) is shrunk towards zero by its standard error, since most clocks do not drift and a
  short session cannot tell a small drift from noise;
- access-log pairs only (the server stamped whole seconds): the intersection of the pairs'
  bounds, widened by the stamp's resolution (`bound_coarse`).
"""

from __future__ import annotations

import duckdb

# Pair noise model (ms): asymmetry is a fraction of the round trip, plus extra delay over the
# session's best pair (queueing, a slow transfer on one leg). Measured on simulated traffic:
# median |error| ≈ 2.3% of the delay, growing with the excess delay.
NOISE_FLOOR_MS = 1.0
NOISE_PER_DELAY = 0.03
NOISE_PER_EXCESS = 0.1
# Prior scale of drift (ms/min). Shrinking the fitted slope by tau² / (tau² + se²) keeps an
# unsure slope near zero and a well-measured one as it is.
DRIFT_PRIOR_MS_PER_MIN = 20.0
DRIFT_LIMIT_MS_PER_MIN = 1000.0
# Delays below this are rounding noise; below it a pair contradicts causality and is dropped.
MIN_DELAY_MS = -2.0

# Columns of the per-pair table every query below reads (one row per linked pair):
#   session_id, x (device minutes since the session's first client record), o (offset, ms),
#   delay (ms), res (server stamp resolution, ms: 0 for spans, 1000 for whole-second logs)
PAIR_COLUMNS = ("session_id", "x", "o", "delay", "res")


def ntp_terms(t1: str, t4: str, t2: str, d: str) -> str:
    """SQL select items `o` and `delay` of a pair: client send/receive t1/t4 (device ms),
    server start t2 (server ms) and duration d, so t3 = t2 + d."""
    return f"(({t1} - {t2}) + ({t4} - ({t2} + {d}))) / 2 AS o, ({t4} - {t1}) - {d} AS delay"


def _wls(source: str, shrink: bool) -> str:
    """Weighted least squares of y on x per session, from the moments of `source` (w, x, y)."""
    slope = "CASE WHEN n >= 2 AND sxx > 1e-9 THEN sxy / sxx ELSE 0.0 END"
    if shrink:
        # var(b) = chi² / sxx with chi² the reduced weighted residual sum (at least 1: the
        # noise model is a floor, not a promise); a single pair or one instant has no slope.
        var_b = "CASE WHEN sxx > 1e-9 THEN greatest(chi2, 1.0) / sxx ELSE NULL END"
        slope = (
            f"CASE WHEN n >= 2 AND sxx > 1e-9 THEN (sxy / sxx) * {DRIFT_PRIOR_MS_PER_MIN}^2 "
            f"/ ({DRIFT_PRIOR_MS_PER_MIN}^2 + {var_b}) ELSE 0.0 END"
        )
    limit = DRIFT_LIMIT_MS_PER_MIN
    return f"""
    SELECT session_id, n, xm, ym, sxx, greatest(least({slope}, {limit}), -{limit}) AS b
    FROM (
        SELECT session_id, count(*) AS n, sum(w) AS sw, sum(w * x) / sum(w) AS xm, sum(w * y) / sum(w) AS ym,
               sum(w * x * x) - sum(w * x) ^ 2 / sum(w) AS sxx,
               sum(w * x * y) - sum(w * x) * sum(w * y) / sum(w) AS sxy,
               CASE WHEN count(*) > 2 THEN
                   (sum(w * y * y) - sum(w * y) ^ 2 / sum(w)
                    - (sum(w * x * y) - sum(w * x) * sum(w * y) / sum(w)) ^ 2
                      / nullif(sum(w * x * x) - sum(w * x) ^ 2 / sum(w), 0)) / (count(*) - 2)
               ELSE 1.0 END AS chi2
        FROM {source} GROUP BY session_id
    )
    """


def fit_precise(con: duckdb.DuckDBPyConnection, pairs: str, out: str) -> None:
    """Create table `out` (session_id, a, b, pairs, spread): offset a + b·x from precise pairs."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _skew_p AS
        WITH p AS (
            SELECT session_id, x, o, delay,
                   delay - min(delay) OVER (PARTITION BY session_id) AS excess,
                   median(o) OVER (PARTITION BY session_id) AS c
            FROM {pairs} WHERE res <= 1 AND delay >= {MIN_DELAY_MS}
        )
        SELECT session_id, x, o - c AS y, c,
               1.0 / ({NOISE_FLOOR_MS} + {NOISE_PER_DELAY} * greatest(delay, 0) + {NOISE_PER_EXCESS} * excess) ^ 2 AS w
        FROM p
        """
    )
    # Gross outliers first: far from the session median by more than drift could explain.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _skew_p1 AS
        SELECT p.* FROM _skew_p p JOIN (
            SELECT session_id, greatest(4 * 1.4826 * median(abs(y)), 50.0) AS lim FROM _skew_p GROUP BY session_id
        ) m USING (session_id)
        WHERE abs(p.y) <= m.lim
        """
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _skew_f1 AS {_wls('_skew_p1', shrink=False)}")
    # Then residual outliers around the first line, and the final (shrunk) fit.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _skew_p2 AS
        WITH r AS (
            SELECT p.*, p.y - (f.ym + f.b * (p.x - f.xm)) AS r FROM _skew_p1 p JOIN _skew_f1 f USING (session_id)
        )
        SELECT r.* FROM r JOIN (
            SELECT session_id, greatest(3 * 1.4826 * median(abs(r)), 5.0) AS lim FROM r GROUP BY session_id
        ) m USING (session_id)
        WHERE abs(r.r) <= m.lim
        """
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _skew_f2 AS {_wls('_skew_p2', shrink=True)}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT f.session_id, any_value(p.c) + f.ym - f.b * f.xm AS a, f.b, f.n::INTEGER AS pairs,
               median(abs(p.y - (f.ym + f.b * (p.x - f.xm)))) AS spread
        FROM _skew_f2 f JOIN _skew_p2 p USING (session_id)
        GROUP BY f.session_id, f.ym, f.b, f.xm, f.n
        """
    )
    for temp in ("_skew_p", "_skew_p1", "_skew_f1", "_skew_p2", "_skew_f2"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")


def bound_coarse(con: duckdb.DuckDBPyConnection, pairs: str, exclude: str, out: str) -> None:
    """Create table `out` (session_id, lo, hi, pairs): offset bounds of sessions with only coarse pairs.

    Each pair bounds the offset to [o - delay/2 - res, o + delay/2]; all of them hold at once,
    so the offset is in their intersection, still up to a second wide for a few pairs (the
    caller picks the point nearest the ingest-time estimate). When the bounds do not meet (a
    drifting clock, a wrong link) the medians of the bounds stand in for the intersection.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH q AS (
            SELECT session_id, o - delay / 2 - res AS lo, o + delay / 2 AS hi
            FROM {pairs}
            WHERE delay >= {MIN_DELAY_MS} AND session_id NOT IN (SELECT session_id FROM {exclude})
        )
        SELECT session_id, count(*)::INTEGER AS pairs,
               CASE WHEN max(lo) <= min(hi) THEN max(lo) ELSE least(median(lo), median(hi)) END AS lo,
               CASE WHEN max(lo) <= min(hi) THEN min(hi) ELSE greatest(median(lo), median(hi)) END AS hi
        FROM q GROUP BY session_id
        """
    )
