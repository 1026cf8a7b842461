"""Version 4: what the dashboards read — per-transaction and per-request facts — and saved views.

The two fact tables are derived from events and correlation (rebuilt by
`seamline.views.facts.refresh_facts`), so dashboards scan one narrow row per transaction or
request instead of joining millions of events. `saved_views` holds what teams saved.
"""

VERSION = 4
NAME = "transaction_facts, request_facts, saved_views"

_DIMENSIONS = """
        flow VARCHAR,
        page VARCHAR,
        session_id VARCHAR,
        user_key VARCHAR,
        environment VARCHAR,
        release VARCHAR,
        backend_release VARCHAR,
        region VARCHAR,
        browser VARCHAR,
        segment VARCHAR,
"""

UP = [
    f"""
    CREATE TABLE transaction_facts (
        transaction_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        name VARCHAR,
        {_DIMENSIONS}
        feature_flags MAP(VARCHAR, VARCHAR),
        start_ts TIMESTAMPTZ NOT NULL,
        e2e_ms DOUBLE,
        client_ms DOUBLE,
        network_ms DOUBLE,
        server_ms DOUBLE,
        dependency_ms DOUBLE,
        unattributed_ms DOUBLE,
        lcp_ms DOUBLE,
        critical_event_id VARCHAR,
        requests INTEGER,
        status_0 INTEGER,
        status_4xx INTEGER,
        status_5xx INTEGER,
        js_errors INTEGER,
        server_errors INTEGER,
        timeouts INTEGER,
        members VARCHAR,
        members_from TIMESTAMPTZ,
        members_to TIMESTAMPTZ,
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    # Point lookups (a transaction's waterfall, a session's timeline) must not scan a million rows.
    "CREATE INDEX transaction_facts_id ON transaction_facts (transaction_id)",
    "CREATE INDEX transaction_facts_session ON transaction_facts (session_id)",
    f"""
    CREATE TABLE request_facts (
        transaction_id VARCHAR NOT NULL,
        event_id VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        layer VARCHAR NOT NULL,
        service VARCHAR,
        route VARCHAR,
        http_method VARCHAR,
        http_status SMALLINT,
        duration_ms DOUBLE,
        failed BOOLEAN NOT NULL,
        timeout BOOLEAN NOT NULL,
        linkage VARCHAR,
        unlinked_reason VARCHAR,
        {_DIMENSIONS}
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE saved_views (
        view_id VARCHAR NOT NULL PRIMARY KEY,
        name VARCHAR NOT NULL,
        team VARCHAR NOT NULL,
        page VARCHAR NOT NULL,
        query VARCHAR NOT NULL,
        description VARCHAR,
        based_on VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )
    """,
]

DOWN = [
    "DROP TABLE saved_views",
    "DROP TABLE request_facts",
    "DROP INDEX IF EXISTS transaction_facts_session",
    "DROP INDEX IF EXISTS transaction_facts_id",
    "DROP TABLE transaction_facts",
]

# The facts are rebuilt from events by `refresh_facts`; saved views are people's work.
DATA_DROPPED = [("saved_views", None), ("request_facts", None), ("transaction_facts", None)]
