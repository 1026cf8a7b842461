"""Retention: per-kind TTLs delete by time in every table, derived rows follow their sources, runs are audited."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from _governance_data import copy_home, governed_template_fixture  # noqa: F401  (a fixture)
from _server import running_server
from seamline.app import App
from seamline.cli import app as cli
from seamline.governance.retention import apply_retention, run_audited
from seamline.settings import SETTINGS, Settings
from seamline.store import DuckDBStore
from test_erasure import insert_row, most_active_user

# Rows pointing at something retention may delete: none may survive their target.
DANGLING = {
    "links": "from_event_id NOT IN (SELECT event_id FROM events) OR to_event_id NOT IN (SELECT event_id FROM events)",
    "event_transactions": "event_id NOT IN (SELECT event_id FROM events) "
    "OR transaction_id NOT IN (SELECT transaction_id FROM transactions)",
    "transactions": "root_event_id NOT IN (SELECT event_id FROM events)",
    "unlinked_requests": "event_id NOT IN (SELECT event_id FROM events)",
    "transaction_facts": "transaction_id NOT IN (SELECT transaction_id FROM transactions)",
    "request_facts": "transaction_id NOT IN (SELECT transaction_id FROM transactions) "
    "OR event_id NOT IN (SELECT event_id FROM events)",
    "clock_offsets": "session_id NOT IN (SELECT session_id FROM events WHERE session_id IS NOT NULL)",
}


@pytest.fixture
def home(governed_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template home."""
    return copy_home(governed_template, tmp_path / "home")


def _latest(store: DuckDBStore) -> datetime:
    return store.scalar("SELECT max(ts) FROM events")


def _dangling(store: DuckDBStore) -> dict[str, int]:
    return {t: n for t, w in DANGLING.items() if (n := store.scalar(f"SELECT count(*) FROM {t} WHERE {w}"))}


def test_short_ttls_delete_by_kind_and_derived_rows_follow(home: Path) -> None:
    """Spans and logs past 14 days go, client events stay, nothing points at a deleted row; a dry run counts exactly."""
    settings = Settings({"home": home})
    with App(settings) as application:
        store = application.store
        latest = _latest(store)
        now = latest + timedelta(days=14, minutes=-30)  # the spans and logs of all but the last half hour expire
        cut = now - timedelta(days=14)
        kinds = "SELECT kind, count(*) AS n FROM events GROUP BY 1"
        kinds_before = {r["kind"]: r["n"] for r in store.query(kinds).to_pylist()}
        old_spans = store.scalar("SELECT count(*) FROM events WHERE kind IN ('span', 'server_log') AND ts < ?", [cut])
        assert old_spans > 0 and _dangling(store) == {}
        dry = apply_retention(store, settings, dry_run=True, now=now)
        assert store.scalar("SELECT count(*) FROM events") == sum(kinds_before.values()), "a dry run deletes nothing"
        real = run_audited(store, settings, actor="local:test", now=now)
        assert dry.deleted == real.deleted and real.deleted["events"] == old_spans
        assert real.events_by_group["client events"] == 0 and real.events_by_group["spans"] > 0
        assert store.scalar("SELECT count(*) FROM events WHERE kind IN ('span', 'server_log') AND ts < ?", [cut]) == 0
        kinds_after = {r["kind"]: r["n"] for r in store.query(kinds).to_pylist()}
        assert {k: v for k, v in kinds_after.items() if k not in ("span", "server_log")} == {
            k: v for k, v in kinds_before.items() if k not in ("span", "server_log")
        }
        assert real.deleted["links"] > 0 and real.deleted["request_facts"] > 0
        assert _dangling(store) == {}
        entry = store.query("SELECT actor, detail, ok FROM audit_log WHERE action = 'retention'").to_pylist()
        assert len(entry) == 1 and entry[0]["ok"] and json.loads(entry[0]["detail"])["total"] == real.total


