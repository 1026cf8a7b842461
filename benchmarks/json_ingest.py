"""File ingest of a 1M-line NDJSON server log through the full pipeline, against DuckDB's read_json.

Both run in this process on the same file: Seamline (framing, json_log parsing, checks,
transforms, pseudonymization, insert) and DuckDB's `read_json` into a table. Prints both
rates and the ratio. Target: >= 0.6x DuckDB's rate.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from _data import cycle_lines, largest, simulated
from seamline.app import App
from seamline.settings import Settings

LINES = 1_000_000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim = simulated(root / "sim")
        log = root / "server.ndjson"
        source_log = largest(sorted((sim / "services").glob("*.ndjson")))
        cycle_lines([source_log], log, lines=LINES)
        size_mb = log.stat().st_size / 1e6
        print(f"input: {LINES:,} lines, {size_mb:.0f} MB, shaped like {source_log.name}")

        con = duckdb.connect(str(root / "ref.duckdb"))
        t = time.perf_counter()
        con.execute(f"CREATE TABLE ref AS SELECT * FROM read_json('{log}', format = 'newline_delimited')")
        duck_s = time.perf_counter() - t
        duck_rows = con.execute("SELECT count(*) FROM ref").fetchone()[0]
        con.close()

        app = App(Settings({"home": root / "home"}))
        t = time.perf_counter()
        result = app.ingestor.ingest_file(log, source="json_log")
        ours_s = time.perf_counter() - t
        app.close()

    duck_rate = duck_rows / duck_s
    our_rate = result.records_read / ours_s
    print(f"duckdb read_json -> table: {duck_rows:,} rows in {duck_s:.2f} s = {duck_rate:,.0f} lines/s")
    print(
        f"seamline ingest (full pipeline): {result.rows_stored:,} stored, {result.rows_quarantined:,} quarantined "
        f"in {ours_s:.2f} s = {our_rate:,.0f} lines/s"
    )
    print(f"ratio seamline / duckdb: {our_rate / duck_rate:.2f}  (target >= 0.6)")


if __name__ == "__main__":
    main()
