"""Client clock skew: one offset (and drift) per browser session, applied to its client records.

Ingest placed client records with the batch's sentAt - receivedAt, which is low by the
upload's latency (tens to hundreds of ms). Here each session with client records in the
window gets a better estimate, by the first method that applies:

1. `ntp`: its exactly linked requests (client start/end vs the server's, NTP's four
   timestamps); spans (µs) preferred over access-log lines (whole seconds); a robust line
   through time, its drift shrunk by how well the pairs support it (see `_skew_fit`). With
   only whole-second lines, their bounds' intersection, at the point nearest the prior.
2. `device`: the same device's nearest estimate from another session (this run or stored),
   when it agrees with this session's ingest-time bound. A device keeps its clock setting
   across sessions; the drift, which comes from the page's monotonic timer running off the
   wall clock, starts over with each session, so the carried value is the other session's
   offset at its start.
3. `alignment`: its requests lined up with access-log lines that no id linked (`_skew_align`).
4. `sent_received`: the prior alone.

The prior is the ingest-time bound o0 (see _SESSIONS_SQL) plus the upload latency it misses,
about half a round trip: the session's fastest linked request, or the browser's NetInfo rtt,
or the median latency of this run's precise sessions. It is built from columns no run
changes, so repeating a run gives the same answer.

Every session gets one `clock_offsets` row, and its client records get clock_offset_ms =
the offset at their own device time and ts = client_ts - clock_offset_ms, in one set-based
UPDATE. client_ts is never touched.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from seamline.correlate._skew_align import align_sessions
from seamline.correlate._skew_fit import MIN_DELAY_MS, bound_coarse, fit_precise, ntp_terms
from seamline.correlate._window import Window
from seamline.correlate.exact import EXACT_PAIRS_SQL
from seamline.correlate.transactions import CLIENT_KINDS

if TYPE_CHECKING:
    from seamline.store.duckdb_store import DuckDBStore

METHODS = ("ntp", "device", "alignment", "sent_received")
# Without a round trip measured for a session, the latency of this run's precise sessions (or,
# with too few of them, an assumed one) stands in.
LATENCY_MIN_SESSIONS = 20
LATENCY_DEFAULT_MS = 50.0
# A carried device estimate must agree with the session's own ingest-time one: the true
# offset is at or above the largest batch offset (uploads take time) and not seconds above.
DEVICE_BELOW_MS = 500.0
DEVICE_ABOVE_MS = 5_000.0
DRIFTING_MS_PER_MIN = 10.0  # the report counts a session as drifting from here
_TEMPS = (
    "_skew_sessions",
    "_skew_pairs",
    "_skew_ntp",
    "_skew_priors",
    "_skew_coarse",
    "_skew_params",
    "_skew_align_todo",
)

# Per session: device, first device time c0 and the ingest-time bound o0. A batch is sent after
# its events happened and received after it was sent, so for each batch
#     offset >= max(client_ts in the batch) - received_at
# and the largest of these bounds is as tight as sentAt - receivedAt of the best batch (the SDK
# sends when the page hides, right after its last event). Unlike clock_offset_ms it is built
# from columns no run changes, so repeating a run starts from the same place.
_SESSIONS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _skew_sessions AS
WITH b AS (
    SELECT session_id, received_at, any_value(device_id) AS device_id, min(client_ts) AS c_min,
           max(client_ts) AS c_max, min(ts) AS ts_min, max(ts) AS ts_max, max(clock_offset_ms) AS offset_max,
           max(network_rtt_ms) AS batch_rtt
    FROM events
    WHERE client_ts IS NOT NULL AND session_id IN (
        SELECT DISTINCT session_id FROM events
        WHERE kind IN {CLIENT_KINDS} AND ts BETWEEN $start AND $end AND session_id IS NOT NULL
    )
    GROUP BY session_id, received_at
)
SELECT session_id, arg_min(device_id, c_min) AS device_id, epoch_us(min(c_min)) AS c0_us,
       coalesce(max(epoch_us(c_max) - epoch_us(received_at)) / 1000.0, max(offset_max), 0.0) AS o0,
       min(ts_min) AS first_ts, max(ts_max) AS last_ts, median(batch_rtt) AS rtt
FROM b GROUP BY session_id
"""

