"""Transactions: one per navigation (page view) and one per user action, with every member.

Membership, in the order a user action flows:
- a client record names the action that caused it (`action_id`), else it belongs to the
  page view it happened on (the session's latest page view before it: an ASOF join);
- a server record belongs to the transaction of a client record it is linked to, directly
  (exact or scored link), or through the trace id or request id that linked record carries
  (downstream spans and logs share the trace; an access-log line shares the request id).

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

_STEPS: tuple[str, ...] = (
    # Client members: the action named by action_id, else the page view (ASOF on session and time).
    f"""
    CREATE OR REPLACE TEMP TABLE _client_members AS
    WITH clients AS (
        SELECT event_id, kind, session_id, ts, attributes['action_id'] AS action_id
        FROM events WHERE kind IN {CLIENT_KINDS} AND ts BETWEEN $start AND $end AND session_id IS NOT NULL
    ), actions AS (
        SELECT event_id, session_id, attributes['action_id'] AS action_id
        FROM events WHERE kind = 'client_action' AND ts BETWEEN $outer_start AND $outer_end
    ), views AS (
        SELECT event_id, session_id, ts FROM events
        WHERE kind = 'page_view' AND ts BETWEEN $outer_start AND $outer_end
    )
    SELECT c.event_id, c.kind, c.ts,
           CASE WHEN c.kind IN ('client_action', 'page_view') THEN c.event_id
                ELSE coalesce(a.event_id, v.event_id) END AS transaction_id,
           CASE WHEN c.kind IN ('client_action', 'page_view') THEN 'root'
                WHEN a.event_id IS NOT NULL THEN 'action_id' ELSE 'page' END AS via,
           v.event_id AS page_view_id
    FROM clients c
    LEFT JOIN actions a ON a.session_id = c.session_id AND a.action_id = c.action_id AND c.kind <> 'client_action'
    ASOF LEFT JOIN views v ON v.session_id = c.session_id AND c.ts >= v.ts
    """,
    # Keys a transaction reaches the server through: its client records' trace ids, and the
    # trace and request ids of the server records they are linked to.
    """
    CREATE OR REPLACE TEMP TABLE _tx_keys AS
    SELECT m.transaction_id, e.trace_id, NULL::VARCHAR AS request_id, 'trace_id' AS via, 1.0 AS confidence
    FROM _client_members m JOIN events e ON e.event_id = m.event_id
    WHERE e.trace_id IS NOT NULL AND m.transaction_id IS NOT NULL
    UNION ALL
    SELECT m.transaction_id, s.trace_id, s.request_id,
           CASE WHEN l.method = 'scored' THEN 'scored' ELSE 'request_id' END, l.confidence
    FROM _client_members m
    JOIN links l ON l.from_event_id = m.event_id AND l.correlation_run_id = $run_id
    JOIN events s ON s.event_id = l.to_event_id
    WHERE m.transaction_id IS NOT NULL
    """,
    # A request id reaches the trace the server started for it (e.g. a legacy request's api trace).
    f"""
    INSERT INTO _tx_keys
    SELECT DISTINCT k.transaction_id, s.trace_id, NULL, k.via, k.confidence
    FROM _tx_keys k JOIN events s ON s.request_id = k.request_id
    WHERE k.request_id IS NOT NULL AND s.trace_id IS NOT NULL AND s.kind IN {SERVER_KINDS}
      AND s.ts BETWEEN $outer_start AND $outer_end
    """,
    f"""
    CREATE OR REPLACE TEMP TABLE _server_members AS
    WITH by_trace AS (
        SELECT s.event_id, s.kind, s.ts, k.transaction_id,
               CASE WHEN k.via = 'scored' THEN 'scored' ELSE 'trace_id' END AS via, k.confidence
        FROM events s JOIN (SELECT transaction_id, trace_id, min(via) AS via, max(confidence) AS confidence
                            FROM _tx_keys WHERE trace_id IS NOT NULL GROUP BY transaction_id, trace_id) k
          ON s.trace_id = k.trace_id
        WHERE s.kind IN {SERVER_KINDS} AND s.ts BETWEEN $outer_start AND $outer_end
    ), by_request AS (
        SELECT s.event_id, s.kind, s.ts, k.transaction_id,
               CASE WHEN k.via = 'scored' THEN 'scored' ELSE 'request_id' END AS via, k.confidence
        FROM events s JOIN (SELECT transaction_id, request_id, min(via) AS via, max(confidence) AS confidence
                            FROM _tx_keys WHERE request_id IS NOT NULL GROUP BY transaction_id, request_id) k
          ON s.request_id = k.request_id
        WHERE s.kind IN {SERVER_KINDS} AND s.ts BETWEEN $outer_start AND $outer_end
    ), linked AS (
        SELECT s.event_id, s.kind, s.ts, m.transaction_id,
               CASE WHEN l.method = 'scored' THEN 'scored' ELSE l.method END AS via, l.confidence
        FROM links l JOIN _client_members m ON m.event_id = l.from_event_id
        JOIN events s ON s.event_id = l.to_event_id
        WHERE l.correlation_run_id = $run_id AND m.transaction_id IS NOT NULL
    )
    SELECT DISTINCT ON (event_id) * FROM (
        SELECT * FROM linked UNION ALL SELECT * FROM by_trace UNION ALL SELECT * FROM by_request
    ) ORDER BY event_id, confidence DESC
    """,
    """
    INSERT INTO event_transactions (event_id, transaction_id, via, confidence, correlation_run_id)
    SELECT event_id, transaction_id, via, 1.0, $run_id FROM _client_members WHERE transaction_id IS NOT NULL
    UNION ALL
    SELECT event_id, transaction_id, via, confidence, $run_id FROM _server_members
    """,
    # Who a session's anonymous visitor turned out to be (identify events).
    """
    CREATE OR REPLACE TEMP TABLE _identified AS
    SELECT anonymous_id, arg_max(user_id, ts) AS user_id FROM events
    WHERE kind = 'identify' AND user_id IS NOT NULL AND anonymous_id IS NOT NULL GROUP BY anonymous_id
    """,
    """
    INSERT INTO transactions
    WITH members AS (
        SELECT et.transaction_id, e.kind, e.ts, e.duration_ms, e.http_status, e.span_status, et.via,
               e.ts + to_microseconds(CAST(coalesce(e.duration_ms, 0) * 1000 AS BIGINT)) AS end_ts
        FROM event_transactions et JOIN events e ON e.event_id = et.event_id
        WHERE et.correlation_run_id = $run_id
    ), agg AS (
        SELECT transaction_id, max(end_ts) AS end_ts,
               count(*) FILTER (WHERE kind IN ('client_request', 'page_view')) AS client_requests,
               count(*) FILTER (WHERE kind IN ('server_request', 'span', 'server_log')) AS server_records,
               count(*) FILTER (WHERE kind = 'client_error' OR (kind IN ('server_request', 'client_request')
                                AND http_status >= 500) OR span_status = 'error') AS errors,
               max(http_status) FILTER (WHERE kind IN ('client_request', 'server_request')) AS max_status
        FROM members GROUP BY transaction_id
    ), linkage AS (
        SELECT m.transaction_id,
               count(DISTINCT m.event_id) FILTER (WHERE l.method IS NOT NULL AND l.method <> 'scored') AS exact,
               count(DISTINCT m.event_id) FILTER (WHERE l.method = 'scored') AS scored,
               count(DISTINCT m.event_id) FILTER (WHERE l.method IS NULL) AS unlinked
        FROM _client_members m
        LEFT JOIN links l ON l.from_event_id = m.event_id AND l.correlation_run_id = $run_id
        WHERE m.kind IN ('client_request', 'page_view') AND m.transaction_id IS NOT NULL
        GROUP BY m.transaction_id
    ), roots AS (
        SELECT r.*, m.page_view_id FROM events r JOIN _client_members m ON m.event_id = r.event_id
        WHERE m.via = 'root'
    ), recent_action AS (
        SELECT session_id, ts, attributes['action.name'] AS action_name FROM events
        WHERE kind = 'client_action' AND ts BETWEEN $outer_start AND $outer_end
    ), named AS (
        SELECT r.*, ra.action_name AS prior_action, ra.ts AS prior_action_ts
        FROM roots r ASOF LEFT JOIN recent_action ra ON ra.session_id = r.session_id AND r.ts >= ra.ts
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
    LEFT JOIN agg a ON a.transaction_id = n.event_id
    LEFT JOIN linkage k ON k.transaction_id = n.event_id
    LEFT JOIN _identified i ON i.anonymous_id = n.anonymous_id
    """,
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
    for temp in ("_client_members", "_tx_keys", "_server_members", "_identified"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return int(con.execute("SELECT count(*) FROM transactions WHERE correlation_run_id = ?", [run_id]).fetchone()[0])
