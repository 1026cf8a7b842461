"""`seamline forget`: one user's records leave every table, and nobody else's do."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _governance_data import copy_home, governed_template_fixture  # noqa: F401  (a fixture)
from seamline.app import App
from seamline.cli import app as cli
from seamline.governance.erasure import ErasureError, forget, pseudonyms_for
from seamline.settings import Settings
from seamline.store import DuckDBStore


def most_active_user(sim: Path) -> str:
    """The signed-in user id the simulated client files mention most (read from the raw files, as the app knows it)."""
    counts = Counter(
        m.group(1) for path in (sim / "client").iterdir() for m in re.finditer(r'"userId":"([^"]+)"', path.read_text())
    )
    return counts.most_common(1)[0][0]


@pytest.fixture(scope="module")
def user(simulated: Path) -> str:
    """The raw id of the user this module erases."""
    return most_active_user(simulated)


@pytest.fixture
def home(governed_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template home (database and keyring)."""
    return copy_home(governed_template, tmp_path / "home")


def _person(store: DuckDBStore, pseudonyms: list[str]) -> dict[str, set[str]]:
    """The user's pseudonyms, anonymous ids, sessions and devices, found independently of the erasure code."""
    rows = store.query(
        "SELECT DISTINCT anonymous_id, session_id, device_id FROM events "
        "WHERE user_id IN (SELECT unnest(?::VARCHAR[]))",
        [pseudonyms],
    ).to_pylist()
    sessions = {r["session_id"] for r in rows if r["session_id"]}
    more = store.query(
        "SELECT DISTINCT anonymous_id, device_id FROM events WHERE session_id IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(sessions)],
    ).to_pylist()
    return {
        "pseudonyms": set(pseudonyms),
        "anonymous": {r["anonymous_id"] for r in rows + more if r["anonymous_id"]},
        "sessions": sessions,
        "devices": {r["device_id"] for r in rows + more if r["device_id"]},
    }


def _mentions(store: DuckDBStore, needles: set[str]) -> dict[str, int]:
    """Rows per table.column whose value (any type, cast to text) contains any needle; the forget entry excluded."""
    pattern = "|".join(re.escape(n) for n in needles)
    found: dict[str, int] = {}
    for table in store.tables():
        for column, _type in store.table_columns(table):
            where = f'regexp_matches(CAST("{column}" AS VARCHAR), ?)'
            if table == "audit_log":
                where += " AND action <> 'forget'"
            n = store.scalar(f'SELECT count(*) FROM "{table}" WHERE {where}', [pattern])
            if n:
                found[f"{table}.{column}"] = n
    return found


def insert_row(store: DuckDBStore, table: str, values: dict[str, object]) -> None:
    """Insert one row, filling required columns the test does not care about (tables other helpers may extend)."""
    filler = {"VARCHAR": "x", "BOOLEAN": True, "TIMESTAMP WITH TIME ZONE": "2026-11-02T01:00:00Z"}
    row = dict(values)
    for c in store.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = ?", [table]
    ).to_pylist():
        if c["column_name"] not in row and c["is_nullable"] == "NO":
            row[c["column_name"]] = filler.get(c["data_type"], 1)
    names = ", ".join(f'"{n}"' for n in row)
    store.execute(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(row))})', list(row.values()))


def _seed_people_tables(store: DuckDBStore, user: str, session: str, pseudonym: str, other_session: str) -> None:
    """Annotations, alerts, anomalies, saved views, quarantine and audit rows naming the user (and others)."""
    insert_row(store, "annotations", {"annotation_id": "a1", "kind": "note", "body": f"session {session} waited 9 s"})
    insert_row(store, "annotations", {"annotation_id": "a2", "kind": "note", "body": f"session {other_session} too"})
    for alert_id, scope in (("al1", session), ("al2", "checkout")):
        insert_row(store, "alerts", {"alert_id": alert_id, "fingerprint": alert_id, "scope": json.dumps({"s": scope})})
        insert_row(store, "alert_notifications", {"alert_id": alert_id, "notifier": "log"})
    cohorts = json.dumps([{"dimension": "user", "value": pseudonym}])
    insert_row(store, "anomalies", {"anomaly_id": "an1", "cohorts": cohorts})
    insert_row(store, "saved_views", {"view_id": "v1", "page": "session", "query": f"session={session}"})
    for qid, raw in (
        ("q1", f'{{"userId":"{user}","x":1}}'),
        ("q2", f'{{"session":{{"id":"{session}"}}}}'),
        ("q3", f'{{"userId":"{user}0"}}'),  # a longer id that merely starts with the user's
    ):
        insert_row(store, "quarantine", {"quarantine_id": qid, "raw": raw, "ingest_batch_id": "b"})
    insert_row(
        store,
        "audit_log",
        {
            "seq": 1000,
            "action": "query",
            "target": "/sessions/{session_id}",
            "detail": json.dumps({"session": session}),
        },
    )


