"""Version 3: what correlation produces — links, transactions, membership, clock offsets, runs."""

VERSION = 3
NAME = "links, transactions, event_transactions, clock_offsets, unlinked_requests, correlation_runs"

UP = [
    """
    CREATE TABLE links (
        from_event_id VARCHAR NOT NULL,
        to_event_id VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        confidence DOUBLE NOT NULL,
        features VARCHAR,
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE transactions (
        transaction_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        root_event_id VARCHAR NOT NULL,
        page_view_id VARCHAR,
        session_id VARCHAR,
        user_id VARCHAR,
        anonymous_id VARCHAR,
        device_id VARCHAR,
        flow VARCHAR,
        name VARCHAR,
        page VARCHAR,
        environment VARCHAR,
        release VARCHAR,
        region VARCHAR,
        browser VARCHAR,
        feature_flags MAP(VARCHAR, VARCHAR),
        start_ts TIMESTAMPTZ NOT NULL,
        end_ts TIMESTAMPTZ,
        duration_ms DOUBLE,
        client_requests INTEGER,
        server_records INTEGER,
        errors INTEGER,
        max_status SMALLINT,
        links_exact INTEGER,
        links_scored INTEGER,
        requests_unlinked INTEGER,
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE event_transactions (
        event_id VARCHAR NOT NULL,
        transaction_id VARCHAR NOT NULL,
        via VARCHAR NOT NULL,
        confidence DOUBLE NOT NULL,
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE clock_offsets (
        session_id VARCHAR NOT NULL,
        device_id VARCHAR,
        method VARCHAR NOT NULL,
        offset_ms DOUBLE NOT NULL,
        drift_ms_per_min DOUBLE,
        reference_ts TIMESTAMPTZ,
        pairs INTEGER,
        spread_ms DOUBLE,
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE unlinked_requests (
        event_id VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        best_confidence DOUBLE,
        candidates INTEGER,
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE correlation_runs (
        correlation_run_id VARCHAR NOT NULL PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        window_start TIMESTAMPTZ,
        window_end TIMESTAMPTZ,
        events_considered BIGINT,
        links_exact BIGINT,
        links_scored BIGINT,
        transactions BIGINT,
        seconds DOUBLE,
        last_rowid BIGINT,
        status VARCHAR
    )
    """,
]

DOWN = [
    "DROP TABLE correlation_runs",
    "DROP TABLE unlinked_requests",
    "DROP TABLE clock_offsets",
    "DROP TABLE event_transactions",
    "DROP TABLE transactions",
    "DROP TABLE links",
]

# Everything here is derived from events and is rebuilt by `seamline correlate`, so a
# rollback loses no source data; it still counts as values at risk, so it needs --force.
DATA_DROPPED = [
    ("links", None),
    ("transactions", None),
    ("event_transactions", None),
    ("clock_offsets", None),
    ("unlinked_requests", None),
    ("correlation_runs", None),
]
