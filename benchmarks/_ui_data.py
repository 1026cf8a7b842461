"""A large correlated store for the UI benchmark, made by copying one simulated, correlated day.

Simulating, ingesting and correlating 10M events takes many minutes, and what the dashboards
read does not depend on how the rows got there. So: simulate one day (~200k events), ingest
and correlate it, then append copies of every stored row (events and everything correlation
built) shifted by whole days, with every id rewritten per copy so copies never join each
other. The copies land in time order, as a live store fills, so DuckDB's per-row-group
min/max on `ts` works as it would on real data.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

from seamline.app import App
from seamline.correlate import correlate
from seamline.settings import Settings
from seamline.simulate import raw_inputs, simulate

# Per table: columns whose id gets a per-copy suffix, and timestamps that shift by whole days.
IDS: dict[str, tuple[str, ...]] = {
    "events": ("event_id", "session_id", "trace_id", "request_id"),
    "links": ("from_event_id", "to_event_id"),
    "transactions": ("transaction_id", "root_event_id", "page_view_id", "session_id"),
    "event_transactions": ("event_id", "transaction_id"),
    "unlinked_requests": ("event_id",),
    "clock_offsets": ("session_id",),
}
TIMES: dict[str, tuple[str, ...]] = {
    "events": ("ts", "received_at", "client_ts"),
    "transactions": ("start_ts", "end_ts"),
    "clock_offsets": ("reference_ts",),
}


def _select(con: duckdb.DuckDBPyConnection, table: str, copy: int) -> str:
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    out = []
    for c in cols:
        if c in IDS.get(table, ()):
            out.append(f"{c} || '.{copy}'")
        elif c in TIMES.get(table, ()):
            out.append(f"{c} + INTERVAL {copy} DAY")
        else:
            out.append(c)
    return f"INSERT INTO {table} SELECT {', '.join(out)} FROM {table}_day"  # names from the catalog, not input


def build(home: Path, sim: Path, events: int, seed: int = 7) -> dict[str, int]:
    """Simulate and correlate one day in `home`, then copy it day after day until `events` rows."""
    settings = Settings({"home": home})
    if settings.database_path.exists():
        app = App(settings)
        have = int(app.store.scalar("SELECT count(*) FROM events") or 0)
        if have >= events:
            app.close()
            return {"events": have, "reused": 1}
        app.close()
        settings.database_path.unlink()
    t = time.perf_counter()
    if not (sim / "truth" / "summary.json").exists():
        simulate(sim, seed=seed, duration_s=86400)
    app = App(settings)
    for path, options in raw_inputs(sim):
        app.ingestor.ingest_file(path, options=options)
    app.writer.flush()
    correlate(app.store, full=True)
    print(f"one day simulated, ingested, correlated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    store = app.store
    day = int(store.scalar("SELECT count(*) FROM events"))
    copies = max(1, -(-events // day))
    t = time.perf_counter()
    with store.transaction() as con:
        con.execute("SET preserve_insertion_order = true")
        for table in IDS:
            con.execute(f"CREATE TEMP TABLE {table}_day AS SELECT * FROM {table}")
    for copy in range(1, copies):
        with store.transaction() as con:
            for table in IDS:
                con.execute(_select(con, table, copy))
        if copy % 10 == 0:
            print(f"  {copy} of {copies - 1} copies", file=sys.stderr)
    with store.transaction() as con:
        for table in IDS:
            con.execute(f"DROP TABLE {table}_day")
    store.checkpoint()
    total = int(store.scalar("SELECT count(*) FROM events"))
    print(f"copied to {total:,} events ({copies} days) in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    app.close()
    return {"events": total, "days": copies, "reused": 0}