def test_everything_expires_except_firing_alerts_and_the_last_run(home: Path) -> None:
    """Far in the future every table empties, but a firing alert stays and the newest correlation run is kept."""
    settings = Settings({"home": home})
    with App(settings) as application:
        store = application.store
        old = "2025-01-01T00:00:00Z"
        for alert_id, state in (("firing", "firing"), ("resolved", "resolved")):
            insert_row(
                store,
                "alerts",
                {"alert_id": alert_id, "state": state, "resolved_at": old if state == "resolved" else None},
            )
            insert_row(store, "alert_notifications", {"alert_id": alert_id, "sent_at": old})
        insert_row(store, "anomalies", {"anomaly_id": "an1", "start_ts": old, "end_ts": old})
        insert_row(store, "quarantine", {"quarantine_id": "q1", "received_at": old})
        insert_row(store, "audit_log", {"seq": 99, "ts": old, "action": "query"})
        result = run_audited(store, settings, actor="local:test", now=_latest(store) + timedelta(days=400))
        emptied = ("events", "links", "transactions", "event_transactions", "transaction_facts", "request_facts")
        for table in (*emptied, "clock_offsets", "unlinked_requests", "quarantine", "anomalies"):
            assert store.scalar(f"SELECT count(*) FROM {table}") == 0, table
        assert store.query("SELECT alert_id FROM alerts").column(0).to_pylist() == ["firing"]
        assert store.scalar("SELECT count(*) FROM correlation_runs") == 1
        assert store.scalar("SELECT count(*) FROM audit_log WHERE seq = 99") == 0
        assert result.deleted["alert_notifications"] == 2  # the resolved alert's, and the old one of the firing alert


def test_zero_keeps_forever_and_bad_ttls_are_refused(home: Path) -> None:
    """A TTL of 0 keeps rows whatever their age; a negative TTL is a clear error."""
    forever = {s.name: 0 for s in SETTINGS if s.name.startswith("retention_") and s.name.endswith("_days")}
    assert len(forever) == 9
    with App(Settings({"home": home, **forever})) as application:
        result = apply_retention(
            application.store, application.settings, now=_latest(application.store) + timedelta(days=3650)
        )
        assert result.total == 0
    with (
        App(Settings({"home": home, "retention_spans_days": -1})) as application,
        pytest.raises(ValueError, match=r"0 \(keep forever\)"),
    ):
        apply_retention(application.store, application.settings)


def test_cli_dry_run_and_policy_print_json(home: Path) -> None:
    """`retention apply --dry-run --json` reports counts without deleting; `retention policy --json` lists every TTL."""
    runner = CliRunner()
    result = runner.invoke(cli, ["retention", "apply", "--dry-run", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["deleted"]["events"] > 0  # the simulated month-old spans are past 14 days
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    assert store.scalar("SELECT count(*) FROM events WHERE kind = 'span'") > 0
    store.close()
    policy = json.loads(runner.invoke(cli, ["retention", "policy", "--json", "--home", str(home)]).stdout)
    assert {p["setting"] for p in policy} >= {
        "retention_spans_days",
        "retention_audit_days",
        "retention_quarantine_days",
    }


def test_serve_applies_retention_on_its_schedule_and_over_http(home: Path, simulated: Path) -> None:
    """`seamline serve` applies retention every retention_interval_hours by itself; its HTTP twins need a clear body."""
    env = {"SEAMLINE_RETENTION_INTERVAL_HOURS": "0.0003", "SEAMLINE_CORRELATE_INTERVAL_SECONDS": "0"}
    with running_server(home, env) as server:
        time.sleep(4)  # the first round runs after one interval (about a second here)
        stray = httpx.post(f"{server.url}/api/retention/apply", json={}, timeout=30)
        assert stray.status_code == 400 and "confirm" in stray.json()["error"]
        dry = httpx.post(f"{server.url}/api/retention/apply", json={"dry_run": True}, timeout=30)
        assert dry.status_code == 200 and dry.json()["dry_run"] is True
        bad = httpx.post(f"{server.url}/api/forget", json={"pseudonym": "nope"}, timeout=30)
        assert bad.status_code == 400 and "not a pseudonym" in bad.json()["error"]
        erased = httpx.post(f"{server.url}/api/forget", json={"user": most_active_user(simulated)}, timeout=60)
        assert erased.status_code == 200 and erased.json()["deleted"]["events"] > 0
        drift = httpx.get(f"{server.url}/api/schema/drift", timeout=30)
        assert drift.status_code == 200 and drift.json()["fields_tracked"] > 0
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    try:
        entries = store.query("SELECT actor, origin, detail, ok FROM audit_log WHERE action = 'retention'").to_pylist()
        scheduled = [e for e in entries if e["actor"] == "seamline-serve"]
        assert scheduled and all(e["ok"] and e["origin"] == "serve" for e in scheduled)
        assert any(e["origin"] == "http" and json.loads(e["detail"])["dry_run"] for e in entries)
        assert store.scalar("SELECT count(*) FROM events WHERE kind = 'span'") == 0  # the simulated spans are weeks old
        assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'forget' AND origin = 'http'") == 1
    finally:
        store.close()
