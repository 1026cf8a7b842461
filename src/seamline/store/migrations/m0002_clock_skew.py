"""Version 2: keep the uncorrected client timestamp and the applied clock offset beside ts.

Skew correction must stay visible and reversible: ts holds the corrected time, client_ts what
the device said, clock_offset_ms the difference that was applied.
"""

VERSION = 2
NAME = "events.client_ts and events.clock_offset_ms for visible, reversible skew correction"

UP = [
    "ALTER TABLE events ADD COLUMN client_ts TIMESTAMPTZ",
    "ALTER TABLE events ADD COLUMN clock_offset_ms DOUBLE",
]

DOWN = [
    "ALTER TABLE events DROP COLUMN clock_offset_ms",
    "ALTER TABLE events DROP COLUMN client_ts",
]

DATA_DROPPED = [("events", "client_ts"), ("events", "clock_offset_ms")]
