"""Transactions: one per navigation (page view) and one per user action, with every member.

Membership, in the order a user action flows:
- a client record names the action that caused it (`action_id`), else it belongs to the
  page view it happened on (the session's latest page view before it: an ASOF join);
- a server record belongs to the transaction of a client record it is linked to, directly
  (exact or scored link), or through the trace id or request id that linked record carries
  (downstream spans and logs share the trace; an access-log line shares the request id).
  A server record reached several ways keeps the most confident claim; among equals the
  direct link, then the trace, then the request id, then the earliest transaction, so a
  re-run stores the same membership and `via`.

A navigation's flow is the flow of the action that led to it (the session's last action in
the 30 s before), so a checkout page load counts toward checkout.
"""

from __future__ import annotations

import duckdb

from seamline.correlate._window import Window

CLIENT_KINDS = (
    "('client_action', 'client_request', 'client_error', 'web_vital', 'resource', 'visibility', 'track', "
    "'identify', 'client_log', 'page_view')"
)
SERVER_KINDS = "('server_request', 'span', 'server_log')"


def _best(columns: str) -> str:
    """Aggregate select items: the named columns of the group's most confident row (ties: lowest tr).
    One arg_min over a struct, unpacked, costs a fraction of one arg_min per column."""
    names = [c.split(" AS ")[-1].strip() for c in columns.split(",")]
    exprs = [c.split(" AS ")[0].strip() for c in columns.split(",")]
    packed = ", ".join(f"'{n}': {e}" for n, e in zip(names, exprs, strict=True))
    return f"unnest(arg_min({{{packed}}}, (-confidence, tr)))"


