"""Exact links: client records and the server records that carry the same ids.

- A client request's injected traceparent names the client span S of trace T; the gateway's
  access-log line, the first server span and a request log line written by middleware all
  record (T, parent S): method `traceparent`.
- A page view's traceparent came back from the server (Server-Timing or a meta tag) and
  names the server's own span D of trace T: the span (T, D) is linked by `server_timing`,
  and the access-log line of the same request through the request id that span carries
  (`request_id`).

Everything here is one SQL statement per method, run inside the correlation transaction.
"""

from __future__ import annotations

import duckdb

from seamline.correlate._window import Window

SERVER_KINDS = "('server_request', 'span')"

# (method, SQL selecting client_event_id, server_event_id for client records in the window)
EXACT_LINK_QUERIES: tuple[tuple[str, str], ...] = (
    (
        "traceparent",
        f"""
        SELECT c.event_id AS client_event_id, s.event_id AS server_event_id
        FROM events c JOIN events s ON s.trace_id = c.trace_id AND s.parent_span_id = c.span_id
        WHERE c.kind = 'client_request' AND c.span_id IS NOT NULL AND s.kind IN {SERVER_KINDS}
          AND (s.kind = 'server_request' OR s.span_kind = 'server')
          AND c.ts BETWEEN $start AND $end
        """,
    ),
    (
        "server_timing",
        f"""
        SELECT c.event_id AS client_event_id, s.event_id AS server_event_id
        FROM events c JOIN events s ON s.trace_id = c.trace_id AND s.span_id = c.parent_span_id
        WHERE c.kind = 'page_view' AND c.parent_span_id IS NOT NULL AND s.kind IN {SERVER_KINDS}
          AND s.span_kind = 'server' AND c.ts BETWEEN $start AND $end
        """,
    ),
    (
        "request_id",
        """
        SELECT c.event_id AS client_event_id, g.event_id AS server_event_id
        FROM events c
        JOIN events s ON s.trace_id = c.trace_id AND s.span_id = c.parent_span_id AND s.span_kind = 'server'
        JOIN events g ON g.request_id = s.request_id AND g.kind = 'server_request' AND g.source IN ('nginx', 'apache')
        WHERE c.kind = 'page_view' AND c.parent_span_id IS NOT NULL AND s.request_id IS NOT NULL
          AND c.ts BETWEEN $start AND $end
        """,
    ),
)

# One row per exactly linked (client record, server entry) with both sides' timings.
# Clock-skew estimation reads this; client_start_us is on the DEVICE clock.
EXACT_PAIRS_SQL = """
SELECT l.from_event_id AS client_event_id, l.to_event_id AS server_event_id, l.method,
       c.kind AS client_kind, c.session_id, c.device_id,
       epoch_us(coalesce(c.client_ts, c.ts)) AS client_start_us,
       epoch_us(c.ts) AS client_ts_us,
       c.clock_offset_ms AS ingest_offset_ms,
       c.duration_ms AS client_duration_ms,
       epoch_us(s.ts) AS server_start_us, s.duration_ms AS server_duration_ms,
       s.kind AS server_kind, s.source AS server_source, s.origin AS server_origin
FROM links l
JOIN events c ON c.event_id = l.from_event_id
JOIN events s ON s.event_id = l.to_event_id
WHERE l.method <> 'scored' AND l.correlation_run_id = $run_id
"""


def link_exact(con: duckdb.DuckDBPyConnection, window: Window, run_id: str) -> dict[str, int]:
    """Insert exact links for client records in the window; returns counts per method."""
    counts: dict[str, int] = {}
    for method, query in EXACT_LINK_QUERIES:
        con.execute(
            f"""
            INSERT INTO links (from_event_id, to_event_id, method, confidence, features, correlation_run_id)
            SELECT DISTINCT client_event_id, server_event_id, '{method}', 1.0, NULL, $run_id FROM ({query})
            """,
            {"start": window.start, "end": window.end, "run_id": run_id},
        )
        counts[method] = int(
            con.execute(
                "SELECT count(*) FROM links WHERE method = ? AND correlation_run_id = ?", [method, run_id]
            ).fetchone()[0]
        )
    return counts
