"""The SQL that builds scored-link candidates and their features, as temp tables.

`_sc_c_all` / `_sc_s_all`: the client records and access-log lines around the window, read
from events once. `_sc_exact`: this run's exact links between them (the training pairs and
each session's IPs, `_sc_sip`). `_sc_client` / `_sc_server`: the unlinked ones, numbered
(`ci`, `si`, in event-id order), with integer block ids (`rk` for method, route and status;
`bi` for that within one origin, `_sc_blk`) so the joins after this run on integers.
`_sc_cand`: pairs that pass the blocking (block and time) with what the two sides share.
`_sc_ctx`: per request and block, how often each kind of agreement happens by chance among
the candidate lines. `_sc_pair`: per pair, each feature's log likelihood ratio and their sum.
"""

from __future__ import annotations

from seamline.correlate._score_model import (
    ACCESS_SOURCES,
    DURATION_TOLERANCE_MS,
    MAX_CLIENT_DURATION_MS,
    MISSING_CLIENT_DURATION_MS,
)

RATE_MINUTES = 5  # background rate of a block: lines within this many minutes either side
MAX_LOG_LR = 300.0

# --- 1. the rows involved, read from events once ----------------------------------------------

READ: tuple[str, ...] = (
    """
    CREATE OR REPLACE TEMP TABLE _sc_c_all AS
    SELECT event_id AS cid, kind, session_id, http_method AS method, route, http_status AS status,
           epoch_us(ts) / 1000.0 AS c0, duration_ms AS dur, user_agent AS ua, nullif(response_bytes, 0) AS bytes
    FROM events WHERE kind IN ('client_request', 'page_view') AND ts BETWEEN $start AND $end
    """,
    f"""
    CREATE OR REPLACE TEMP TABLE _sc_s_all AS
    SELECT event_id AS sid, coalesce(service, origin) AS okey, source,
           http_method AS method, route, http_status AS status,
           epoch_us(ts) + coalesce(round(duration_ms * 1000), 0)::BIGINT AS lg_us,
           (epoch_us(ts) + coalesce(round(duration_ms * 1000), 0)::BIGINT) / 1000.0 AS lg,
           duration_ms AS ds, user_agent AS ua, client_ip AS ip, response_bytes AS bytes
    FROM events
    WHERE kind = 'server_request' AND source IN {ACCESS_SOURCES} AND ts BETWEEN $outer_start AND $outer_end
    """,
    f"""
    CREATE OR REPLACE TEMP TABLE _sc_exact AS
    SELECT c.cid, c.kind, c.session_id, s.okey, s.ip, c.c0, least(c.dur, {MAX_CLIENT_DURATION_MS}) AS dc, s.ds, s.lg,
           c.ua = s.ua AS ua_eq,
           CASE WHEN c.bytes IS NOT NULL AND s.bytes IS NOT NULL THEN c.bytes = s.bytes END AS bytes_eq,
           CASE WHEN c.dur IS NOT NULL AND s.ds IS NOT NULL THEN s.ds <= c.dur + {DURATION_TOLERANCE_MS} END AS dur_ok,
           hash(c.cid) AS h
    FROM links l JOIN _sc_c_all c ON c.cid = l.from_event_id JOIN _sc_s_all s ON s.sid = l.to_event_id
    WHERE l.correlation_run_id = $run_id AND l.method <> 'scored'
    """,
    # The IPs each session is known to use: those of the access-log lines its exact links reach.
    """
    CREATE OR REPLACE TEMP TABLE _sc_sip AS
    SELECT session_id, ip, count(*) AS n FROM _sc_exact
    WHERE ip IS NOT NULL AND session_id IS NOT NULL GROUP BY ALL
    """,
    """
    CREATE OR REPLACE TEMP TABLE _sc_s_open AS
    SELECT s.* FROM _sc_s_all s ANTI JOIN links l ON l.to_event_id = s.sid
    WHERE s.method IS NOT NULL AND s.route IS NOT NULL AND s.status IS NOT NULL
    """,
    # Blocks get integer ids: rk for (method, route, status), bi for that within one origin.
    """
    CREATE OR REPLACE TEMP TABLE _sc_rk AS
    SELECT row_number() OVER (ORDER BY method, route, status) AS rk, method, route, status
    FROM (SELECT DISTINCT method, route, status FROM _sc_s_open)
    """,
    """
    CREATE OR REPLACE TEMP TABLE _sc_blk AS
    SELECT row_number() OVER (ORDER BY s.okey, r.rk) AS bi, s.okey, r.rk, count(*) AS n, count(s.ds) AS n_dur
    FROM _sc_s_open s JOIN _sc_rk r ON r.method = s.method AND r.route = s.route AND r.status = s.status
    GROUP BY s.okey, r.rk
    """,
    """
    CREATE OR REPLACE TEMP TABLE _sc_server AS
    SELECT row_number() OVER (ORDER BY s.sid) AS si, b.bi, b.rk, s.*
    FROM _sc_s_open s JOIN _sc_rk r ON r.method = s.method AND r.route = s.route AND r.status = s.status
    JOIN _sc_blk b ON b.okey = s.okey AND b.rk = r.rk
    """,
    f"""
    CREATE OR REPLACE TEMP TABLE _sc_client AS
    SELECT row_number() OVER (ORDER BY c.cid) AS ci, c.cid, r.rk, c.session_id, c.c0,
           least(coalesce(c.dur, {MISSING_CLIENT_DURATION_MS}), {MAX_CLIENT_DURATION_MS}) AS dc,
           c.dur IS NOT NULL AS has_dc, c.ua, c.bytes
    FROM _sc_c_all c ANTI JOIN (SELECT from_event_id FROM links WHERE correlation_run_id = $run_id) l
         ON l.from_event_id = c.cid
    LEFT JOIN _sc_rk r ON r.method = c.method AND r.route = c.route AND r.status = c.status
    WHERE c.kind = 'client_request' AND c.status > 0
    """,
)