# Records are keyed by the events table's rowid inside a run (integers join and group far
# faster than the text ids); a transaction's key `tr` is its root's rowid. Text ids are only
# carried along to be written.
_STEPS: tuple[str, ...] = (
    # Client members: the action named by action_id, else the page view (ASOF on session and time).
    # The columns the transaction figures need ride along, so nothing below joins events back.
    f"""
    CREATE OR REPLACE TEMP TABLE _client_members AS
    WITH clients AS (
        SELECT rowid AS rid, event_id, kind, session_id, ts, trace_id, duration_ms, http_status,
               attributes['action_id'] AS action_id
        FROM events WHERE kind IN {CLIENT_KINDS} AND ts BETWEEN $start AND $end AND session_id IS NOT NULL
    ), actions AS (
        SELECT rowid AS rid, event_id, session_id, attributes['action_id'] AS action_id
        FROM events WHERE kind = 'client_action' AND ts BETWEEN $outer_start AND $outer_end
    ), views0 AS (
        SELECT rowid AS rid, event_id, session_id, ts FROM events
        WHERE kind = 'page_view' AND ts BETWEEN $outer_start AND $outer_end
    ), sk AS (  -- the ASOF join sorts by session: on integers rather than text ids
        SELECT session_id, row_number() OVER () AS sk FROM (SELECT DISTINCT session_id FROM views0)
    ), views AS (
        SELECT v.*, k.sk FROM views0 v JOIN sk k USING (session_id)
    ), cs AS (
        SELECT c.*, k.sk FROM clients c LEFT JOIN sk k USING (session_id)
    )
    SELECT c.rid, c.event_id, c.kind, c.session_id, c.ts, c.trace_id, c.duration_ms, c.http_status,
           CASE WHEN c.kind IN ('client_action', 'page_view') THEN c.rid ELSE coalesce(a.rid, v.rid) END AS tr,
           CASE WHEN c.kind IN ('client_action', 'page_view') THEN c.event_id
                ELSE coalesce(a.event_id, v.event_id) END AS transaction_id,
           CASE WHEN c.kind IN ('client_action', 'page_view') THEN 'root'
                WHEN a.event_id IS NOT NULL THEN 'action_id' ELSE 'page' END AS via,
           v.event_id AS page_view_id
    FROM cs c
    LEFT JOIN actions a ON a.session_id = c.session_id AND a.action_id = c.action_id AND c.kind <> 'client_action'
    ASOF LEFT JOIN views v ON v.sk = c.sk AND c.ts >= v.ts
    """,
    # This run's links of client members, with what the server record they reach carries.
    f"""
    CREATE OR REPLACE TEMP TABLE _tx_links AS
    SELECT m.rid AS from_rid, m.tr, m.transaction_id, s.rowid AS rid, l.to_event_id, l.method, l.confidence,
           s.trace_id, s.request_id, s.kind, s.ts, s.duration_ms, s.http_status, s.span_status
    FROM _client_members m
    JOIN links l ON l.from_event_id = m.event_id AND l.correlation_run_id = $run_id
    JOIN events s ON s.event_id = l.to_event_id AND s.kind IN {SERVER_KINDS}
    WHERE m.tr IS NOT NULL
    """,
    # Keys a transaction reaches the server through: its client records' trace ids, and the
    # trace and request ids of the server records they are linked to.
    """
    CREATE OR REPLACE TEMP TABLE _tx_keys AS
    SELECT tr, transaction_id, trace_id, NULL::VARCHAR AS request_id, 'trace_id' AS via, 1.0 AS confidence
    FROM _client_members WHERE trace_id IS NOT NULL AND tr IS NOT NULL
    UNION ALL
    SELECT tr, transaction_id, trace_id, request_id,
           CASE WHEN method = 'scored' THEN 'scored' ELSE 'request_id' END, confidence
    FROM _tx_links
    """,
    # A request id reaches the trace the server started for it (e.g. a legacy request's api trace).
    f"""
    INSERT INTO _tx_keys
    SELECT DISTINCT k.tr, k.transaction_id, s.trace_id, NULL, k.via, k.confidence
    FROM _tx_keys k JOIN events s ON s.request_id = k.request_id
    WHERE k.request_id IS NOT NULL AND s.trace_id IS NOT NULL AND s.kind IN {SERVER_KINDS}
      AND s.ts BETWEEN $outer_start AND $outer_end
    """,
    # Per trace id, per request id and per linked record: the transaction that claims it most
    # confidently (the first transaction among equals, so re-runs agree).
    f"""
    CREATE OR REPLACE TEMP TABLE _tx_by_trace AS
    SELECT trace_id, {_best("tr, transaction_id, via, confidence")}
    FROM (SELECT tr, any_value(transaction_id) AS transaction_id, trace_id,
                 CASE WHEN min(via) = 'scored' THEN 'scored' ELSE 'trace_id' END AS via, max(confidence) AS confidence
          FROM _tx_keys WHERE trace_id IS NOT NULL GROUP BY tr, trace_id)
    GROUP BY trace_id
    """,
    f"""
    CREATE OR REPLACE TEMP TABLE _tx_by_request AS
    SELECT request_id, {_best("tr, transaction_id, via, confidence")}
    FROM (SELECT tr, any_value(transaction_id) AS transaction_id, request_id,
                 CASE WHEN min(via) = 'scored' THEN 'scored' ELSE 'request_id' END AS via,
                 max(confidence) AS confidence
          FROM _tx_keys WHERE request_id IS NOT NULL GROUP BY tr, request_id)
    GROUP BY request_id
    """,
    f"""
    CREATE OR REPLACE TEMP TABLE _tx_by_link AS
    SELECT rid, {_best("tr, transaction_id, method AS via, confidence")},
           any_value(to_event_id) AS event_id, any_value(kind) AS kind, any_value(ts) AS ts,
           any_value(duration_ms) AS duration_ms, any_value(http_status) AS http_status,
           any_value(span_status) AS span_status
    FROM _tx_links GROUP BY rid
    """,
    # A server record reached several ways keeps the most confident claim; among equals the
    # direct link, then the trace, then the request id.
    f"""
    CREATE OR REPLACE TEMP TABLE _server_members AS
    WITH reached AS (
        SELECT s.rowid AS rid, s.event_id, s.kind, s.ts, s.duration_ms, s.http_status, s.span_status,
               l.tr AS l_tr, l.transaction_id AS l_id, l.via AS l_via, l.confidence AS l_c,
               t.tr AS t_tr, t.transaction_id AS t_id, t.via AS t_via, t.confidence AS t_c,
               r.tr AS r_tr, r.transaction_id AS r_id, r.via AS r_via, r.confidence AS r_c
        FROM events s
        LEFT JOIN _tx_by_link l ON l.rid = s.rowid
        LEFT JOIN _tx_by_trace t ON t.trace_id = s.trace_id
        LEFT JOIN _tx_by_request r ON r.request_id = s.request_id
        WHERE s.kind IN {SERVER_KINDS} AND s.ts BETWEEN $outer_start AND $outer_end
          AND (l.tr IS NOT NULL OR t.tr IS NOT NULL OR r.tr IS NOT NULL)
        UNION ALL
        SELECT rid, event_id, kind, ts, duration_ms, http_status, span_status, tr, transaction_id, via, confidence,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM _tx_by_link WHERE NOT (kind IN {SERVER_KINDS} AND ts BETWEEN $outer_start AND $outer_end)
    ), pick AS (
        SELECT *, CASE WHEN l_c IS NOT NULL AND l_c >= coalesce(t_c, -1) AND l_c >= coalesce(r_c, -1) THEN 0
                       WHEN t_c IS NOT NULL AND t_c >= coalesce(r_c, -1) THEN 1 ELSE 2 END AS k
        FROM reached
    )
    SELECT rid, event_id, kind, ts, duration_ms, http_status, span_status,
           CASE k WHEN 0 THEN l_tr WHEN 1 THEN t_tr ELSE r_tr END AS tr,
           CASE k WHEN 0 THEN l_id WHEN 1 THEN t_id ELSE r_id END AS transaction_id,
           CASE k WHEN 0 THEN l_via WHEN 1 THEN t_via ELSE r_via END AS via,
           CASE k WHEN 0 THEN l_c WHEN 1 THEN t_c ELSE r_c END AS confidence
    FROM pick
    """,
    """
    INSERT INTO event_transactions (event_id, transaction_id, via, confidence, correlation_run_id)
    SELECT event_id, transaction_id, via, 1.0, $run_id FROM _client_members WHERE tr IS NOT NULL
    UNION ALL
    SELECT event_id, transaction_id, via, confidence, $run_id FROM _server_members
    """,
    # Who a session's anonymous visitor turned out to be (identify events).
    """
    CREATE OR REPLACE TEMP TABLE _identified AS
    SELECT anonymous_id, arg_max(user_id, ts) AS user_id FROM events
    WHERE kind = 'identify' AND user_id IS NOT NULL AND anonymous_id IS NOT NULL GROUP BY anonymous_id
    """,
    # Per root: its page view (an action's) and the session's last action before it (a
    # navigation's flow), on narrow rows before the wide root columns are read.
    """
    CREATE OR REPLACE TEMP TABLE _tx_roots AS
    WITH roots AS (
        SELECT rid, session_id, ts, page_view_id FROM _client_members WHERE via = 'root'
    ), recent_action AS (
        SELECT session_id, ts, attributes['action.name'] AS action_name FROM events
        WHERE kind = 'client_action' AND ts BETWEEN $outer_start AND $outer_end
    )
    SELECT r.rid, r.page_view_id, ra.action_name AS prior_action, ra.ts AS prior_action_ts
    FROM roots r ASOF LEFT JOIN recent_action ra ON ra.session_id = r.session_id AND r.ts >= ra.ts
    """,
    """
    INSERT INTO transactions
    WITH members AS (
        SELECT tr, kind, ts, duration_ms, http_status, NULL::VARCHAR AS span_status
        FROM _client_members WHERE tr IS NOT NULL
        UNION ALL
        SELECT tr, kind, ts, duration_ms, http_status, span_status FROM _server_members
    ), agg AS (
        SELECT tr, max(ts + to_microseconds(CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT))) AS end_ts,
               count(*) FILTER (WHERE kind IN ('client_request', 'page_view')) AS client_requests,
               count(*) FILTER (WHERE kind IN ('server_request', 'span', 'server_log')) AS server_records,
               count(*) FILTER (WHERE kind = 'client_error' OR (kind IN ('server_request', 'client_request')
                                AND http_status >= 500) OR span_status = 'error') AS errors,
               max(http_status) FILTER (WHERE kind IN ('client_request', 'server_request')) AS max_status
        FROM members GROUP BY tr
    ), linked AS (
        SELECT from_rid, bool_or(method <> 'scored') AS exact, bool_or(method = 'scored') AS scored
        FROM _tx_links GROUP BY from_rid
    ), linkage AS (
        SELECT m.tr, count(*) FILTER (WHERE l.exact) AS exact, count(*) FILTER (WHERE l.scored) AS scored,
               count(*) FILTER (WHERE l.from_rid IS NULL) AS unlinked
        FROM _client_members m LEFT JOIN linked l ON l.from_rid = m.rid
        WHERE m.kind IN ('client_request', 'page_view') AND m.tr IS NOT NULL
        GROUP BY m.tr
    ), named AS (
        SELECT r.*, p.rid, p.page_view_id, p.prior_action, p.prior_action_ts
        FROM events r JOIN _tx_roots p ON p.rid = r.rowid
        WHERE r.kind IN ('client_action', 'page_view') AND r.ts BETWEEN $start AND $end
    )
    SELECT n.event_id, CASE n.kind WHEN 'page_view' THEN 'navigation' ELSE 'action' END, n.event_id,
           CASE WHEN n.kind = 'client_action' THEN n.page_view_id END,
           n.session_id, coalesce(n.user_id, i.user_id), n.anonymous_id, n.device_id,
           CASE WHEN n.kind = 'client_action' THEN nullif(split_part(n.attributes['action.name'], '.', 1), '')
                WHEN n.prior_action_ts >= n.ts - INTERVAL 30 SECOND THEN nullif(split_part(n.prior_action, '.', 1), '')
           END,
           CASE WHEN n.kind = 'client_action' THEN coalesce(n.attributes['action.name'], n.name) ELSE n.page END,
           n.page, n.environment, n.release, n.region, n.browser, n.feature_flags,
           n.ts, greatest(a.end_ts, n.ts),
           date_diff('microsecond', n.ts, greatest(a.end_ts, n.ts)) / 1000.0,
           coalesce(a.client_requests, 0), coalesce(a.server_records, 0), coalesce(a.errors, 0), a.max_status,
           coalesce(k.exact, 0), coalesce(k.scored, 0), coalesce(k.unlinked, 0), $run_id
    FROM named n
    LEFT JOIN agg a ON a.tr = n.rid
    LEFT JOIN linkage k ON k.tr = n.rid
    LEFT JOIN _identified i ON i.anonymous_id = n.anonymous_id
    """,
)

_TEMPS = (
    "_client_members",
    "_tx_links",
    "_tx_keys",
    "_tx_by_trace",
    "_tx_by_request",
    "_tx_by_link",
    "_server_members",
    "_identified",
    "_tx_roots",
)


def build_transactions(con: duckdb.DuckDBPyConnection, window: Window, run_id: str) -> int:
    """Assign members and write the transactions rooted in the window; returns how many."""
    params = {
        "start": window.start,
        "end": window.end,
        "outer_start": window.outer_start,
        "outer_end": window.outer_end,
        "run_id": run_id,
    }
    for step in _STEPS:
        used = {k: v for k, v in params.items() if f"${k}" in step}
        con.execute(step, used)
    for temp in _TEMPS:
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return int(con.execute("SELECT count(*) FROM transactions WHERE correlation_run_id = ?", [run_id]).fetchone()[0])
