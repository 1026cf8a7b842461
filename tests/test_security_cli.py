"""The CLI cannot be turned against the store or the machine: `seamline query` only reads, values that
reach SQL are bound, and file paths taken from stored data stay where Seamline put them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from seamline.app import App
from seamline.cli import app as cli
from seamline.settings import Settings
from seamline.store import DuckDBStore
from seamline.web.ui._raw import event_record

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def _fill(home: Path) -> Path:
    application = App(Settings({"home": home}))
    application.ingestor.ingest_file(FIXTURES / "nginx" / "gateway.log", source="nginx")
    application.close()
    store = DuckDBStore(home / "seamline.duckdb")
    store.execute("CREATE TABLE security_canary AS SELECT 1 AS id, 'intact' AS note")
    store.close()
    return home


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding the nginx fixture and a canary table, shared read-mostly; no process keeps it open."""
    home = tmp_path_factory.mktemp("cli") / "home"
    home.mkdir()
    return _fill(home)


def _state(home: Path) -> tuple[list[str], int, list[str]]:
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    try:
        return store.tables(), int(store.scalar("SELECT count(*) FROM events")), sorted(p.name for p in home.iterdir())
    finally:
        store.close()


def _query(home: Path, sql: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["query", sql, "--home", str(home), "--format", "json"])
    return result.exit_code, result.output


def test_query_still_answers_selects(filled: Path) -> None:
    """A plain SELECT, a CTE, DESCRIBE and EXPLAIN run and print rows."""
    code, out = _query(filled, "SELECT count(*) AS n FROM events")
    assert code == 0 and '"n"' in out
    for sql in ("WITH a AS (SELECT 1 AS x) SELECT * FROM a", "DESCRIBE events", "EXPLAIN SELECT * FROM events"):
        code, out = _query(filled, sql)
        assert code == 0, (sql, out)


REFUSED = (
    "INSERT INTO events (event_id) VALUES ('x')",
    "UPDATE security_canary SET note = 'gone'",
    "DELETE FROM events",
    "DROP TABLE security_canary",
    "CREATE TABLE evil AS SELECT 1",
    "CREATE TEMP TABLE evil AS SELECT 1",
    "ATTACH '{home}/evil.duckdb' AS evil",
    "ATTACH ':memory:' AS evil",
    "DETACH seamline",
    "COPY events TO '{home}/stolen.csv'",
    "COPY (SELECT * FROM events) TO '{home}/stolen.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{home}/export'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA enable_profiling",
    "SET memory_limit = '100GB'",
    "SET enable_external_access = true",
    "CALL pragma_version()",
    "CHECKPOINT",
    "SELECT 1; DROP TABLE security_canary",
    "SELECT 1; ATTACH '{home}/evil.duckdb' AS evil",
    "USE memory",
)


def test_query_refuses_anything_but_one_select(filled: Path) -> None:
    """Writes, ATTACH, COPY, EXPORT, INSTALL/LOAD, PRAGMA, SET and stacked statements are refused; nothing changes."""
    before = _state(filled)
    for sql in REFUSED:
        code, out = _query(filled, sql.format(home=filled))
        assert code != 0, sql
        assert "refused" in out or "exactly one SELECT" in out, (sql, out)
        assert "Traceback" not in out, (sql, out)
    assert _state(filled) == before, "the store and the home directory are unchanged"


UNREADABLE = (
    "SELECT * FROM read_text('{home}/pseudonym.key')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM read_blob('{home}/pseudonym.key')",
    "SELECT * FROM read_parquet('{home}/*.parquet')",
    "SELECT * FROM read_json_auto('https://example.com/x.json')",
    "SELECT * FROM '{home}/pseudonym.key'",
    "SELECT * FROM query_table('security_canary') UNION ALL SELECT * FROM read_csv('/etc/hostname')",
)


def test_query_cannot_read_files_or_the_network(filled: Path) -> None:
    """Table functions that read files (the pseudonym key, /etc) or URLs are refused inside a SELECT."""
    key = (filled / "pseudonym.key").read_bytes()
    for sql in UNREADABLE:
        code, out = _query(filled, sql.format(home=filled))
        assert code != 0, (sql, out)
        assert "root:" not in out and key.hex() not in out and key.decode("latin-1") not in out, sql


def test_values_given_to_commands_reach_sql_only_as_bound_parameters(filled: Path) -> None:
    """Injections through trace ids, quarantine reasons and view parameters answer cleanly and change nothing."""
    before = _state(filled)
    payloads = ("'; DROP TABLE security_canary; --", "%' OR 1=1 --")
    for payload in payloads:
        result = runner.invoke(cli, ["trace", payload, "--home", str(filled)])
        assert result.exit_code == 1 and "no transaction found" in result.output
        result = runner.invoke(cli, ["quarantine", "list", "--reason", payload, "--home", str(filled), "-f", "json"])
        assert result.exit_code == 0 and result.output.strip() in ("[]", ""), result.output
        for args in (["-p", f"release={payload}"], ["-p", f"range={payload}"], ["-p", f"by={payload}"]):
            result = runner.invoke(cli, ["views", "show", "failures", *args, "--home", str(filled)])
            assert "Binder Error" not in result.output and "Parser Error" not in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert _state(filled) == before


def test_raw_line_is_read_only_from_files_seamline_ingested(home: Path, tmp_path: Path) -> None:
    """An event whose origin names a file Seamline never ingested (e.g. planted in the store) shows no raw line."""
    filled = _fill(home)
    secret = tmp_path / "secret.log"
    secret.write_text("top secret line\n")
    store = DuckDBStore(filled / "seamline.duckdb")
    try:
        store.execute(
            "INSERT INTO events (event_id, ts, kind, source, origin, position, ingest_batch_id, schema_version) "
            "SELECT 'planted', ts, kind, source, ?, 1, ingest_batch_id, schema_version FROM events LIMIT 1",
            [str(secret)],
        )
        planted = event_record(store, "planted")
        assert planted is not None and planted["raw"] is None
        real = store.query("SELECT event_id FROM events WHERE event_id <> 'planted' LIMIT 1").column(0)[0].as_py()
        record = event_record(store, real)
        assert record is not None and record["raw"], "a line of an ingested file is shown"
    finally:
        store.close()
