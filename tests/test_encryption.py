"""Encryption at rest: with a key configured the database file is unreadable without it, and everything works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ingest_simulated
from seamline.app import App
from seamline.cli import app as cli
from seamline.settings import Settings
from seamline.store import DuckDBStore, StoreError, open_store

KEY = "correct horse battery staple 42"
MARKER = "PLAINTEXT-MARKER-7f3a9c"
# The httpfs extension (OpenSSL) is not installable offline for this DuckDB; tests accept the built-in crypto.
BUILTIN = {"encryption_builtin_crypto": True}


def _log_file(tmp_path: Path, lines: int = 200) -> Path:
    path = tmp_path / "app.jsonl"
    with path.open("w") as f:
        for i in range(lines):
            record = {
                "ts": f"2026-11-20T10:00:{i % 60:02d}Z",
                "level": "info",
                "service": "api",
                "msg": f"{MARKER} {i}",
            }
            f.write(json.dumps(record) + "\n")
    return path


def _bytes_on_disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("seamline.duckdb*") if p.is_file())


def _ingest(home: Path, source: Path) -> None:
    with App(Settings({"home": home, **BUILTIN})) as application:
        application.ingestor.ingest_file(source)


def test_encrypted_file_hides_plaintext_and_needs_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same ingest leaves the marker readable in a plain file, nowhere in an encrypted one, which needs its key."""
    source = _log_file(tmp_path)
    plain, secret = tmp_path / "plain", tmp_path / "secret"
    _ingest(plain, source)
    assert MARKER.encode() in _bytes_on_disk(plain), "the check can see plaintext when there is some"
    monkeypatch.setenv("SEAMLINE_ENCRYPTION_KEY", KEY)
    _ingest(secret, source)
    assert MARKER.encode() not in _bytes_on_disk(secret)
    with App(Settings({"home": secret, **BUILTIN}), read_only=True) as application:
        assert application.store.scalar("SELECT count(*) FROM events WHERE message LIKE ?", [f"{MARKER}%"]) == 200
    with pytest.raises(StoreError, match="is encrypted"):
        DuckDBStore(secret / "seamline.duckdb", read_only=True)
    monkeypatch.setenv("SEAMLINE_ENCRYPTION_KEY", "another key of enough length")
    with pytest.raises(StoreError, match="key is wrong"):
        open_store(Settings({"home": secret, **BUILTIN}), read_only=True)


def test_key_file_setting_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key file works like the variable; a short key, a missing file, a plain database with a key: clear errors."""
    monkeypatch.delenv("SEAMLINE_ENCRYPTION_KEY", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "db.key").write_text(KEY + "\n")
    settings = Settings({"home": home, "encryption_key_file": "db.key", **BUILTIN})
    open_store(settings).close()
    assert open_store(settings, read_only=True).encrypted
    (home / "short.key").write_text("short")
    with pytest.raises(StoreError, match="shorter than 16"):
        open_store(Settings({"home": home, "encryption_key_file": "short.key"}))
    with pytest.raises(StoreError, match="cannot read the encryption key"):
        open_store(Settings({"home": home, "encryption_key_file": "missing.key"}))
    other = tmp_path / "plain"
    open_store(Settings({"home": other})).close()
    with pytest.raises(StoreError, match="not encrypted"):
        open_store(Settings({"home": other, "encryption_key_file": str(home / "db.key"), **BUILTIN}))


def test_writing_needs_secure_crypto_unless_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the httpfs extension, writing an encrypted store is refused unless built-in crypto is accepted."""
    import duckdb

    con = duckdb.connect()
    row = con.execute("SELECT installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'").fetchone()
    con.close()
    if row and row[0]:
        pytest.skip("httpfs is installed here: encrypted writes use OpenSSL")
    monkeypatch.setenv("SEAMLINE_ENCRYPTION_KEY", KEY)
    with pytest.raises(StoreError, match="httpfs"):
        open_store(Settings({"home": tmp_path / "h"}))


def test_ingest_correlation_and_every_view_work_encrypted(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulated shop ingests, correlates and answers every dashboard view from an encrypted store."""
    from seamline.correlate import correlate
    from seamline.views import VIEWS
    from seamline.views.facts import refresh_facts

    monkeypatch.setenv("SEAMLINE_ENCRYPTION_KEY", KEY)
    home = tmp_path / "home"
    with App(Settings({"home": home, **BUILTIN})) as application:
        ingest_simulated(application, simulated)
        application.writer.flush()
        result = correlate(application.store, full=True)
        assert result.as_dict()["transactions"] > 0
        refresh_facts(application.store)
        store = application.store
        tx = store.query("SELECT transaction_id, session_id FROM transaction_facts LIMIT 1").to_pylist()[0]
        params = {"session": {"session_id": tx["session_id"]}, "waterfall": {"ident": tx["transaction_id"]}}
        answered = {}
        for name, view in VIEWS.items():
            data = view.call(store, {"range": "all", **params.get(name, {})}, application.settings.home_dir)
            answered[name] = data is not None
        assert all(answered.values()), answered
        overview = VIEWS["overview"].call(store, {"range": "all"}, application.settings.home_dir)
        assert json.dumps(overview, default=str).count("transactions") > 0
    assert b"checkout" not in _bytes_on_disk(home)  # route names of the shop are stored text, now unreadable


def test_store_encrypt_rewrites_a_plain_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`seamline store encrypt` turns a plain database into an encrypted one with the same rows."""
    monkeypatch.delenv("SEAMLINE_ENCRYPTION_KEY", raising=False)
    home = tmp_path / "home"
    _ingest(home, _log_file(tmp_path, 50))
    assert MARKER.encode() in _bytes_on_disk(home)
    runner = CliRunner()
    refused = runner.invoke(cli, ["store", "encrypt", "--home", str(home)])
    assert refused.exit_code == 2 and "no encryption key" in refused.output
    env = {"SEAMLINE_ENCRYPTION_KEY": KEY, "SEAMLINE_ENCRYPTION_BUILTIN_CRYPTO": "1"}
    done = runner.invoke(cli, ["store", "encrypt", "--home", str(home)], env=env)
    assert done.exit_code == 0, done.output
    assert MARKER.encode() not in _bytes_on_disk(home)
    monkeypatch.setenv("SEAMLINE_ENCRYPTION_KEY", KEY)
    with App(Settings({"home": home, **BUILTIN}), read_only=True) as application:
        assert application.store.scalar("SELECT count(*) FROM events") == 50
