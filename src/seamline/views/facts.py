"""Facts the dashboards read: one row per transaction and one per request, derived from events.

Dashboards must answer in well under a second over tens of millions of events, so they never
join `events` with `event_transactions` at request time. After each correlation run,
`refresh_facts` writes, for every transaction that has no facts of its current run yet:

`transaction_facts` — the transaction's end-to-end latency and its split into segments:

- e2e: a navigation's page load (`duration_ms` of the page view); an action's time from the
  click to the end of its last-ending request. An action that made no request has no e2e
  (it did its work in the page, or its cost shows in the navigation it led to).
- the critical request: a navigation's document (its client time is the navigation timing's
  `ttfb`, i.e. responseStart), an action's last-ending request.
- client = e2e − critical request time (rendering, scripts, other resources, waiting);
- network = critical request time − its server entry's duration (the gateway's access line
  when there is one, else the first server span; from the link with the highest confidence);
- dependency = sum of the database and third-party client spans in the server entry's trace
  (a client span is third-party when no server span in the transaction is its child),
  capped at the server entry's duration — parallel calls would otherwise count twice;
- server = server entry duration − dependency (gateway, services and their code);
- unattributed = the critical request's time when no server entry is linked to it (it cannot
  be split into network and server); network, server and dependency are then 0.

Each part is clamped at 0 and the server entry at the critical request's time, so the
segments add up to e2e (clock truncation in access logs can make a server entry look longer
than the client's view of it). Segments are a critical-path approximation: requests an action
makes in parallel to the last-ending one count as client time.

`request_facts` — every request-like member by layer: client requests (fetch, XHR),
documents (a page load's document request: its TTFB, and its server entry's status), gateway
access lines, service entries (server spans, or a service's request log line when it has no
span for that request), and dependency calls; each with status, duration, failed (status 0
or >= 500, or an error span) and timeout (408/504, or a timeout error); client requests and
documents with how correlation joined them (exact, scored, unlinked and why); and the
transaction's dimensions except its
feature flags (a map column per request costs more to write than the rest of the row; a flag
filter reaches requests through transaction_facts).

`waterfall_rows` — every member of those transactions with what its waterfall row shows (the
event's fields, how it joined, its best link and that link's server time, its `db.system`) in
one JSON column, written in the order of the transaction's start so that a waterfall or a
session timeline reads a few consecutive rows of three columns instead of searching `events`.

Refreshing is incremental: facts whose transaction was rebuilt (a new correlation run) or
removed are deleted, and the missing ones are built, in one pass over the members of those
transactions only.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb

from seamline.dictionary import TIMESTAMP, TRANSACTIONS
from seamline.store.base import Store

_TIMEOUT = (
    "(m.http_status IN (408, 504) OR m.error_type ILIKE '%timeout%' OR m.error_message ILIKE '%timeout%' "
    "OR m.error_message ILIKE '%timed out%')"
)
_SERVER_ERROR = "(m.http_status >= 500 OR m.span_status = 'error')"

_DIMS = (
    "t.flow, t.page, t.session_id, coalesce(t.user_id, t.anonymous_id) AS user_key, t.environment, t.release, "
    "b.backend_release, t.region, t.browser, r.segment"
)

# The transactions row as JSON in the column order of `transactions` (times as epoch µs), so a
# waterfall reads its header with the facts lookup instead of a second table.
TRANSACTION_ROW_TIMES = tuple(c.name for c in TRANSACTIONS if c.type == TIMESTAMP)
_TRANSACTION_ROW = "to_json(struct_pack({}))::VARCHAR".format(
    ", ".join(
        f"{c.name} := epoch_us(t.{c.name})" if c.name in TRANSACTION_ROW_TIMES else f"{c.name} := t.{c.name}"
        for c in TRANSACTIONS
    )
)

_STEPS: tuple[str, ...] = (
    # Transactions without facts of their current run. Their request facts and waterfall rows
    # go too, even when of the current run: a transaction whose facts alone expired (facts and
    # requests age by different clocks) would otherwise get its requests twice.
    """
    CREATE OR REPLACE TEMP TABLE _fx_tx AS
    SELECT t.* FROM transactions t
    WHERE NOT EXISTS (SELECT 1 FROM transaction_facts f
                      WHERE f.transaction_id = t.transaction_id AND f.correlation_run_id = t.correlation_run_id)
    """,
    """
    DELETE FROM transaction_facts f WHERE NOT EXISTS (
        SELECT 1 FROM transactions t WHERE t.transaction_id = f.transaction_id
                                       AND t.correlation_run_id = f.correlation_run_id)
    """,
    """
    DELETE FROM request_facts f WHERE f.transaction_id IN (SELECT transaction_id FROM _fx_tx) OR NOT EXISTS (
        SELECT 1 FROM transactions t WHERE t.transaction_id = f.transaction_id
                                       AND t.correlation_run_id = f.correlation_run_id)
    """,
    """
    DELETE FROM waterfall_rows f WHERE f.transaction_id IN (SELECT transaction_id FROM _fx_tx) OR NOT EXISTS (
        SELECT 1 FROM transactions t WHERE t.transaction_id = f.transaction_id
                                       AND t.correlation_run_id = f.correlation_run_id)
    """,
    # Their members. Members lie between an hour before
    # the earliest start and the latest end; the bound lets DuckDB skip row groups of events.
    """
    CREATE OR REPLACE TEMP TABLE _fx_m AS
    SELECT et.transaction_id, et.via, et.confidence AS member_confidence,
           e.event_id, e.kind, e.ts, e.duration_ms, e.service, e.source, e.span_kind,
           e.span_status, e.http_method, e.http_status, e.route, e.name, e.trace_id, e.span_id, e.parent_span_id,
           e.request_id, e.error_type, e.error_message, e.segment, e.release, e.value, e.page,
           e.url, e.level, e.message, e.origin, e.position, e.position_index, e.client_ts, e.clock_offset_ms,
           e.attributes['db.system'] AS db_system, TRY_CAST(e.attributes['nav.ttfb'] AS DOUBLE) AS ttfb,
           coalesce(e.attributes['server.address'], e.attributes['net.peer.name']) AS peer
    FROM event_transactions et
    JOIN _fx_tx t ON t.transaction_id = et.transaction_id
    JOIN events e ON e.event_id = et.event_id
    WHERE e.ts BETWEEN $lo AND $hi
    """,
    # The server trace a record reached, also through its request id (a request without a
    # traceparent gets a new trace from the first service).
    """
    CREATE OR REPLACE TEMP TABLE _fx_req_trace AS
    SELECT transaction_id, request_id, any_value(trace_id) AS trace_id FROM _fx_m
    WHERE request_id IS NOT NULL AND trace_id IS NOT NULL AND kind IN ('server_request', 'span')
    GROUP BY ALL
    """,
    # Per client request or document: its server entry (prefer the surest link, then the gateway).
    """
    CREATE OR REPLACE TEMP TABLE _fx_link AS
    SELECT c.transaction_id, c.event_id,
           arg_max(s.duration_ms, l.confidence * 10 + CASE WHEN s.source IN ('nginx', 'apache') THEN 1 ELSE 0 END)
               AS server_ms,
           arg_max(s.http_status, l.confidence * 10 + CASE WHEN s.source IN ('nginx', 'apache') THEN 1 ELSE 0 END)
               AS server_status,
           coalesce(max(s.trace_id), max(rt.trace_id)) AS server_trace,
           arg_max(l.method, l.confidence * 10 + CASE WHEN s.source IN ('nginx', 'apache') THEN 1 ELSE 0 END)
               AS link_method,
           max(l.confidence) AS link_confidence
    FROM _fx_m c
    JOIN links l ON l.from_event_id = c.event_id
    JOIN _fx_m s ON s.event_id = l.to_event_id AND s.transaction_id = c.transaction_id
    LEFT JOIN _fx_req_trace rt ON rt.transaction_id = s.transaction_id AND rt.request_id = s.request_id
    WHERE c.kind IN ('client_request', 'page_view')
    GROUP BY c.transaction_id, c.event_id
    """,
    """
    CREATE OR REPLACE TEMP TABLE _fx_brel AS
    SELECT transaction_id, arg_min(release, ts) AS backend_release FROM _fx_m
    WHERE kind IN ('span', 'server_request') AND source NOT IN ('nginx', 'apache') AND release IS NOT NULL
    GROUP BY transaction_id
    """,
    # Database and third-party calls: client spans with a database system, or no server child.
    """
    CREATE OR REPLACE TEMP TABLE _fx_dep AS
    SELECT s.* FROM _fx_m s
    WHERE s.kind = 'span' AND s.span_kind = 'client'
      AND (s.db_system IS NOT NULL OR NOT EXISTS (
           SELECT 1 FROM _fx_m c WHERE c.transaction_id = s.transaction_id AND c.trace_id = s.trace_id
                                   AND c.parent_span_id = s.span_id AND c.kind = 'span'))
    """,
    f"""
    INSERT INTO transaction_facts
    WITH req AS (
        SELECT m.transaction_id, m.event_id, m.kind, m.ts,
               CASE WHEN m.kind = 'page_view' THEN coalesce(m.ttfb, m.duration_ms) ELSE m.duration_ms END AS req_ms
        FROM _fx_m m WHERE m.kind IN ('client_request', 'page_view')
    ), ends AS (
        SELECT *, ts + to_microseconds(CAST(round(coalesce(req_ms, 0) * 1000) AS BIGINT)) AS req_end FROM req
    ), crit AS (
        SELECT r.transaction_id, arg_max(r.event_id, r.req_end) AS event_id, max(r.req_end) AS req_end,
               arg_max(r.req_ms, r.req_end) AS req_ms
        FROM ends r JOIN _fx_tx t ON t.transaction_id = r.transaction_id
        WHERE (t.kind = 'navigation' AND r.event_id = t.root_event_id)
           OR (t.kind = 'action' AND r.kind = 'client_request')
        GROUP BY r.transaction_id
    ), dep AS (
        SELECT transaction_id, trace_id, sum(duration_ms) AS dep_ms FROM _fx_dep GROUP BY ALL
    ), counts AS (
        SELECT m.transaction_id,
               count(*) FILTER (WHERE m.kind = 'client_error') AS js_errors,
               count(*) FILTER (WHERE m.kind = 'client_request') AS requests,
               count(*) FILTER (WHERE m.kind = 'client_request' AND m.http_status = 0) AS status_0,
               count(*) FILTER (WHERE m.kind = 'client_request' AND m.http_status BETWEEN 400 AND 499) AS status_4xx,
               count(*) FILTER (WHERE m.kind = 'client_request' AND m.http_status >= 500) AS status_5xx,
               count(*) FILTER (WHERE m.kind IN ('server_request', 'span') AND m.span_kind IS DISTINCT FROM 'client'
                                AND {_SERVER_ERROR}) AS server_errors,
               count(*) FILTER (WHERE {_TIMEOUT}) AS timeouts,
               max(m.value) FILTER (WHERE m.kind = 'web_vital' AND m.name = 'LCP') AS lcp_ms
        FROM _fx_m m GROUP BY m.transaction_id
    ), parts AS (
        SELECT t.transaction_id,
               CASE WHEN t.kind = 'navigation' THEN r.duration_ms
                    ELSE date_diff('microsecond', t.start_ts, c.req_end) / 1000.0 END AS e2e,
               c.event_id AS critical, CASE WHEN c.req_ms > 0 THEN c.req_ms ELSE 0 END AS req_ms,
               k.server_ms, k.server_status, d.dep_ms
        FROM _fx_tx t
        LEFT JOIN crit c ON c.transaction_id = t.transaction_id
        LEFT JOIN _fx_m r ON r.transaction_id = t.transaction_id AND r.event_id = t.root_event_id
        LEFT JOIN _fx_link k ON k.transaction_id = t.transaction_id AND k.event_id = c.event_id
        LEFT JOIN dep d ON d.transaction_id = t.transaction_id AND d.trace_id = k.server_trace
    ), clamped AS (
        -- DuckDB's least/greatest skip NULLs, so "no server entry" stays explicit with CASE.
        SELECT *, CASE WHEN e2e IS NULL THEN NULL WHEN e2e < 0 THEN 0 ELSE e2e END AS e2e_ms,
               CASE WHEN server_ms IS NULL THEN NULL WHEN server_ms < 0 THEN 0
                    WHEN server_ms > req_ms THEN req_ms ELSE server_ms END AS entry_ms
        FROM parts
    ), p AS (
        SELECT *, CASE WHEN entry_ms IS NULL THEN NULL WHEN coalesce(dep_ms, 0) > entry_ms THEN entry_ms
                       ELSE coalesce(dep_ms, 0) END AS dep_part
        FROM clamped
    )
    SELECT t.transaction_id, t.kind, t.name, {_DIMS}, t.feature_flags, t.start_ts,
           p.e2e_ms,
           CASE WHEN p.e2e_ms IS NOT NULL THEN greatest(p.e2e_ms - p.req_ms, 0) END,
           CASE WHEN p.e2e_ms IS NOT NULL THEN coalesce(p.req_ms - p.entry_ms, 0) END,
           CASE WHEN p.e2e_ms IS NOT NULL THEN coalesce(p.entry_ms - p.dep_part, 0) END,
           CASE WHEN p.e2e_ms IS NOT NULL THEN coalesce(p.dep_part, 0) END,
           CASE WHEN p.e2e_ms IS NOT NULL THEN CASE WHEN p.entry_ms IS NULL THEN p.req_ms ELSE 0 END END,
           n.lcp_ms, p.critical,
           coalesce(n.requests, 0) + CASE WHEN t.kind = 'navigation' THEN 1 ELSE 0 END,
           coalesce(n.status_0, 0),
           coalesce(n.status_4xx, 0) + CASE WHEN t.kind = 'navigation' AND p.server_status BETWEEN 400 AND 499
                                            THEN 1 ELSE 0 END,
           coalesce(n.status_5xx, 0) + CASE WHEN t.kind = 'navigation' AND p.server_status >= 500 THEN 1 ELSE 0 END,
           coalesce(n.js_errors, 0), coalesce(n.server_errors, 0), coalesce(n.timeouts, 0),
           t.correlation_run_id, {_TRANSACTION_ROW}
    FROM _fx_tx t
    JOIN p ON p.transaction_id = t.transaction_id
    LEFT JOIN counts n ON n.transaction_id = t.transaction_id
    LEFT JOIN _fx_m r ON r.transaction_id = t.transaction_id AND r.event_id = t.root_event_id
    LEFT JOIN _fx_brel b ON b.transaction_id = t.transaction_id
    """,
    # Waterfall rows: each member with what its waterfall row shows, ordered by the transaction's
    # start so that one transaction's rows lie together (a lookup reads one row group, not events).
    """
    INSERT INTO waterfall_rows
    SELECT m.transaction_id, t.start_ts, t.session_id, m.event_id,
           to_json(struct_pack(
               kind := m.kind, ts := epoch_us(m.ts), duration_ms := m.duration_ms, service := m.service,
               span_kind := m.span_kind, span_status := m.span_status, name := m.name, http_method := m.http_method,
               route := m.route, url := m.url, http_status := m.http_status, level := m.level, message := m.message,
               error_type := m.error_type, error_message := m.error_message, source := m.source, origin := m.origin,
               position := m.position, position_index := m.position_index, client_ts := epoch_us(m.client_ts),
               clock_offset_ms := m.clock_offset_ms, trace_id := m.trace_id, span_id := m.span_id,
               request_id := m.request_id, db_system := m.db_system, via := m.via, confidence := m.member_confidence,
               link_method := k.link_method, link_confidence := k.link_confidence, server_ms := k.server_ms
           ))::VARCHAR,
           t.correlation_run_id
    FROM _fx_m m
    JOIN _fx_tx t ON t.transaction_id = m.transaction_id
    LEFT JOIN _fx_link k ON k.transaction_id = m.transaction_id AND k.event_id = m.event_id
    ORDER BY t.start_ts, m.transaction_id
    """,
    # Request facts: client requests, gateway lines, service entries, dependency calls.
    f"""
    INSERT INTO request_facts
    WITH spans_by_request AS (
        SELECT DISTINCT transaction_id, service, request_id FROM _fx_m
        WHERE kind = 'span' AND span_kind = 'server' AND request_id IS NOT NULL
    ), rows AS (
        SELECT m.*, CASE
                   WHEN m.kind = 'client_request' THEN 'client'
                   WHEN m.kind = 'page_view' THEN 'document'
                   WHEN m.kind = 'server_request' AND m.source IN ('nginx', 'apache') THEN 'gateway'
                   ELSE 'service' END AS layer
        FROM _fx_m m
        WHERE m.kind IN ('client_request', 'page_view')
           OR (m.kind = 'span' AND m.span_kind = 'server')
           OR (m.kind = 'server_request' AND (m.source IN ('nginx', 'apache') OR NOT EXISTS (
                   SELECT 1 FROM spans_by_request s WHERE s.transaction_id = m.transaction_id
                      AND s.service = m.service AND s.request_id = m.request_id)))
        UNION ALL
        SELECT d.*, 'dependency' AS layer FROM _fx_dep d
    ), linked AS (
        -- How each client request or document was joined, over all its links (as coverage counts it).
        SELECT l.from_event_id, bool_or(l.method <> 'scored') AS exact FROM links l
        WHERE l.from_event_id IN (SELECT event_id FROM _fx_m WHERE kind IN ('client_request', 'page_view'))
        GROUP BY 1
    ), shaped AS (
        -- A document is timed by its TTFB and answered with its server entry's status.
        SELECT m.* REPLACE (
                   CASE WHEN m.layer = 'document' THEN coalesce(m.ttfb, m.duration_ms) ELSE m.duration_ms END
                       AS duration_ms,
                   CASE WHEN m.layer = 'document' THEN k.server_status ELSE m.http_status END AS http_status,
                   CASE WHEN m.layer = 'document' THEN coalesce(m.route, m.page) ELSE m.route END AS route),
               CASE WHEN m.layer NOT IN ('client', 'document') THEN NULL WHEN ld.exact THEN 'exact'
                    WHEN ld.from_event_id IS NOT NULL THEN 'scored' ELSE 'unlinked' END AS linkage,
               u.reason AS unlinked_reason
        FROM rows m
        LEFT JOIN _fx_link k ON m.layer = 'document' AND k.transaction_id = m.transaction_id
                              AND k.event_id = m.event_id
        LEFT JOIN linked ld ON m.layer IN ('client', 'document') AND ld.from_event_id = m.event_id
        LEFT JOIN unlinked_requests u ON m.layer IN ('client', 'document') AND u.event_id = m.event_id
    )
    SELECT m.transaction_id, m.event_id, m.ts, m.layer, m.service,
           CASE WHEN m.layer = 'dependency' THEN coalesce(m.db_system, m.peer, m.name) ELSE m.route END,
           m.http_method, m.http_status, m.duration_ms,
           coalesce(m.http_status = 0 OR {_SERVER_ERROR}, false), coalesce({_TIMEOUT}, false),
           m.linkage, m.unlinked_reason, {_DIMS}, t.correlation_run_id
    FROM shaped m
    JOIN _fx_tx t ON t.transaction_id = m.transaction_id
    LEFT JOIN _fx_m r ON r.transaction_id = t.transaction_id AND r.event_id = t.root_event_id
    LEFT JOIN _fx_brel b ON b.transaction_id = t.transaction_id
    """,
)

_TEMPS = ("_fx_tx", "_fx_m", "_fx_req_trace", "_fx_link", "_fx_brel", "_fx_dep")


def refresh_facts_in(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Bring the fact tables up to date on a write connection (inside the caller's transaction)."""
    started = time.perf_counter()
    con.execute(_STEPS[0])
    todo, lo, hi = con.execute("SELECT count(*), min(start_ts), max(end_ts) FROM _fx_tx").fetchone()
    for step in _STEPS[1:4]:
        con.execute(step)
    if todo:
        lo_bound = con.execute("SELECT ?::TIMESTAMPTZ - INTERVAL 1 HOUR", [lo]).fetchone()[0]
        hi_bound = con.execute("SELECT ?::TIMESTAMPTZ + INTERVAL 1 HOUR", [hi or lo]).fetchone()[0]
        for step in _STEPS[4:]:
            params = {k: v for k, v in {"lo": lo_bound, "hi": hi_bound}.items() if f"${k}" in step}
            con.execute(step, params)
    for temp in _TEMPS:
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return {"transactions": int(todo), "seconds": round(time.perf_counter() - started, 3)}


def refresh_facts(store: Store) -> dict[str, Any]:
    """Bring the fact tables up to date, in one transaction of a writable store."""
    with store.transaction() as con:  # type: ignore[attr-defined]
        return refresh_facts_in(con)


def facts_stale(store: Store) -> bool:
    """True when the facts do not match the transactions (compared per correlation run: a cheap check)."""
    row = store.query(
        """
        SELECT count(*) AS n FROM
            (SELECT correlation_run_id, count(*) AS k FROM transactions GROUP BY 1) t
            FULL JOIN (SELECT correlation_run_id, count(*) AS k FROM transaction_facts GROUP BY 1) f
            USING (correlation_run_id)
        WHERE t.k IS DISTINCT FROM f.k
        """
    ).to_pylist()[0]
    return bool(row["n"])
