"""Erasure: remove every record of one person from every table (`seamline forget`).

The store never holds the raw id, so the person is found by their pseudonyms: the raw user
or anonymous id is hashed the way ingest hashes it, under every key still in the keyring
(retired keys included, so records made before a rotation are found too). From those
pseudonyms the search widens to the sessions and devices the person's records carry, and
to the anonymous ids those sessions used, until nothing new turns up; it never widens
through a record that names a different user. Then, in one transaction:

- events of those ids, sessions and devices, and the server records linked to them (links,
  transaction membership, the same trace);
- links, transactions, membership, unlinked reasons, clock offsets and dashboard facts of
  those events, sessions and transactions;
- a final sweep over every text-like column of every table (quarantine, anomalies, alerts
  and their notifications, annotations, saved views, and tables added later) deletes rows
  that still mention any of the ids;
- audit log entries are kept (the log is the record of who did what) but the ids in them are
  replaced by "[erased]"; the erasure's own entry names the person by pseudonym only.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb

from seamline.settings import Settings
from seamline.store.duckdb_store import DuckDBStore

PSEUDONYM_RE = re.compile(r"^p_[0-9a-f]{24}$")
_PURPOSES = ("user_id", "anonymous_id")
_MAX_ROUNDS = 6  # widening rounds; real identity graphs settle in two or three
_REDACTED = "[erased]"
_SKIP_SWEEP = frozenset({"audit_log", "schema_migrations"})


class ErasureError(ValueError):
    """The erasure request cannot be carried out as given; the message says why."""


@dataclass
class ForgetResult:
    """What an erasure found and removed."""

    pseudonym: str
    identifiers: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    audit_entries_redacted: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Rows deleted in all tables together."""
        return sum(self.deleted.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (pseudonym only: never the raw id)."""
        return {
            "pseudonym": self.pseudonym,
            "identifiers": self.identifiers,
            "deleted": {k: v for k, v in sorted(self.deleted.items()) if v},
            "total": self.total,
            "audit_entries_redacted": self.audit_entries_redacted,
            "seconds": round(self.seconds, 3),
        }


def pseudonyms_for(settings: Settings, raw_id: str) -> list[str]:
    """The pseudonyms ingest gives `raw_id` as a user or anonymous id, under every key in the keyring."""
    from seamline.keys import load_keyring
    from seamline.transforms.pseudonymize import pseudonym

    raw_id = raw_id.strip()
    if not raw_id:
        raise ErasureError("--user needs a non-empty id")
    ring = load_keyring(settings, create=False)
    active = ring.active
    keys = [active, *(k for k in ring.keys if k is not active)]  # active first: its pseudonym names the person
    out = [pseudonym(k.material, raw_id, purpose) for k in keys for purpose in _PURPOSES]
    if settings.store_raw_identifiers:
        out.append(raw_id)  # stored as sent when raw identifiers are allowed
    return list(dict.fromkeys(out))


def check_pseudonym(text: str) -> str:
    """A pseudonym as given on the command line, checked for shape."""
    text = text.strip()
    if not PSEUDONYM_RE.match(text):
        raise ErasureError(f"{text!r} is not a pseudonym (p_ followed by 24 hex digits)")
    return text


def _values(con: duckdb.DuckDBPyConnection, kind: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT id FROM _forget_ids WHERE kind = ?", [kind]).fetchall()]


def _add(con: duckdb.DuckDBPyConnection, kind: str, sql: str, params: list[Any] | None = None) -> int:
    """Add ids of one kind from a query; returns how many were new."""
    before = con.execute("SELECT count(*) FROM _forget_ids WHERE kind = ?", [kind]).fetchone()[0]  # type: ignore[index]
    con.execute(
        f"INSERT INTO _forget_ids SELECT DISTINCT ?, v FROM ({sql}) AS q(v) WHERE v IS NOT NULL "
        "AND v NOT IN (SELECT id FROM _forget_ids WHERE kind = ?)",
        [kind, *(params or []), kind],
    )
    after = con.execute("SELECT count(*) FROM _forget_ids WHERE kind = ?", [kind]).fetchone()[0]  # type: ignore[index]
    return int(after - before)


_IDS = "SELECT id FROM _forget_ids WHERE kind = '{}'"
_PERSON_ROWS = (
    "(user_id IN ({u}) OR anonymous_id IN ({u}) OR anonymous_id IN ({a}) OR session_id IN ({s}) "
    "OR device_id IN ({d})) AND (user_id IS NULL OR user_id IN ({u}))"
).format(u=_IDS.format("user"), a=_IDS.format("anon"), s=_IDS.format("session"), d=_IDS.format("device"))


def _widen(con: duckdb.DuckDBPyConnection) -> None:
    """Grow the id sets through sessions, devices and anonymous ids until nothing new appears."""
    for _ in range(_MAX_ROUNDS):
        grown = 0
        for table in ("events", "transactions"):
            grown += _add(con, "anon", f"SELECT anonymous_id FROM {table} WHERE {_PERSON_ROWS}")
            grown += _add(con, "session", f"SELECT session_id FROM {table} WHERE {_PERSON_ROWS}")
            grown += _add(con, "device", f"SELECT device_id FROM {table} WHERE {_PERSON_ROWS}")
        if not grown:
            return


def _collect_records(con: duckdb.DuckDBPyConnection) -> None:
    """Event and transaction ids to delete: the person's own, and server records linked to them."""
    _add(con, "event", f"SELECT event_id FROM events WHERE {_PERSON_ROWS}")
    # The server side of the person's requests: linked exactly or by score, or in the same trace.
    events = _IDS.format("event")
    _add(con, "event", f"SELECT to_event_id FROM links WHERE from_event_id IN ({events})")
    _add(con, "trace", f"SELECT trace_id FROM events WHERE event_id IN ({events})")
    _add(con, "event", f"SELECT event_id FROM events WHERE trace_id IN ({_IDS.format('trace')})")
    _add(
        con,
        "transaction",
        f"SELECT transaction_id FROM transactions WHERE {_PERSON_ROWS} OR root_event_id IN ({events})",
    )
    _add(
        con,
        "event",
        f"SELECT event_id FROM event_transactions WHERE transaction_id IN ({_IDS.format('transaction')})",
    )


def _targeted_deletes(con: duckdb.DuckDBPyConnection, deleted: dict[str, int], tables: dict[str, set[str]]) -> None:
    e, t = _IDS.format("event"), _IDS.format("transaction")
    s, d = _IDS.format("session"), _IDS.format("device")
    who = "SELECT id FROM _forget_ids WHERE kind IN ('user', 'anon')"
    plan = [
        ("events", f"event_id IN ({e})"),
        ("links", f"from_event_id IN ({e}) OR to_event_id IN ({e})"),
        ("event_transactions", f"event_id IN ({e}) OR transaction_id IN ({t})"),
        ("transactions", f"transaction_id IN ({t})"),
        ("unlinked_requests", f"event_id IN ({e})"),
        ("clock_offsets", f"session_id IN ({s}) OR device_id IN ({d})"),
        ("transaction_facts", f"transaction_id IN ({t}) OR session_id IN ({s}) OR user_key IN ({who})"),
        (
            "request_facts",
            f"transaction_id IN ({t}) OR event_id IN ({e}) OR session_id IN ({s}) OR user_key IN ({who})",
        ),
        ("waterfall_rows", f"transaction_id IN ({t}) OR event_id IN ({e}) OR session_id IN ({s})"),
    ]
    for table, where in plan:
        if table in tables:
            _delete(con, deleted, table, where)


def _delete(
    con: duckdb.DuckDBPyConnection, deleted: dict[str, int], table: str, where: str, params: list[Any] | None = None
) -> int:
    row = con.execute(f'DELETE FROM "{table}" WHERE {where}', params or []).fetchone()
    n = int(row[0]) if row else 0
    deleted[table] = deleted.get(table, 0) + n
    return n


_EDGE = "A-Za-z0-9_.@-"


def _alone(text: str) -> str:
    """A regex matching `text` only between delimiters (a short id may sit inside a longer one)."""
    return rf"(?:^|[^{_EDGE}]){re.escape(text)}(?:$|[^{_EDGE}])"


def _pattern(con: duckdb.DuckDBPyConnection) -> str:
    """One regex matching any of the person's ids (pseudonyms and session ids are long and unique)."""
    kinds = "('user', 'anon', 'session', 'device')"
    ids = [r[0] for r in con.execute(f"SELECT DISTINCT id FROM _forget_ids WHERE kind IN {kinds}").fetchall()]
    return "|".join(re.escape(i) if len(i) >= 8 else _alone(i) for i in ids if i)


def _raw_pattern(raw_id: str) -> str:
    """Where a quarantined record may still hold the raw id: under an id-like key, or standing alone if long."""
    keyed = rf"(?i)(user|anon|customer|member|account|uid|sub)[A-Za-z_.-]*[\"']?\s*[:=]\s*[\"']?{re.escape(raw_id)}"
    keyed += rf"(?:$|[^{_EDGE}])"
    return keyed if len(raw_id) < 8 else f"{keyed}|{_alone(raw_id)}"


def _text_columns(tables: dict[str, dict[str, str]], table: str) -> list[str]:
    return [
        c for c, t in tables[table].items() if t.startswith(("VARCHAR", "MAP", "STRUCT", "JSON")) or t.endswith("[]")
    ]


def _sweep(
    con: duckdb.DuckDBPyConnection, deleted: dict[str, int], tables: dict[str, dict[str, str]], pattern: str
) -> None:
    """Delete rows of any table that still mention one of the ids in any text-like column."""
    alerts_gone: list[str] = []
    for table in sorted(tables):
        if table in _SKIP_SWEEP or table.startswith("_"):
            continue
        columns = _text_columns(tables, table)
        if not columns:
            continue
        where = " OR ".join(f'regexp_matches(CAST("{c}" AS VARCHAR), ?)' for c in columns)
        params = [pattern] * len(columns)
        if table == "alerts" and "alert_id" in tables[table]:
            alerts_gone = [r[0] for r in con.execute(f"SELECT alert_id FROM alerts WHERE {where}", params).fetchall()]
        _delete(con, deleted, table, where, params)
    if alerts_gone and "alert_notifications" in tables:
        _delete(con, deleted, "alert_notifications", "alert_id IN (SELECT unnest(?::VARCHAR[]))", [alerts_gone])


def _redact_audit(con: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]], pattern: str) -> int:
    if "audit_log" not in tables:
        return 0
    row = con.execute(
        "UPDATE audit_log SET target = regexp_replace(target, ?, ?, 'g'), detail = regexp_replace(detail, ?, ?, 'g') "
        "WHERE regexp_matches(coalesce(target, ''), ?) OR regexp_matches(coalesce(detail, ''), ?)",
        [pattern, _REDACTED, pattern, _REDACTED, pattern, pattern],
    ).fetchone()
    return int(row[0]) if row else 0


