"""Version 1: the unified events table, quarantine, ingest runs and file checkpoints."""

VERSION = 1
NAME = "events, quarantine, ingest_batches, ingest_offsets"

UP = [
    """
    CREATE TABLE events (
        event_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        duration_ms DOUBLE,
        received_at TIMESTAMPTZ,
        client_ts_raw VARCHAR,
        session_id VARCHAR,
        user_id VARCHAR,
        anonymous_id VARCHAR,
        device_id VARCHAR,
        client_ip VARCHAR,
        trace_id VARCHAR,
        span_id VARCHAR,
        parent_span_id VARCHAR,
        request_id VARCHAR,
        trace_sampled BOOLEAN,
        environment VARCHAR,
        service VARCHAR,
        host VARCHAR,
        release VARCHAR,
        feature_flags MAP(VARCHAR, VARCHAR),
        segment VARCHAR,
        region VARCHAR,
        http_method VARCHAR,
        url VARCHAR,
        route VARCHAR,
        http_status SMALLINT,
        request_bytes BIGINT,
        response_bytes BIGINT,
        upstream_ms DOUBLE,
        page VARCHAR,
        referrer VARCHAR,
        user_agent VARCHAR,
        browser VARCHAR,
        browser_version VARCHAR,
        os VARCHAR,
        device_type VARCHAR,
        network_type VARCHAR,
        network_rtt_ms DOUBLE,
        visibility VARCHAR,
        name VARCHAR,
        value DOUBLE,
        level VARCHAR,
        message VARCHAR,
        span_kind VARCHAR,
        span_status VARCHAR,
        error_type VARCHAR,
        error_message VARCHAR,
        error_fingerprint VARCHAR,
        attributes MAP(VARCHAR, VARCHAR),
        source VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        position BIGINT,
        position_index INTEGER,
        ingest_batch_id VARCHAR NOT NULL,
        schema_version SMALLINT NOT NULL
    )
    """,
    """
    CREATE TABLE quarantine (
        quarantine_id VARCHAR NOT NULL,
        received_at TIMESTAMPTZ NOT NULL,
        source VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        position BIGINT,
        position_index INTEGER,
        reason VARCHAR NOT NULL,
        raw VARCHAR,
        raw_bytes BIGINT,
        ingest_batch_id VARCHAR NOT NULL,
        reingested_at TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE ingest_batches (
        ingest_batch_id VARCHAR NOT NULL PRIMARY KEY,
        source VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        records_read BIGINT,
        rows_stored BIGINT,
        rows_quarantined BIGINT,
        status VARCHAR
    )
    """,
    """
    CREATE TABLE ingest_offsets (
        origin VARCHAR NOT NULL PRIMARY KEY,
        fingerprint VARCHAR NOT NULL,
        offset_bytes BIGINT,
        lines BIGINT,
        updated_at TIMESTAMPTZ
    )
    """,
]

DOWN = [
    "DROP TABLE ingest_offsets",
    "DROP TABLE ingest_batches",
    "DROP TABLE quarantine",
    "DROP TABLE events",
]

DATA_DROPPED = [("events", None), ("quarantine", None), ("ingest_batches", None), ("ingest_offsets", None)]
