"""Version 6: who may do what, and who did — API tokens and the audit log.

Tokens are stored as hashes only; the audit log is append-only (nothing in Seamline updates
or deletes its rows except retention of the log itself, which is audited too).
"""

VERSION = 6
NAME = "api_tokens, audit_log"

UP = [
    """
    CREATE TABLE api_tokens (
        token_id VARCHAR NOT NULL PRIMARY KEY,
        name VARCHAR NOT NULL,
        token_hash VARCHAR NOT NULL UNIQUE,
        role VARCHAR NOT NULL,
        project VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ,
        last_used_at TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE audit_log (
        seq BIGINT NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        actor VARCHAR NOT NULL,
        role VARCHAR,
        action VARCHAR NOT NULL,
        target VARCHAR,
        detail VARCHAR,
        origin VARCHAR NOT NULL,
        ok BOOLEAN NOT NULL
    )
    """,
]

DOWN = [
    "DROP TABLE audit_log",
    "DROP TABLE api_tokens",
]

DATA_DROPPED = [("audit_log", None), ("api_tokens", None)]