CANDIDATES = f"""
CREATE OR REPLACE TEMP TABLE _sc_cand AS
WITH cb AS (
    SELECT ci, rk, session_id, c0, dc, has_dc, ua, bytes,
           unnest(range(floor((c0 - $pre) / $bucket)::BIGINT, floor((c0 + dc + $post) / $bucket)::BIGINT + 1)) AS bucket
    FROM _sc_client WHERE rk IS NOT NULL
), sb AS (
    SELECT si, bi, rk, okey, lg, ds, ua, ip, bytes, floor(lg / $bucket)::BIGINT AS bucket FROM _sc_server
)
SELECT cb.ci, sb.si, sb.bi, sb.okey, cb.c0, cb.dc, sb.ds, sb.lg,
       cb.ua = sb.ua AS ua_eq,
       CASE WHEN sb.ip IS NOT NULL THEN sip.ip IS NOT NULL END AS ip_in_session,
       CASE WHEN cb.bytes IS NOT NULL AND sb.bytes IS NOT NULL THEN cb.bytes = sb.bytes END AS bytes_eq,
       CASE WHEN cb.has_dc AND sb.ds IS NOT NULL THEN sb.ds <= cb.dc + {DURATION_TOLERANCE_MS} END AS dur_ok
FROM cb JOIN sb ON sb.rk = cb.rk AND sb.bucket = cb.bucket
JOIN _sc_model m ON m.okey = sb.okey
LEFT JOIN _sc_sip sip ON sip.session_id = cb.session_id AND sip.ip = sb.ip
WHERE sb.lg + m.r >= _sc_lo(cb.c0, sb.ds, m.anchor_end) - m.w
  AND sb.lg <= greatest(_sc_hi(cb.c0, cb.dc, sb.ds, m.anchor_end), _sc_lo(cb.c0, sb.ds, m.anchor_end)) + m.w
"""