def test_forget_leaves_no_trace_of_the_user_and_touches_nobody_else(home: Path, user: str) -> None:
    """After `forget --user` no column of any table holds the user's pseudonyms, sessions or devices; others stay."""
    settings = Settings({"home": home})
    with App(settings) as application:
        store = application.store
        pseudonyms = pseudonyms_for(settings, user)
        person = _person(store, pseudonyms)
        assert person["sessions"] and person["devices"], "the simulated user has sessions and a device"
        other_session = store.scalar(
            "SELECT session_id FROM events WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT unnest(?::VARCHAR[])) "
            "LIMIT 1",
            [pseudonyms],
        )
        _seed_people_tables(store, user, sorted(person["sessions"])[0], pseudonyms[0], other_session)
        needles = set().union(*person.values())
        assert _mentions(store, needles), "the search finds the user before the erasure"
        others_before = store.query(
            "SELECT user_id, count(*) AS n FROM events WHERE user_id IS NOT NULL AND user_id NOT IN "
            "(SELECT unnest(?::VARCHAR[])) GROUP BY 1 ORDER BY 1",
            [pseudonyms],
        ).to_pylist()
        tx_others_before = store.scalar(
            "SELECT count(*) FROM transactions WHERE user_id IS NOT NULL "
            "AND user_id NOT IN (SELECT unnest(?::VARCHAR[]))",
            [pseudonyms],
        )
        tables_before = {t: store.scalar(f'SELECT count(*) FROM "{t}"') for t in store.tables()}

    result = CliRunner().invoke(cli, ["forget", "--user", user, "--yes", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pseudonym"] == pseudonyms[0] and user not in result.stdout

    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    try:
        assert _mentions(store, needles) == {}
        assert store.scalar("SELECT count(*) FROM quarantine WHERE raw LIKE ?", [f'%{user}"%']) == 0
        others_after = store.query(
            "SELECT user_id, count(*) AS n FROM events WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).to_pylist()
        assert others_after == others_before
        assert store.scalar("SELECT count(*) FROM transactions WHERE user_id IS NOT NULL") == tx_others_before
        # What named someone else stays: their annotation, the other alert and its notification, a longer id.
        assert store.query("SELECT annotation_id FROM annotations").column(0).to_pylist() == ["a2"]
        assert store.query("SELECT alert_id FROM alert_notifications").column(0).to_pylist() == ["al2"]
        assert store.query("SELECT quarantine_id FROM quarantine WHERE ingest_batch_id = 'b'").column(
            0
        ).to_pylist() == ["q3"]
        redacted = store.query("SELECT detail FROM audit_log WHERE seq = 1000").column(0).to_pylist()
        assert redacted and "[erased]" in redacted[0]
        entry = store.query("SELECT actor, target, detail, ok FROM audit_log WHERE action = 'forget'").to_pylist()
        assert len(entry) == 1 and entry[0]["ok"] and entry[0]["target"] == pseudonyms[0]
        assert user not in json.dumps(entry, default=str)
        lost = {t: n - store.scalar(f'SELECT count(*) FROM "{t}"') for t, n in tables_before.items()}
        assert lost["events"] == report["deleted"]["events"] > 0
        assert lost["transactions"] == report["deleted"]["transactions"] > 0
    finally:
        store.close()


def test_forget_by_pseudonym_matches_forget_by_user(home: Path, tmp_path: Path, user: str) -> None:
    """Erasing by the stored pseudonym removes the same rows as erasing by the raw id."""
    twin = tmp_path / "twin"
    shutil.copytree(home, twin)
    counts = []
    for target, by_user in ((home, True), (twin, False)):
        settings = Settings({"home": target})
        with App(settings) as application:
            names = pseudonyms_for(settings, user)
            result = forget(application.store, names if by_user else names[:1], raw_id=user if by_user else None)
            counts.append(result.deleted)
    assert counts[0]["events"] == counts[1]["events"] > 0


def test_forget_rejects_bad_requests(home: Path) -> None:
    """A malformed pseudonym, both options at once, or neither, is a clear error that erases nothing."""
    runner = CliRunner()
    bad = runner.invoke(cli, ["forget", "--pseudonym", "u_155707", "--yes", "--home", str(home)])
    assert bad.exit_code == 2 and "not a pseudonym" in bad.output
    both = runner.invoke(cli, ["forget", "--user", "x", "--pseudonym", "p_" + "0" * 24, "--yes", "--home", str(home)])
    assert both.exit_code == 2 and "exactly one" in both.output
    with pytest.raises(ErasureError, match="non-empty"):
        pseudonyms_for(Settings({"home": home}), "  ")
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'forget'") == 0
    store.close()


def test_unknown_user_is_audited_and_changes_nothing(home: Path) -> None:
    """Forgetting someone the store never saw deletes nothing and still leaves an audit entry."""
    result = CliRunner().invoke(cli, ["forget", "--user", "nobody-at-all-42", "--yes", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == 0
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'forget' AND ok") == 1
    store.close()


def test_forget_finds_records_made_under_a_retired_key(tmp_path: Path) -> None:
    """A person last seen before a key rotation is still found: every key in the keyring is tried."""
    from seamline.keys import load_keyring

    home = tmp_path / "home"
    settings = Settings({"home": home})

    def log(name: str, user_id: str) -> Path:
        path = tmp_path / name
        rows = [{"ts": f"2026-11-20T10:00:0{i}Z", "level": "info", "msg": "hi", "user_id": user_id} for i in range(5)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    with App(settings) as application:
        application.ingestor.ingest_file(log("before.jsonl", "alice-1"))
    load_keyring(settings).rotate()
    with App(settings) as application:
        application.ingestor.ingest_file(log("after.jsonl", "bob-2"))
        assert application.store.scalar("SELECT count(DISTINCT user_id) FROM events") == 2
    result = CliRunner().invoke(cli, ["forget", "--user", "alice-1", "--yes", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deleted"]["events"] == 5
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    assert store.scalar("SELECT count(*) FROM events") == 5  # bob's, made under the new key
    store.close()
