"""The audit log: written for every audited action over HTTP and the CLI, append-only, readable by admins."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from _access_home import prepare
from _server import running_server
from seamline.access import audit
from seamline.cli import app as cli_app
from seamline.store import DuckDBStore, Writer

SRC = Path(__file__).parents[1] / "src" / "seamline"
runner = CliRunner()


@pytest.fixture
def store(home: Path) -> Iterator[DuckDBStore]:
    """A migrated store on a fresh home."""
    s = DuckDBStore(home / "seamline.duckdb")
    s.upgrade()
    yield s
    s.close()


def _entries(home: Path) -> list[dict[str, Any]]:
    s = DuckDBStore(home / "seamline.duckdb")
    try:
        audit.absorb_spool(s)
        return [e.to_dict() for e in reversed(audit.read(s, limit=10_000))]
    finally:
        s.close()


def test_record_numbers_entries_and_redacts_secrets(store: DuckDBStore) -> None:
    """Entries get increasing seq numbers from a store or the writer, and secret-named keys never reach the log."""
    audit.record(store, actor="a", role="admin", action="settings", target="x", detail={"api_key": "k", "n": 1})
    writer = Writer(store)
    try:
        futures = [audit.record(writer, actor="b", action="query", detail={"token": "t"}) for _ in range(5)]
        for f in futures:
            assert f is not None
            f.result(10)
    finally:
        writer.close()
    rows = list(reversed(audit.read(store)))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert json.loads(rows[0].detail or "{}") == {"api_key": "[redacted]", "n": 1}
    assert all("[redacted]" in (r.detail or "") for r in rows[1:])
    with pytest.raises(ValueError, match="actor"):
        audit.record(store, actor="", action="query")


def test_read_only_entries_are_spooled_then_absorbed(home: Path, store: DuckDBStore) -> None:
    """A read-only process spools its entries beside the database; the next writable open folds them in, in order."""
    audit.record(store, actor="first", action="query")
    store.close()
    ro = DuckDBStore(home / "seamline.duckdb", read_only=True)
    audit.record(ro, actor="spooled", action="query", target="summary")
    ro.close()
    assert (home / audit.SPOOL_NAME).exists()
    rw = DuckDBStore(home / "seamline.duckdb")
    try:
        assert audit.absorb_spool(rw) == 1
        assert [e.actor for e in reversed(audit.read(rw))] == ["first", "spooled"]
        assert not (home / audit.SPOOL_NAME).exists()
        assert audit.absorb_spool(rw) == 0
    finally:
        rw.close()


def test_filters_by_time_actor_and_action(store: DuckDBStore) -> None:
    """read() filters by since, actor and action."""
    audit.record(store, actor="x", action="query")
    audit.record(store, actor="y", action="export")
    assert [e.actor for e in audit.read(store, action="export")] == ["y"]
    assert [e.action for e in audit.read(store, actor="x")] == ["query"]
    assert audit.read(store, since=datetime.now(UTC) + timedelta(minutes=1)) == []


def test_no_code_updates_or_deletes_audit_rows() -> None:
    """Append-only: only erasure may rewrite (redact the erased person's id) and only retention may delete old rows."""
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        # The right to erasure outranks append-only: `seamline forget` redacts the person's id in old entries
        # (and is itself audited); nothing else may change a row.
        if re.search(r"UPDATE\s+\"?audit_log", text, re.I) and path.name != "erasure.py":
            offenders.append(f"{path}: UPDATE")
        if re.search(r"(DELETE\s+FROM|TRUNCATE)\s+\"?audit_log", text, re.I) and path.name != "retention.py":
            offenders.append(f"{path}: DELETE")
    assert offenders == []


def test_http_actions_are_audited(home: Path) -> None:
    """Queries, refusals, logins, token creation and revocation and audit reads over HTTP all leave entries."""
    secrets = prepare(home)
    with running_server(home) as server:
        url = server.url
        assert (
            httpx.get(
                url + "/api/views/flows?range=all", headers={"authorization": f"Bearer {secrets.viewer}"}
            ).status_code
            == 200
        )
        assert (
            httpx.get(
                url + "/api/views/waterfall?ident=x", headers={"authorization": f"Bearer {secrets.viewer}"}
            ).status_code
            == 403
        )
        assert httpx.get(url + "/api/views/flows").status_code == 401
        httpx.post(url + "/login", data={"token": secrets.analyst, "next": "/"})
        admin = {"authorization": f"Bearer {secrets.admin}"}
        made = httpx.post(url + "/api/tokens", json={"name": "tmp", "role": "ingest"}, headers=admin).json()
        httpx.delete(url + f"/api/tokens/{made['token_id']}", headers=admin)
        got = httpx.get(url + "/api/audit?action=token.create", headers=admin).json()["entries"]
        assert [e["target"] for e in got] == [made["token_id"]]
    entries = _entries(home)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_action.setdefault(e["action"], []).append(e)
    query = by_action["query"][0]
    assert query["actor"] == secrets.ids["viewer"] and query["role"] == "viewer" and query["ok"] is True
    assert query["target"] == "/api/views/flows" and json.loads(query["detail"]) == {"range": "all"}
    assert query["origin"] == "http:127.0.0.0/24"  # the client address is cut to its network
    denied = by_action["denied"]
    assert {d["target"] for d in denied} >= {"/api/views/waterfall", "/api/views/flows"}
    assert all(d["ok"] is False for d in denied)
    assert by_action["login"][0]["actor"] == secrets.ids["analyst"]
    assert by_action["token.create"][0]["actor"] == secrets.ids["admin"]
    assert by_action["token.revoke"][0]["target"] == made["token_id"]
    assert by_action["audit.read"][0]["actor"] == secrets.ids["admin"]
    assert all(secrets.admin not in json.dumps(e) for e in entries)  # no secret ever lands in the log


def test_cli_actions_are_audited_and_the_log_is_for_admins(home: Path) -> None:
    """CLI queries, exports, token changes and refusals are logged; `seamline audit` filters and needs admin."""
    secrets = prepare(home)
    env = {"SEAMLINE_TOKEN": secrets.analyst}
    h = ["--home", str(home)]
    assert runner.invoke(cli_app, ["summary", *h], env=env).exit_code == 0
    assert runner.invoke(cli_app, ["query", "SELECT 1 AS one", "--format", "csv", *h], env=env).exit_code == 0
    assert runner.invoke(cli_app, ["tokens", "list", *h], env=env).exit_code == 3
    assert runner.invoke(cli_app, ["audit", *h], env=env).exit_code == 3
    admin = {"SEAMLINE_TOKEN": secrets.admin}
    assert runner.invoke(cli_app, ["tokens", "revoke", secrets.ids["viewer"], *h], env=admin).exit_code == 0
    assert runner.invoke(cli_app, ["schema", "upgrade", *h], env=admin).exit_code == 0
    assert runner.invoke(cli_app, ["schema", "downgrade", "--to", "1", *h], env=env).exit_code == 3
    out = runner.invoke(cli_app, ["audit", "--json", *h], env=admin)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    actions = [(r["action"], r["target"], r["actor"], r["ok"]) for r in reversed(rows)]
    analyst = secrets.ids["analyst"]
    assert ("query", "summary", analyst, True) in actions
    assert ("export", "query", analyst, True) in actions
    assert ("denied", "tokens list", analyst, False) in actions
    assert ("denied", "audit", analyst, False) in actions
    assert ("token.revoke", secrets.ids["viewer"], secrets.ids["admin"], True) in actions
    assert ("command", "schema upgrade", secrets.ids["admin"], True) in actions  # changes are audited
    assert ("denied", "schema downgrade", analyst, False) in actions
    table = runner.invoke(cli_app, ["audit", *h], env=admin)
    assert table.exit_code == 0 and "audit log" in table.output
    only = json.loads(runner.invoke(cli_app, ["audit", "--json", "--action", "export", *h], env=admin).output)
    assert {r["action"] for r in only} == {"export"}
    mine = json.loads(runner.invoke(cli_app, ["audit", "--json", "--actor", analyst, *h], env=admin).output)
    assert mine and {r["actor"] for r in mine} == {analyst}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert json.loads(runner.invoke(cli_app, ["audit", "--json", "--since", future, *h], env=admin).output) == []
    assert json.loads(runner.invoke(cli_app, ["audit", "--json", "--since", "1h", *h], env=admin).output)
    bad = runner.invoke(cli_app, ["audit", "--since", "yesterday-ish", *h], env=admin)
    assert bad.exit_code == 2 and "--since must be" in bad.output