# One pair per exact link, in the terms of _skew_fit (a client record linked to a span and to
# an access-log line gives two; the fit uses the precise kind when a session has any):
# t1/t4 are the client's send and first-byte (device ms), t2 the server start, d its duration.
# A page view's document request leaves at connectEnd and its answer starts at responseStart;
# navigation start and the load event would add DNS/TCP/TLS and rendering to one leg only.
_PAIRS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _skew_pairs AS
WITH p AS ({EXACT_PAIRS_SQL}), t AS (
    SELECT p.session_id, p.client_event_id,
           p.client_start_us / 1000.0 + CASE WHEN p.client_kind = 'page_view'
               THEN coalesce(TRY_CAST(c.nav_connect AS DOUBLE), 0) ELSE 0 END AS t1,
           p.client_start_us / 1000.0 + CASE WHEN p.client_kind = 'page_view'
               THEN TRY_CAST(c.nav_ttfb AS DOUBLE) ELSE p.client_duration_ms END AS t4,
           p.server_start_us / 1000.0 AS t2, p.server_duration_ms AS d,
           CASE WHEN p.server_kind = 'span' THEN 0.0
                WHEN (CASE WHEN p.server_source = 'nginx'
                           THEN p.server_start_us + CAST(round(p.server_duration_ms * 1000) AS BIGINT)
                           ELSE p.server_start_us END) % 1000000 = 0 THEN 1000.0
                ELSE 1.0 END AS res
    FROM p LEFT JOIN (
        SELECT event_id, attributes['nav.connect'] AS nav_connect, attributes['nav.ttfb'] AS nav_ttfb
        FROM events WHERE kind = 'page_view'
    ) c ON c.event_id = p.client_event_id
)
SELECT t.session_id, ((t.t1 + t.t4) / 2 - s.c0_us / 1000.0) / 60000.0 AS x,
       {ntp_terms("t.t1", "t.t4", "t.t2", "t.d")}, t.res
FROM t JOIN _skew_sessions s USING (session_id)
WHERE t.t4 IS NOT NULL AND t.d IS NOT NULL
"""

# The device's nearest estimate in time, from this run's sessions or stored rows of others.
_DEVICE_SQL = f"""
INSERT INTO _skew_params
SELECT t.session_id, t.device_id, 'device', k.a, k.b, t.c0_us, k.pairs, k.spread
FROM _skew_sessions t
JOIN (
    SELECT s.device_id, p.a, p.b, p.pairs, p.spread, s.first_ts AS at
    FROM _skew_params p JOIN _skew_sessions s USING (session_id) WHERE p.method IN ('ntp', 'alignment')
    UNION ALL
    SELECT device_id, offset_ms, coalesce(drift_ms_per_min, 0), pairs, spread_ms, reference_ts
    FROM clock_offsets
    WHERE method IN ('ntp', 'alignment') AND device_id IS NOT NULL
      AND session_id NOT IN (SELECT session_id FROM _skew_sessions)
) k ON k.device_id = t.device_id
WHERE t.session_id NOT IN (SELECT session_id FROM _skew_params)
  AND k.a BETWEEN t.o0 - {DEVICE_BELOW_MS} AND t.o0 + {DEVICE_ABOVE_MS}
QUALIFY row_number() OVER (
    PARTITION BY t.session_id ORDER BY abs(epoch(k.at) - epoch(t.first_ts)), k.pairs DESC) = 1
"""

_WRITE_SQL = """
INSERT INTO clock_offsets (session_id, device_id, method, offset_ms, drift_ms_per_min, reference_ts, pairs,
                           spread_ms, correlation_run_id)
SELECT session_id, device_id, method, a, b,
       'epoch'::TIMESTAMPTZ + to_microseconds(c0_us - CAST(round(a * 1000) AS BIGINT)), pairs, spread, $run_id
