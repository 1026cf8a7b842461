"""Retention: delete what is older than its kind's time to live, in every table, consistently.

Each kind of record has a TTL setting (0 keeps it forever). Events go by event time and
kind; what was derived from them goes with them even when its own TTL is longer — links,
transaction membership and unlinked reasons of deleted events, transactions whose root
event is gone, the facts of deleted transactions, clock offsets of sessions with no events
left. A transaction outlives its spans when spans have the shorter TTL; its facts row keeps
the member list it was built with (a waterfall shows what is left).
Everything runs in one transaction; a dry run runs the same statements and rolls back, so
its counts are exactly what a real run would delete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from seamline.dictionary import KIND_MEANINGS
from seamline.settings import Settings
from seamline.store.duckdb_store import DuckDBStore

if TYPE_CHECKING:
    from seamline.app import App

log = logging.getLogger("seamline.retention")

SERVER_KIND_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "server requests": ("retention_server_requests_days", ("server_request",)),
    "spans": ("retention_spans_days", ("span",)),
    "logs": ("retention_logs_days", ("server_log",)),
}
_SERVER_KINDS = {k for _, kinds in SERVER_KIND_GROUPS.values() for k in kinds}
# Every other kind is something a browser or app sent.
KIND_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "client events": ("retention_client_events_days", tuple(k for k in KIND_MEANINGS if k not in _SERVER_KINDS)),
    **SERVER_KIND_GROUPS,
}

# The other TTLs: (setting, tables it governs, as shown in reports).
TABLE_TTLS: dict[str, tuple[str, ...]] = {
    "retention_quarantine_days": ("quarantine",),
    "retention_correlation_days": (
        "links",
        "transactions",
        "event_transactions",
        "clock_offsets",
        "unlinked_requests",
        "correlation_runs",
    ),
    "retention_facts_days": ("transaction_facts", "request_facts", "waterfall_rows"),
    "retention_detection_days": ("anomalies", "alerts", "alert_notifications"),
    "retention_audit_days": ("audit_log",),
}


class _DryRun(Exception):
    """Raised inside the transaction so a dry run rolls back what it deleted."""


@dataclass
class RetentionResult:
    """What a retention run deleted (or would delete), per table, and the cut-off times used."""

    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)
    events_by_group: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, str | None] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Rows deleted in all tables together."""
        return sum(self.deleted.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dry_run": self.dry_run,
            "total": self.total,
            "deleted": dict(sorted(self.deleted.items())),
            "events_by_group": self.events_by_group,
            "cutoffs": self.cutoffs,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


def _cutoff(settings: Settings, name: str, now: datetime) -> datetime | None:
    days = int(getattr(settings, name))
    if days < 0:
        raise ValueError(f"setting {name} must be 0 (keep forever) or a number of days, not {days}")
    return None if days == 0 else now - timedelta(days=days)


class _Run:
    """One retention pass on the write connection, inside a transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, result: RetentionResult) -> None:
        self.con = con
        self.result = result
        rows = con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall()
        self.columns: dict[str, set[str]] = {}
        for table, column in rows:
            self.columns.setdefault(table, set()).add(column)

    def has(self, table: str, *columns: str) -> bool:
        ok = table in self.columns and all(c in self.columns[table] for c in columns)
        if not ok and table not in self.result.skipped:
            self.result.skipped.append(table)
        return ok

    def delete(self, table: str, where: str, params: list[Any] | None = None) -> int:
        row = self.con.execute(f'DELETE FROM "{table}" WHERE {where}', params or []).fetchone()
        n = int(row[0]) if row else 0
        self.result.deleted[table] = self.result.deleted.get(table, 0) + n
        return n


def apply_retention(
    store: DuckDBStore, settings: Settings, dry_run: bool = False, now: datetime | None = None
) -> RetentionResult:
    """Delete (or, with `dry_run`, count) everything past its TTL; one transaction."""
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    result = RetentionResult(dry_run=dry_run)
    cut = {name: _cutoff(settings, name, now) for name, _ in KIND_GROUPS.values()}
    cut.update({name: _cutoff(settings, name, now) for name in TABLE_TTLS})
    result.cutoffs = {name: (c.isoformat() if c else None) for name, c in cut.items()}
    try:
        with store.transaction() as con:
            _delete_all(_Run(con, result), cut)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    result.seconds = time.perf_counter() - started
    return result


def _delete_all(run: _Run, cut: dict[str, datetime | None]) -> None:
    con = run.con
    # 1. Events past their kind's TTL, remembered so what was derived from them can follow.
    conditions, params = [], []
    for setting, kinds in KIND_GROUPS.values():
        if cut[setting] is not None:
            conditions.append(f"(kind IN ({', '.join('?' * len(kinds))}) AND ts < ?)")
            params.extend([*kinds, cut[setting]])
    con.execute("CREATE OR REPLACE TEMP TABLE _retention_events (event_id VARCHAR, session_id VARCHAR, kind VARCHAR)")
    if conditions:
        con.execute(
            "INSERT INTO _retention_events SELECT event_id, session_id, kind FROM events WHERE "
            + " OR ".join(conditions),
            params,
        )
        by_kind = dict(con.execute("SELECT kind, count(*) FROM _retention_events GROUP BY kind").fetchall())
        run.result.events_by_group = {
            group: sum(by_kind.get(k, 0) for k in kinds) for group, (_, kinds) in KIND_GROUPS.items()
        }
        run.delete("events", " OR ".join(conditions), params)
    gone = "SELECT event_id FROM _retention_events"
    corr = cut["retention_correlation_days"]

    # 2. Correlation: rows of deleted events, and everything older than its own TTL.
    con.execute("CREATE OR REPLACE TEMP TABLE _retention_tx (transaction_id VARCHAR)")
    if run.has("transactions", "root_event_id", "start_ts"):
        con.execute(
            f"INSERT INTO _retention_tx SELECT transaction_id FROM transactions WHERE root_event_id IN ({gone}) "
            "OR start_ts < coalesce(?::TIMESTAMPTZ, '-infinity')",
            [corr],
        )
        run.delete("transactions", "transaction_id IN (SELECT transaction_id FROM _retention_tx)")
    tx_gone = "SELECT transaction_id FROM _retention_tx"
    if run.has("links", "from_event_id", "to_event_id"):
        run.delete("links", f"from_event_id IN ({gone}) OR to_event_id IN ({gone})")
    if run.has("event_transactions", "event_id", "transaction_id"):
        run.delete("event_transactions", f"event_id IN ({gone}) OR transaction_id IN ({tx_gone})")
    if run.has("unlinked_requests", "event_id"):
        run.delete("unlinked_requests", f"event_id IN ({gone})")
    if run.has("clock_offsets", "session_id", "reference_ts"):
        run.delete(
            "clock_offsets",
            "reference_ts < coalesce(?::TIMESTAMPTZ, '-infinity') OR (session_id IN "
            "(SELECT session_id FROM _retention_events WHERE session_id IS NOT NULL) "
            "AND session_id NOT IN (SELECT session_id FROM events WHERE session_id IS NOT NULL))",
            [corr],
        )
    if corr is not None and run.has("correlation_runs", "started_at"):
        # The newest run stays: incremental correlation starts from where it stopped.
        run.delete(
            "correlation_runs",
            "started_at < ? AND correlation_run_id <> (SELECT arg_max(correlation_run_id, started_at) "
            "FROM correlation_runs)",
            [corr],
        )

    # 3. Dashboard facts: those of deleted transactions or requests, and those past their TTL.
    facts = cut["retention_facts_days"]
    if run.has("transaction_facts", "transaction_id", "start_ts"):
        run.delete(
            "transaction_facts",
            f"transaction_id IN ({tx_gone}) OR start_ts < coalesce(?::TIMESTAMPTZ, '-infinity')",
            [facts],
        )
    if run.has("request_facts", "transaction_id", "event_id", "ts"):
        run.delete(
            "request_facts",
            f"transaction_id IN ({tx_gone}) OR event_id IN ({gone}) OR ts < coalesce(?::TIMESTAMPTZ, '-infinity')",
            [facts],
        )
    if run.has("waterfall_rows", "transaction_id", "event_id", "start_ts"):
        run.delete(
            "waterfall_rows",
            f"transaction_id IN ({tx_gone}) OR event_id IN ({gone}) "
            "OR start_ts < coalesce(?::TIMESTAMPTZ, '-infinity')",
            [facts],
        )

    # 4. Quarantine, detection history and the audit log, each by its own clock.
    if cut["retention_quarantine_days"] is not None and run.has("quarantine", "received_at"):
        run.delete("quarantine", "received_at < ?", [cut["retention_quarantine_days"]])
    detection = cut["retention_detection_days"]
    if detection is not None:
        if run.has("anomalies", "start_ts", "end_ts"):
            run.delete("anomalies", "coalesce(end_ts, start_ts) < ?", [detection])
        if run.has("alerts", "state", "resolved_at"):
            # A firing alert stays whatever its age: someone still has to act on it.
            run.delete("alerts", "state = 'resolved' AND resolved_at < ?", [detection])
        if run.has("alert_notifications", "sent_at", "alert_id") and "alerts" in run.columns:
            run.delete(
                "alert_notifications", "sent_at < ? OR alert_id NOT IN (SELECT alert_id FROM alerts)", [detection]
            )
    if cut["retention_audit_days"] is not None and run.has("audit_log", "ts"):
        run.delete("audit_log", "ts < ?", [cut["retention_audit_days"]])
    con.execute("DROP TABLE IF EXISTS _retention_events")
    con.execute("DROP TABLE IF EXISTS _retention_tx")


def run_audited(
    store: DuckDBStore,
    settings: Settings,
    *,
    actor: str,
    role: str | None = "admin",
    origin: str = "cli",
    dry_run: bool = False,
    now: datetime | None = None,
) -> RetentionResult:
    """Apply retention and record the run (or its failure) in the audit log."""
    from seamline.access.audit import record

    try:
        result = apply_retention(store, settings, dry_run=dry_run, now=now)
    except Exception as exc:
        failed = {"dry_run": dry_run, "error": str(exc)}
        record(
            store, actor=actor, role=role, action="retention", target="store", detail=failed, origin=origin, ok=False
        )
        raise
    detail = {"dry_run": dry_run, "deleted": result.as_dict()["deleted"], "total": result.total}
    record(store, actor=actor, role=role, action="retention", target="store", detail=detail, origin=origin, ok=True)
    if result.total and not dry_run:
        store.checkpoint()  # gives the freed blocks back to the file now, not at some later write
    return result


async def retention_periodically(app: App, first_delay_s: float = 60.0) -> None:
    """Inside `seamline serve`: apply retention every `retention_interval_hours`, as a job on the writer thread."""
    interval = app.settings.retention_interval_hours * 3600.0
    if interval <= 0:
        return
    delay = min(first_delay_s, interval)
    while True:
        await asyncio.sleep(delay)
        delay = interval
        job = app.writer.call(
            lambda store: run_audited(store, app.settings, actor="seamline-serve", role=None, origin="serve")
        )
        try:
            result = await asyncio.wrap_future(job)
            if result.total:
                log.info("retention deleted %d rows: %s", result.total, result.deleted)
        except Exception as exc:  # keep serving; the next round retries
            log.warning("retention failed: %s", exc)
