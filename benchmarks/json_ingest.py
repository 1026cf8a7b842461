"""File ingest of a 1M-line NDJSON server log through the full pipeline, against DuckDB's read_json.

All run in this process on the same file:
- the reference: DuckDB's `read_json` of the file into a table, in its fastest form that stores
  every line (`ignore_errors`, because keys that first appear past DuckDB's 20,480-line sample,
  like the simulator's `upstream`, otherwise abort the read: those few values are dropped) and,
  for context, the form that keeps every value (`sample_size = -1`: a whole-file schema pass);
- Seamline's ingest (framing, json_log parsing, row checks, lineage, transforms,
  pseudonymization, insert, checkpoints);
- the ceiling: inserting the rows Seamline stored, already built as Arrow batches of the same
  size, into a fresh `events` table through the same store call: no parsing at all;
- the floor of any design: one DuckDB statement that reads the file with `read_json` and
  inserts it into a fresh `events` table with the column mapping the json_log preset gives
  this file's keys (the unmapped keys as the attributes map), in parallel, with none of the
  pipeline's work: no checks, conversions, quarantine, lineage, PII scrubbing,
  pseudonymization, route templating or enrichment. What a real pipeline does comes on top, so
  this ratio bounds what the target can ask of one.
Each figure is the best of SEAMLINE_BENCH_ROUNDS (default 2) alternating rounds. Prints the
rates and ratios. Target: >= 0.6x the reference's rate. On a shared machine the wall-clock
ratio swings with the other load (DuckDB's threads lose the most), so the CPU seconds each
side spent (all threads of this process) are printed too: that ratio moves far less.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _data import cycle_lines, largest, simulated
from seamline.app import App
from seamline.schema import EVENTS_SCHEMA
from seamline.settings import Settings
from seamline.sources.json_log import _Parser
from seamline.store import Append, DuckDBStore

LINES = 1_000_000
ROUNDS = int(os.environ.get("SEAMLINE_BENCH_ROUNDS", "2"))


def read_json_rate(root: Path, log: Path, options: str) -> tuple[float, float]:
    """Lines per second of DuckDB's read_json of `log` into a new table, and CPU seconds spent."""
    path = root / f"ref-{abs(hash(options))}.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    t, cpu = time.perf_counter(), time.process_time()
    con.execute(f"CREATE TABLE ref AS SELECT * FROM read_json('{log}', format = 'newline_delimited', {options})")
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    rows = con.execute("SELECT count(*) FROM ref").fetchone()[0]
    con.close()
    path.unlink()
    return rows / seconds, cpu


def insert_ceiling(root: Path, source_db: Path, batch_rows: int) -> float:
    """Rows per second of inserting already-built Arrow batches of our events into a fresh store."""
    src = duckdb.connect(str(source_db), read_only=True)
    table = src.sql("SELECT * FROM events ORDER BY position").to_arrow_table().cast(EVENTS_SCHEMA)
    src.close()
    batches = [table.slice(i, batch_rows).combine_chunks() for i in range(0, table.num_rows, batch_rows)]
    store = DuckDBStore(root / "ceiling.duckdb")
    store.upgrade()
    t = time.perf_counter()
    for batch in batches:
        store.apply([Append("events", batch)])
    seconds = time.perf_counter() - t
    store.close()
    (root / "ceiling.duckdb").unlink()
    return table.num_rows / seconds


_DUCK_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "int16": "SMALLINT", "int64": "BIGINT", "bool": "BOOLEAN"}


def floor_select(log: Path) -> str:
    """SELECT of the file's rows as events: each key to the column the preset maps it to, else to attributes."""
    parser = _Parser({"path": str(log)})
    keys: dict[str, None] = {}
    with log.open("rb") as f:
        for _, line in zip(range(2000), f, strict=False):
            for _ in parser(line):  # settles the preset the way ingest does
                pass
            keys.update(dict.fromkeys(orjson.loads(line)))
    types = {f.name: f.type for f in EVENTS_SCHEMA}
    columns: dict[str, str] = {}
    attributes = []
    for key in keys:
        node = parser.tree.get(key)
        target = node[0] if node is not None else None
        if target in types and target not in columns:
            kind = "TIMESTAMPTZ" if target == "ts" else _DUCK_TYPES.get(str(types[target]), "VARCHAR")
            columns[target] = f'TRY_CAST("{key}" AS {kind})'
        else:
            attributes.append(f"{{'key': '{key}', 'value': \"{key}\"::VARCHAR}}")
    kind = "CASE WHEN http_method IS NULL OR http_status IS NULL THEN 'server_log' ELSE 'server_request' END"
    return (
        f"SELECT gen_random_uuid()::VARCHAR AS event_id, {kind} AS kind, * EXCLUDE (filename), "
        "'json_log' AS source, 'file:' || filename AS origin, 'b' AS ingest_batch_id, 0 AS schema_version "
        f"FROM (SELECT {', '.join(f'{sql} AS {name}' for name, sql in columns.items())}, filename, "
        f"map_from_entries(list_filter([{', '.join(attributes)}], lambda e: e.value IS NOT NULL)) AS attributes "
        f"FROM read_json('{log}', format = 'newline_delimited', ignore_errors = true, filename = true))"
    )