FROM _skew_params
"""

# offset(c) = a + b·(c - c0) in device time; rounded to the µs so ts + offset == client_ts exactly
_UPDATE_SQL = """
UPDATE events
SET clock_offset_ms = round(p.a + p.b * (epoch_us(events.client_ts) - p.c0_us) / 60000000.0, 3),
    ts = events.client_ts - to_microseconds(CAST(round(
        (p.a + p.b * (epoch_us(events.client_ts) - p.c0_us) / 60000000.0) * 1000) AS BIGINT))
FROM _skew_params p
WHERE events.session_id = p.session_id AND events.client_ts IS NOT NULL
"""


@dataclass
class SkewStats:
    """What one estimation did."""

    sessions: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    pairs: int = 0
    records_updated: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return asdict(self)


def estimate_skew(con: duckdb.DuckDBPyConnection, window: Window, run_id: str) -> SkewStats:
    """Estimate and apply one clock offset per session with client records in the window."""
    started = time.perf_counter()
    con.execute(_SESSIONS_SQL, {"start": window.start, "end": window.end})
    con.execute(_PAIRS_SQL, {"run_id": run_id})
    fit_precise(con, "_skew_pairs", "_skew_ntp")
    bound_coarse(con, "_skew_pairs", "_skew_ntp", "_skew_coarse")
    # The upload latency o0 misses is about half a round trip: the session's fastest linked
    # request, else the browser's NetInfo rtt, else what precise sessions of this run show.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _skew_priors AS
        WITH lat AS (
            SELECT CASE WHEN count(*) >= {LATENCY_MIN_SESSIONS} THEN median(f.a - s.o0) END AS l
            FROM _skew_ntp f JOIN _skew_sessions s USING (session_id)
        ), d AS (
            SELECT session_id, greatest(min(delay), 0) AS delay FROM _skew_pairs
            WHERE delay >= {MIN_DELAY_MS} GROUP BY session_id
        )
        SELECT s.session_id, s.o0 + coalesce(0.5 * coalesce(d.delay, s.rtt), lat.l, {LATENCY_DEFAULT_MS}) AS prior
        FROM _skew_sessions s LEFT JOIN d USING (session_id), lat
        WHERE s.session_id NOT IN (SELECT session_id FROM _skew_ntp)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _skew_params AS
        SELECT s.session_id, s.device_id, 'ntp' AS method, f.a, f.b, s.c0_us, f.pairs, f.spread
        FROM _skew_ntp f JOIN _skew_sessions s USING (session_id)
        UNION ALL
        SELECT s.session_id, s.device_id, 'ntp', greatest(c.lo, least(c.hi, r.prior)), 0.0, s.c0_us, c.pairs,
               (c.hi - c.lo) / 2
        FROM _skew_coarse c JOIN _skew_sessions s USING (session_id) JOIN _skew_priors r USING (session_id)
        """
    )
    con.execute(_DEVICE_SQL)
    _align(con)
    con.execute(_DEVICE_SQL)  # devices whose other session was just aligned
    con.execute(
        """
        INSERT INTO _skew_params
        SELECT s.session_id, s.device_id, 'sent_received', r.prior, 0.0, s.c0_us, 0, NULL
        FROM _skew_sessions s JOIN _skew_priors r USING (session_id)
        WHERE s.session_id NOT IN (SELECT session_id FROM _skew_params)
        """
    )
    con.execute(_WRITE_SQL, {"run_id": run_id})
    updated = con.execute(_UPDATE_SQL).fetchall()
    stats = SkewStats(records_updated=int(updated[0][0]) if updated else 0)
    counts = con.execute("SELECT method, count(*), sum(pairs) FROM _skew_params GROUP BY method").fetchall()
    for method, n, pairs in counts:
        stats.by_method[method] = int(n)
        stats.sessions += int(n)
        if method == "ntp":
            stats.pairs = int(pairs or 0)
    for temp in _TEMPS:
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    stats.seconds = time.perf_counter() - started
    return stats


