"""Schema governance: history with who and which dictionary, safe rollback of 5-7 on populated data, drift reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seamline.app import App
from seamline.cli import app as cli
from seamline.dictionary import structure_hash
from seamline.governance.schema_drift import accept, drift_report, observe
from seamline.schema import rows_to_batch
from seamline.settings import Settings
from seamline.store import DuckDBStore, StoreError
from seamline.store.migrations import HEAD
from test_erasure import insert_row


def _json_log(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_history_records_who_and_which_dictionary(tmp_path: Path) -> None:
    """`schema history` lists every migration; those applied from version 7 on name the actor and dictionary hash."""
    home = tmp_path / "home"
    App(Settings({"home": home})).store.close()
    result = CliRunner().invoke(cli, ["schema", "history", "--format", "json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["version"] for r in data["applied"]] == list(range(1, HEAD + 1))
    last = data["applied"][-1]
    assert last["applied_by"].startswith("local:") and last["dictionary_hash"] == structure_hash()
    assert data["dictionary_matches"] is True


def test_rollback_and_upgrade_record_themselves_in_history(tmp_path: Path) -> None:
    """A CLI rollback to 6 and the upgrade back show in the history's audit part; version 7 is re-recorded."""
    home = tmp_path / "home"
    App(Settings({"home": home})).store.close()
    runner = CliRunner()
    down = runner.invoke(cli, ["schema", "downgrade", "--to", "6", "--home", str(home)])
    assert down.exit_code == 0, down.output
    up = runner.invoke(cli, ["schema", "upgrade", "--home", str(home)])
    assert up.exit_code == 0, up.output
    data = json.loads(runner.invoke(cli, ["schema", "history", "-f", "json", "--home", str(home)]).stdout)
    assert [c["target"] for c in data["changes"]] == ["downgrade to 6", "upgrade to head"]
    assert data["applied"][-1]["dictionary_hash"] == structure_hash()


def _populate_5_to_7(store: DuckDBStore) -> None:
    """One row in every table migrations 5, 6 and 7 create, plus events."""
    store.append(
        "events",
        rows_to_batch(
            [
                {
                    "event_id": f"e{i}",
                    "kind": "server_log",
                    "ts": 1_764_000_000_000_000 + i,
                    "source": "t",
                    "origin": "o",
                    "ingest_batch_id": "b",
                    "schema_version": HEAD,
                }
                for i in range(20)
            ]
        ),
    )
    insert_row(store, "anomalies", {"anomaly_id": "an1"})
    insert_row(store, "alerts", {"alert_id": "al1"})
    insert_row(store, "alert_notifications", {"alert_id": "al1"})
    insert_row(store, "annotations", {"annotation_id": "a1"})
    insert_row(store, "api_tokens", {"token_id": "t1", "token_hash": "h"})
    insert_row(store, "audit_log", {"seq": 1, "action": "query"})
    insert_row(store, "field_observations", {"source": "t", "field": "message", "value_type": "string", "rows": 3})


def test_rollback_of_5_6_7_is_refused_on_populated_data_unless_forced(tmp_path: Path) -> None:
    """Rolling back past migrations 5-7 names every populated table it would drop, and keeps the events when forced."""
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.upgrade()
    _populate_5_to_7(store)
    with pytest.raises(StoreError, match="would discard") as refused:
        store.downgrade(4)
    for table in (
        "anomalies",
        "alerts",
        "alert_notifications",
        "annotations",
        "api_tokens",
        "audit_log",
        "field_observations",
    ):
        assert table in str(refused.value)
    assert store.schema_status().current == HEAD, "a refused rollback changes nothing"
    assert store.values_at_risk(6) == {"field_observations": 1}
    assert store.downgrade(4, force=True) == list(range(HEAD, 4, -1))
    assert "alerts" not in store.tables() and "applied_by" not in dict(store.table_columns("schema_migrations"))
    assert store.scalar("SELECT count(*) FROM events") == 20
    assert store.upgrade() == list(range(5, HEAD + 1))
    assert store.scalar("SELECT count(*) FROM alerts") == 0 and store.scalar("SELECT count(*) FROM events") == 20
    assert store.scalar("SELECT applied_by FROM schema_migrations WHERE version = 7").startswith("local:")
    store.close()


def test_new_fields_and_type_changes_are_reported_until_accepted(tmp_path: Path) -> None:
    """A field a source never sent before, and a field whose values change type, show as drift until accepted."""
    home = tmp_path / "home"
    base = [
        {"ts": "2026-11-20T10:00:00Z", "level": "info", "msg": "ok", "service": "api", "order_id": 17 + i}
        for i in range(30)
    ]
    later = [
        {
            "ts": "2026-11-20T11:00:00Z",
            "level": "info",
            "msg": "ok",
            "service": "api",
            "order_id": f"A-{i}",
            "coupon": "SPRING",
        }
        for i in range(5)
    ]
    with App(Settings({"home": home})) as application:
        application.ingestor.ingest_file(_json_log(tmp_path / "a.jsonl", base))
        between = datetime.now(UTC)
        application.ingestor.ingest_file(_json_log(tmp_path / "b.jsonl", later))
        store = application.store
        assert drift_report(store)["changes"] == [], "within the first hour everything is baseline"
        report = drift_report(store, since=between)
        changes = {(c["field"], c["change"], c["value_type"]): c for c in report["changes"]}
        assert ("attributes.coupon", "new field", "string") in changes
        typed = changes[("attributes.order_id", "type change", "string")]
        assert typed["previous_types"] == ["integer"] and typed["rows"] == 5
        assert ("message", "new field", "string") not in changes, "fields seen before the baseline are not drift"
        assert accept(store, "local:test", since=between, field="attributes.coupon") == 1
        left = {c["field"] for c in drift_report(store, since=between)["changes"]}
        assert left == {"attributes.order_id"}
    result = CliRunner().invoke(cli, ["schema", "drift", "--json", "--since", between.isoformat(), "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert [c["field"] for c in json.loads(result.stdout)["changes"]] == ["attributes.order_id"]
    bad = CliRunner().invoke(cli, ["schema", "drift", "--source", "nope", "--home", str(home)])
    assert bad.exit_code == 2 and "no fields recorded for source 'nope'" in bad.output


def test_observation_counts_fields_per_source_in_a_mixed_batch() -> None:
    """A batch mixing sources is observed per source, with attribute value types read from their text."""
    batch = rows_to_batch(
        [
            {
                "event_id": "1",
                "kind": "span",
                "ts": 1,
                "source": "a",
                "origin": "o",
                "ingest_batch_id": "b1",
                "schema_version": 7,
                "attributes": {"n": "12", "f": "1.5", "ok": "true", "j": '{"x":1}'},
            },
            {
                "event_id": "2",
                "kind": "span",
                "ts": 2,
                "source": "b",
                "origin": "o",
                "ingest_batch_id": "b1",
                "schema_version": 7,
                "route": "/x",
                "attributes": {"n": "twelve"},
            },
        ]
    )
    seen = {(s, f, t): n for s, f, t, _, n in observe(batch)}
    assert seen[("a", "attributes.n", "integer")] == 1 and seen[("b", "attributes.n", "string")] == 1
    assert seen[("a", "attributes.f", "number")] == 1 and seen[("a", "attributes.ok", "boolean")] == 1
    assert seen[("a", "attributes.j", "json")] == 1
    assert ("b", "route", "string") in seen and ("a", "route", "string") not in seen
    assert not any(f in ("event_id", "source", "ingest_batch_id") for _, f, _ in seen)