# --- 2. what chance agreement looks like, per (client request, origin) ------------------------
# Each step is its own temp table: as one statement, DuckDB re-plans the shared parts badly.
CONTEXT: tuple[str, ...] = (
    """
    CREATE OR REPLACE TEMP TABLE _sc_co AS
    SELECT co.ci, co.bi, b.okey, c.c0, floor(c.c0 / 60000)::BIGINT AS minute, c.dc, c.ua, c.bytes, c.session_id,
           c.session_id IN (SELECT session_id FROM _sc_sip) AS session_ips
    FROM (SELECT DISTINCT ci, bi FROM _sc_cand) co JOIN _sc_client c ON c.ci = co.ci JOIN _sc_blk b ON b.bi = co.bi
    """,
    # Lines of each block in the minutes around each minute: a dense grid, then an equi-join.
    f"""
    CREATE OR REPLACE TEMP TABLE _sc_rate AS
    WITH per_minute AS (
        SELECT bi, floor(lg / 60000)::BIGINT AS minute, count(*) AS n FROM _sc_server GROUP BY ALL
    ), span AS (
        SELECT bi, min(minute) - {RATE_MINUTES} AS m0, max(minute) + {RATE_MINUTES} AS m1 FROM per_minute GROUP BY bi
    ), grid AS (SELECT bi, unnest(range(m0, m1 + 1)) AS minute FROM span)
    SELECT g.bi, g.minute,
           sum(coalesce(p.n, 0)) OVER (PARTITION BY g.bi ORDER BY g.minute
                                       ROWS BETWEEN {RATE_MINUTES} PRECEDING AND {RATE_MINUTES} FOLLOWING) AS n
    FROM grid g LEFT JOIN per_minute p ON p.bi = g.bi AND p.minute = g.minute
    """,
    """
    CREATE OR REPLACE TEMP TABLE _sc_ips AS
    WITH per_ip AS (SELECT okey, ip, count(*) AS n FROM _sc_server WHERE ip IS NOT NULL GROUP BY ALL),
    per_ip_ua AS (SELECT okey, ip, ua, count(*) AS n FROM _sc_server WHERE ip IS NOT NULL GROUP BY ALL)
    SELECT co.ci, co.bi, sum(t.n) AS n_ip, coalesce(sum(u.n), 0) AS n_both
    FROM _sc_co co JOIN _sc_sip sip ON sip.session_id = co.session_id
    JOIN per_ip t ON t.okey = co.okey AND t.ip = sip.ip
    LEFT JOIN per_ip_ua u ON u.okey = co.okey AND u.ip = sip.ip AND u.ua = co.ua
    GROUP BY co.ci, co.bi
    """,
    # Share of the block's lines that took no longer than this request: chance duration agreement.
    f"""
    CREATE OR REPLACE TEMP TABLE _sc_g AS
    WITH dur AS (
        SELECT bi, ds, sum(count(*)) OVER (PARTITION BY bi ORDER BY ds) AS cum
        FROM _sc_server WHERE ds IS NOT NULL GROUP BY 1, 2
    ), q AS (SELECT ci, bi, dc + {DURATION_TOLERANCE_MS} AS dmax FROM _sc_co)
    SELECT q.ci, q.bi, d.cum FROM q ASOF LEFT JOIN dur d ON d.bi = q.bi AND d.ds <= q.dmax
    """,
    f"""
    CREATE OR REPLACE TEMP TABLE _sc_ctx AS
    WITH span AS (SELECT min(floor(lg / 60000)) AS m0, max(floor(lg / 60000)) AS m1 FROM _sc_server),
    org AS (SELECT okey, count(*) AS n FROM _sc_server GROUP BY ALL),
    ua AS (SELECT okey, ua, count(*) AS n FROM _sc_server WHERE ua IS NOT NULL GROUP BY ALL),
    byt AS (SELECT bi, bytes, count(*) AS n FROM _sc_server WHERE bytes IS NOT NULL GROUP BY ALL)
    SELECT co.ci, co.bi,
           -- lines per ms around the request; near the window's edges only the covered minutes count
           greatest(coalesce(r.n, 1) / (60000.0 * (least(co.minute + {RATE_MINUTES}, span.m1)
                                        - greatest(co.minute - {RATE_MINUTES}, span.m0) + 1)),
                    1.0 / (60000.0 * {2 * RATE_MINUTES + 1})) AS lam,
           blk.n AS n_block, blk.n_dur, org.n AS n_origin,
           coalesce(ua.n, 0) / org.n AS p_ua,
           coalesce(ips.n_ip, 0) / org.n AS p_ip, coalesce(ips.n_both, 0) / org.n AS p_both,
           co.session_ips,
           coalesce(byt.n, 0) / blk.n AS p_bytes,
           coalesce(g.cum, 0) / nullif(blk.n_dur, 0) AS p_dur
    FROM _sc_co co CROSS JOIN span
    JOIN _sc_blk blk ON blk.bi = co.bi
    JOIN org ON org.okey = co.okey
    LEFT JOIN _sc_rate r ON r.bi = co.bi AND r.minute = co.minute
    LEFT JOIN ua ON ua.okey = co.okey AND ua.ua = co.ua
    LEFT JOIN _sc_ips ips ON ips.ci = co.ci AND ips.bi = co.bi
    LEFT JOIN byt ON byt.bi = co.bi AND byt.bytes = co.bytes
    LEFT JOIN _sc_g g ON g.ci = co.ci AND g.bi = co.bi
    """,
)

