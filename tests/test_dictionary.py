"""The data dictionary guards every stored column."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from seamline import dictionary
from seamline.schema import EVENTS_SCHEMA, TABLE_SCHEMAS, rows_to_batch
from seamline.store import DuckDBStore
from seamline.validate import count_out_of_range

ROOT = Path(__file__).parents[1]
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp[us, tz=UTC]": "TIMESTAMP WITH TIME ZONE",
    "map<string, string>": "MAP(VARCHAR, VARCHAR)",
}


def test_every_store_column_has_a_dictionary_entry(tmp_path: Path) -> None:
    """Each column of each table created by the migrations is documented, with a matching type."""
    store = DuckDBStore(tmp_path / "db.duckdb")
    store.upgrade()
    for table in store.tables():
        assert table in dictionary.TABLES, f"table {table} has no dictionary section"
        documented = {c.name: c for c in dictionary.TABLES[table]}
        for name, duck_type in store.table_columns(table):
            assert name in documented, f"column {table}.{name} has no dictionary entry"
            assert DUCKDB_TYPES[str(documented[name].type)] == duck_type, f"{table}.{name} type differs"
        assert [n for n, _ in store.table_columns(table)] == [c.name for c in dictionary.TABLES[table]]
    store.close()


def test_every_entry_is_complete() -> None:
    """Every dictionary entry has a meaning sentence, a valid privacy class and a sane range."""
    for table, cols in dictionary.TABLES.items():
        names = [c.name for c in cols]
        assert len(names) == len(set(names)), f"duplicate column in {table}"
        for col in cols:
            assert len(col.meaning) > 10 and col.meaning.endswith("."), f"{table}.{col.name} meaning"
            assert isinstance(col.privacy, dictionary.Privacy)
            if col.minimum is not None and col.maximum is not None:
                assert col.minimum < col.maximum


def test_identity_columns_are_never_plain_personal() -> None:
    """Columns that identify a person are pseudonymous, so raw values never reach the store."""
    for name in ("user_id", "anonymous_id", "device_id", "client_ip", "session_id"):
        assert dictionary.column("events", name).privacy == dictionary.Privacy.PSEUDONYMOUS


def test_generated_markdown_is_up_to_date() -> None:
    """docs/dictionary.md matches what the code generates (run `make docs` after a change)."""
    assert (ROOT / "docs" / "dictionary.md").read_text() == dictionary.to_markdown()


def test_cli_prints_dictionary_in_each_format() -> None:
    """`seamline dictionary` prints JSON with every column, and Markdown with every table."""
    import orjson

    out = subprocess.run(
        [sys.executable, "-m", "seamline.cli", "dictionary", "--format", "json"], capture_output=True, check=True
    ).stdout
    rows = orjson.loads(out)
    assert {r["name"] for r in rows if r["table"] == "events"} == set(EVENTS_SCHEMA.names)
    md = subprocess.run(
        [sys.executable, "-m", "seamline.cli", "dictionary", "--format", "markdown"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert all(f"## `{t}`" in md for t in dictionary.TABLES)


def test_validator_counts_out_of_range_without_dropping(tmp_path: Path) -> None:
    """Values outside the dictionary range are counted per column and the rows remain."""
    base = {"event_id": "e", "ts": 0, "source": "t", "origin": "o", "ingest_batch_id": "b", "schema_version": 2}
    rows = [
        {**base, "kind": "span", "duration_ms": -1.0, "http_status": 200},
        {**base, "kind": "nonsense", "duration_ms": 5.0, "http_status": 999},
        {**base, "kind": "span", "duration_ms": 5.0, "device_type": "toaster"},
    ]
    store = DuckDBStore(tmp_path / "v.duckdb")
    store.upgrade()
    store.append("events", rows_to_batch(rows))
    assert count_out_of_range(store) == {"kind": 1, "duration_ms": 1, "http_status": 1, "device_type": 1}
    assert count_out_of_range(store, "http_status = ?", [999]) == {"kind": 1, "http_status": 1}
    assert store.scalar("SELECT count(*) FROM events") == 3
    store.close()


def test_arrow_schemas_follow_the_dictionary() -> None:
    """The Arrow schema of every table lists the dictionary's columns in order with its types."""
    for table, schema in TABLE_SCHEMAS.items():
        assert [(f.name, f.type) for f in schema] == [(c.name, c.type) for c in dictionary.TABLES[table]]
    assert EVENTS_SCHEMA.field("ts").type == pa.timestamp("us", tz="UTC")
    assert re.fullmatch(r"[a-z_]+", "".join(EVENTS_SCHEMA.names))
