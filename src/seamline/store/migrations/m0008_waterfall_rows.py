"""Version 8: `waterfall_rows` — every member of every transaction, laid out for point lookups.

A waterfall used to find its members in `events` by a time range and a list of ids: that
range crosses a row group of every source file ingested for that hour, so the lookup read
tens of megabytes on a store of 10M events. The facts refresh now writes each transaction's
members once more, ordered by the transaction's start, so one transaction is a few consecutive
rows of one row group; what a row shows is packed in one JSON column, because a point lookup
pays per column read (35 columns cost 3-4x one). The session timeline reads its members from there too,
which retires the packed `members` text and its bounds in `transaction_facts`. There the
waterfall's header, the `transactions` row, is kept as JSON (`transaction_row`), so a lookup
reads two tables, not three.

Facts are derived data: the step empties both fact tables so the next `views refresh` (or the
server's scheduler) rebuilds them together with their waterfall rows. DuckDB refuses to drop a
column of an indexed table, hence the index dance.

`correlation_runs.phase_seconds` keeps where each run's time went (clear, window, exact, skew,
scored and its steps, transactions), which `seamline correlate --json` printed but nothing kept.
"""

VERSION = 8
NAME = (
    "waterfall_rows; transaction_facts trades members, members_from, members_to for transaction_row; "
    "correlation_runs.phase_seconds"
)

_INDEXES = (
    "CREATE INDEX transaction_facts_id ON transaction_facts (transaction_id)",
    "CREATE INDEX transaction_facts_session ON transaction_facts (session_id)",
)
_NO_INDEXES = ("DROP INDEX IF EXISTS transaction_facts_session", "DROP INDEX IF EXISTS transaction_facts_id")

UP = [
    """
    CREATE TABLE waterfall_rows (
        transaction_id VARCHAR NOT NULL,
        start_ts TIMESTAMPTZ NOT NULL,
        session_id VARCHAR,
        event_id VARCHAR NOT NULL,
        fields VARCHAR NOT NULL,
        correlation_run_id VARCHAR NOT NULL
    )
    """,
    "DELETE FROM transaction_facts",
    "DELETE FROM request_facts",
    *_NO_INDEXES,
    "ALTER TABLE transaction_facts DROP COLUMN members",
    "ALTER TABLE transaction_facts DROP COLUMN members_from",
    "ALTER TABLE transaction_facts DROP COLUMN members_to",
    "ALTER TABLE transaction_facts ADD COLUMN transaction_row VARCHAR",
    *_INDEXES,
    "ALTER TABLE correlation_runs ADD COLUMN phase_seconds VARCHAR",
]

DOWN = [
    "ALTER TABLE correlation_runs DROP COLUMN phase_seconds",
    *_NO_INDEXES,
    "ALTER TABLE transaction_facts DROP COLUMN transaction_row",
    # Older builds read the packed members and fall back to joining events when they are null.
    "ALTER TABLE transaction_facts ADD COLUMN members VARCHAR",
    "ALTER TABLE transaction_facts ADD COLUMN members_from TIMESTAMPTZ",
    "ALTER TABLE transaction_facts ADD COLUMN members_to TIMESTAMPTZ",
    *_INDEXES,
    "DROP TABLE waterfall_rows",
]

# Derived from events and correlation: a refresh writes them again.
DATA_DROPPED = [
    ("waterfall_rows", None),
    ("transaction_facts", "transaction_row"),
    ("correlation_runs", "phase_seconds"),
]