# --- 3. log likelihood ratios per pair ----------------------------------------------------------

PAIRS = f"""
CREATE OR REPLACE TEMP TABLE _sc_pair AS
WITH f AS (
    SELECT p.ci, p.si, p.okey, p.lg - p.c0 AS dt, m.* EXCLUDE (okey), x.* EXCLUDE (ci, bi),
           CASE WHEN $ua THEN p.ua_eq END AS ua_eq,
           CASE WHEN $ip AND x.session_ips THEN p.ip_in_session END AS ip_eq,
           CASE WHEN $bytes THEN p.bytes_eq END AS bytes_eq,
           CASE WHEN $duration THEN p.dur_ok END AS dur_ok,
           _sc_ptime(p.c0, p.dc, p.ds, p.lg, m.anchor_end, m.r, m.shift, m.b, m.wide, m.tail) AS ptime,
           0.5 / x.n_origin AS fo, 0.5 / x.n_block AS fb, 0.5 / greatest(x.n_dur, 1) AS fd
    FROM _sc_cand p JOIN _sc_model m ON m.okey = p.okey JOIN _sc_ctx x ON x.ci = p.ci AND x.bi = p.bi
), l AS (
    SELECT ci, si, okey, dt, ua_eq, ip_eq, bytes_eq, dur_ok,
        ln(greatest(ptime, 1e-300) / lam) AS l_time,
        CASE
            WHEN ua_eq IS NOT NULL AND ip_eq IS NOT NULL THEN ln(
                (CASE WHEN ua_eq THEN q_ua ELSE 1 - q_ua END) * (CASE WHEN ip_eq THEN q_ip ELSE 1 - q_ip END)
                / greatest(CASE WHEN ua_eq AND ip_eq THEN p_both WHEN ua_eq THEN p_ua - p_both
                                WHEN ip_eq THEN p_ip - p_both ELSE 1 - p_ua - p_ip + p_both END, fo))
            WHEN ua_eq IS NOT NULL THEN
                ln(CASE WHEN ua_eq THEN q_ua / greatest(p_ua, fo) ELSE (1 - q_ua) / greatest(1 - p_ua, fo) END)
            WHEN ip_eq IS NOT NULL THEN
                ln(CASE WHEN ip_eq THEN q_ip / greatest(p_ip, fo) ELSE (1 - q_ip) / greatest(1 - p_ip, fo) END)
            ELSE 0
        END AS l_ident,
        CASE WHEN bytes_eq THEN ln(q_bytes / greatest(p_bytes, fb))
             WHEN NOT bytes_eq THEN ln((1 - q_bytes) / greatest(1 - p_bytes, fb)) ELSE 0 END AS l_bytes,
        CASE WHEN dur_ok THEN ln(q_dur / greatest(p_dur, fd))
             WHEN NOT dur_ok THEN ln((1 - q_dur) / greatest(1 - p_dur, fd)) ELSE 0 END AS l_dur
    FROM f
)
SELECT *, greatest(least(l_time + l_ident + l_bytes + l_dur, {MAX_LOG_LR}), -{MAX_LOG_LR}) AS llr FROM l
"""