def sql_floor_rate(root: Path, log: Path) -> float:
    """Lines per second of one INSERT INTO events ... SELECT FROM read_json: the bare minimum."""
    store = DuckDBStore(root / "floor.duckdb")
    store.upgrade()
    select = floor_select(log)
    with store.transaction() as con:
        con.execute("SET enable_progress_bar = false")
        names = [d[0] for d in con.execute(f"SELECT * FROM ({select}) LIMIT 0").description]
        t = time.perf_counter()
        con.execute(f"INSERT INTO events ({', '.join(names)}) SELECT * FROM ({select})")
        seconds = time.perf_counter() - t
    rows = store.query("SELECT count(*) FROM events").column(0)[0].as_py()
    store.close()
    (root / "floor.duckdb").unlink()
    return rows / seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim = simulated(root / "sim")
        log = root / "server.ndjson"
        source_log = largest(sorted((sim / "services").glob("*.ndjson")))
        cycle_lines([source_log], log, lines=LINES)
        size_mb = log.stat().st_size / 1e6
        print(f"input: {LINES:,} lines, {size_mb:.0f} MB, shaped like {source_log.name}")

        # Best of alternating rounds: a shared machine's noise hits both sides alike.
        duck_rate = full_rate = our_rate = ceiling = floor = 0.0
        duck_cpu = our_cpu = float("inf")
        for n in range(ROUNDS):
            rate, cpu = read_json_rate(root, log, "ignore_errors = true")
            duck_rate, duck_cpu = max(duck_rate, rate), min(duck_cpu, cpu)
            full_rate = max(full_rate, read_json_rate(root, log, "sample_size = -1")[0])
            floor = max(floor, sql_floor_rate(root, log))
            settings = Settings({"home": root / f"home{n}"})
            app = App(settings)
            _ = app.ingestor  # store opened and migrated before the clock starts, as the reference connects first
            t, cpu = time.perf_counter(), time.process_time()
            result = app.ingestor.ingest_file(log, source="json_log")
            our_rate = max(our_rate, result.records_read / (time.perf_counter() - t))
            our_cpu = min(our_cpu, time.process_time() - cpu)
            app.close()
            ceiling = max(ceiling, insert_ceiling(root, settings.database_path, settings.batch_rows))
            settings.database_path.unlink()

    print(f"reference: duckdb read_json -> table (ignore_errors): {duck_rate:,.0f} lines/s")
    print(f"           duckdb read_json -> table (sample_size=-1, keeps every key): {full_rate:,.0f} lines/s")
    print(
        f"seamline ingest (full pipeline): {result.rows_stored:,} stored, {result.rows_quarantined:,} quarantined, "
        f"{our_rate:,.0f} lines/s"
    )
    print(f"ceiling: insert of the same rows as ready Arrow batches of {settings.batch_rows:,}: {ceiling:,.0f} rows/s")
    print(f"ratio seamline / duckdb: {our_rate / duck_rate:.2f}  (target >= 0.6)")
    print(
        f"cpu seconds (all threads): duckdb {duck_cpu:.1f}, seamline {our_cpu:.1f}; "
        f"duckdb / seamline: {duck_cpu / our_cpu:.2f}"
    )
    print(f"ratio ceiling / duckdb: {ceiling / duck_rate:.2f}; seamline / ceiling: {our_rate / ceiling:.2f}")
    print(
        f"floor of any design: one INSERT INTO events SELECT from read_json, mapping only: {floor:,.0f} lines/s; "
        f"floor / duckdb: {floor / duck_rate:.2f}; seamline / floor: {our_rate / floor:.2f}"
    )


if __name__ == "__main__":
    main()