def _align(con: duckdb.DuckDBPyConnection) -> None:
    """Alignment for the sessions nothing else placed; accepted results go to _skew_params."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _skew_align_todo AS
        SELECT s.session_id, s.o0, r.prior, s.first_ts, s.last_ts
        FROM _skew_sessions s JOIN _skew_priors r USING (session_id)
        WHERE s.session_id NOT IN (SELECT session_id FROM _skew_params)
        """
    )
    lo, hi = con.execute(
        "SELECT min(first_ts) - INTERVAL 10 MINUTE, max(last_ts) + INTERVAL 10 MINUTE FROM _skew_align_todo"
    ).fetchall()[0]
    if lo is None:
        return
    found = align_sessions(con, lo, hi)
    if not found:
        return
    aligned = pa.table(
        {
            "session_id": list(found),
            "a": [a.offset for a in found.values()],
            "pairs": [a.requests for a in found.values()],
            "spread": [a.spread for a in found.values()],
        }
    )
    con.register("_skew_aligned", aligned)
    try:
        con.execute(
            """
            INSERT INTO _skew_params
            SELECT s.session_id, s.device_id, 'alignment', f.a, 0.0, s.c0_us, f.pairs, f.spread
            FROM _skew_aligned f JOIN _skew_sessions s USING (session_id)
            """
        )
    finally:
        con.unregister("_skew_aligned")


def skew_report(store: DuckDBStore) -> dict[str, Any]:
    """How wrong client clocks are: sessions per method, |offset| percentiles, drift, the worst sessions."""
    methods = store.query(
        """
        SELECT method, count(*) AS sessions, sum(pairs)::BIGINT AS pairs,
               round(median(abs(offset_ms)), 1) AS median_abs_offset_ms, round(median(spread_ms), 1) AS median_spread_ms
        FROM clock_offsets GROUP BY method ORDER BY sessions DESC
        """
    ).to_pylist()
    overall = store.query(
        """
        SELECT count(*) AS sessions, count(DISTINCT device_id) AS devices,
               round(quantile_cont(abs(offset_ms), 0.5), 1) AS p50_ms,
               round(quantile_cont(abs(offset_ms), 0.9), 1) AS p90_ms,
               round(quantile_cont(abs(offset_ms), 0.99), 1) AS p99_ms, round(max(abs(offset_ms)), 1) AS max_ms,
               count(*) FILTER (WHERE abs(offset_ms) > 1000) AS over_1s,
               count(*) FILTER (WHERE abs(offset_ms) > 60000) AS over_1min,
               count(*) FILTER (WHERE abs(offset_ms) > 3600000 - 120000) AS about_hours
        FROM clock_offsets
        """
    ).to_pylist()[0]
    drifting = f"abs(drift_ms_per_min) >= {DRIFTING_MS_PER_MIN}"
    drift = store.query(
        f"""
        SELECT count(*) FILTER (WHERE {drifting}) AS drifting_sessions,
               round(quantile_cont(abs(drift_ms_per_min), 0.5) FILTER (WHERE {drifting}), 1) AS p50_ms_per_min,
               round(quantile_cont(abs(drift_ms_per_min), 0.9) FILTER (WHERE {drifting}), 1) AS p90_ms_per_min,
               round(max(abs(drift_ms_per_min)), 1) AS max_ms_per_min
        FROM clock_offsets WHERE method = 'ntp'
        """
    ).to_pylist()[0]
    top = store.query(
        """
        SELECT session_id, device_id, method, round(offset_ms, 1) AS offset_ms,
               round(drift_ms_per_min, 1) AS drift_ms_per_min, reference_ts, pairs, round(spread_ms, 1) AS spread_ms
        FROM clock_offsets ORDER BY abs(offset_ms) DESC LIMIT 10
        """
    ).to_pylist()
    for row in top:
        row["reference_ts"] = row["reference_ts"].isoformat() if row["reference_ts"] else None
    return {"overall": overall, "methods": methods, "drift": drift, "top_sessions": top}