def forget(store: DuckDBStore, pseudonyms: list[str], raw_id: str | None = None) -> ForgetResult:
    """Remove every record of the person with these pseudonyms (first = the name the audit log uses)."""
    if not pseudonyms:
        raise ErasureError("nothing to look for: give a user id or a pseudonym")
    started = time.perf_counter()
    result = ForgetResult(pseudonym=pseudonyms[0])
    with store.transaction() as con:
        columns = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')"
        ).fetchall()
        tables: dict[str, dict[str, str]] = {}
        for table, column, dtype in columns:
            tables.setdefault(table, {})[column] = dtype
        con.execute("CREATE OR REPLACE TEMP TABLE _forget_ids (kind VARCHAR, id VARCHAR)")
        con.execute("INSERT INTO _forget_ids SELECT 'user', unnest(?::VARCHAR[])", [pseudonyms])
        _widen(con)
        _collect_records(con)
        result.identifiers = {
            k: len(_values(con, k)) for k in ("user", "anon", "session", "device", "event", "transaction")
        }
        deleted: dict[str, int] = {}
        _targeted_deletes(con, deleted, {t: set(c) for t, c in tables.items()})
        pattern = _pattern(con)
        if pattern:
            _sweep(con, deleted, tables, pattern)
            result.audit_entries_redacted = _redact_audit(con, tables, pattern)
        if raw_id and "quarantine" in tables:
            # Quarantine keeps records as they arrived (scrubbed, but a raw id may survive in one).
            _delete(con, deleted, "quarantine", "regexp_matches(coalesce(raw, ''), ?)", [_raw_pattern(raw_id)])
        con.execute("DROP TABLE IF EXISTS _forget_ids")
    result.deleted = deleted
    result.seconds = time.perf_counter() - started
    return result


def forget_audited(
    store: DuckDBStore,
    settings: Settings,
    *,
    actor: str,
    user: str | None = None,
    pseudonym: str | None = None,
    role: str | None = "admin",
    origin: str = "cli",
) -> ForgetResult:
    """Erase one person given a raw id or a pseudonym, and record it in the audit log by pseudonym."""
    from seamline.access.audit import record

    if (user is None) == (pseudonym is None):
        raise ErasureError("give exactly one of --user and --pseudonym")
    names = pseudonyms_for(settings, user) if user is not None else [check_pseudonym(pseudonym or "")]
    try:
        result = forget(store, names, raw_id=user)
    except Exception as exc:
        failed = {"error": str(exc)}
        record(store, actor=actor, role=role, action="forget", target=names[0], detail=failed, origin=origin, ok=False)
        raise
    detail = {"identifiers": result.identifiers, "deleted": result.as_dict()["deleted"], "total": result.total}
    record(store, actor=actor, role=role, action="forget", target=names[0], detail=detail, origin=origin, ok=True)
    store.checkpoint()  # the deleted rows leave the file's live blocks now
    return result
