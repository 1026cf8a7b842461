"""Version 7: schema governance — who applied each migration with which dictionary, and the
fields and value types each source has sent, so new fields and type changes are reported.

`field_observations` is filled at ingest (one upsert per committed batch); `schema_migrations`
gains the actor, the data dictionary's structural hash and the Seamline version of each step.
"""

VERSION = 7
NAME = "field_observations; schema_migrations.applied_by, dictionary_hash, seamline_version"

UP = [
    "ALTER TABLE schema_migrations ADD COLUMN applied_by VARCHAR",
    "ALTER TABLE schema_migrations ADD COLUMN dictionary_hash VARCHAR",
    "ALTER TABLE schema_migrations ADD COLUMN seamline_version VARCHAR",
    """
    CREATE TABLE field_observations (
        source VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        value_type VARCHAR NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ NOT NULL,
        first_ingest_batch_id VARCHAR,
        rows BIGINT NOT NULL,
        accepted_at TIMESTAMPTZ,
        accepted_by VARCHAR,
        PRIMARY KEY (source, field, value_type)
    )
    """,
]

DOWN = [
    "DROP TABLE field_observations",
    "ALTER TABLE schema_migrations DROP COLUMN seamline_version",
    "ALTER TABLE schema_migrations DROP COLUMN dictionary_hash",
    "ALTER TABLE schema_migrations DROP COLUMN applied_by",
]

# The observations are the drift baseline: losing them makes every field look new again.
# The three schema_migrations columns are bookkeeping about the migrations themselves; the
# rows of the migrations that a rollback undoes go anyway, so they are not counted here.
DATA_DROPPED = [("field_observations", None)]
