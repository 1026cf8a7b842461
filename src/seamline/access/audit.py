"""The audit log: who queried, exported, changed settings, managed tokens, ran retention or erasure.

Append-only by construction: this module only ever INSERTs into `audit_log`, and nothing in
Seamline offers an update or delete path for it. `record` accepts either a store (written at
once, in its own transaction) or the process's single `Writer` (queued behind pending writes,
so a request never takes the write lock itself).

When the store is open read-only (a CLI read while `seamline serve` holds the write lock) the
entry goes to a spool file beside the database instead; the next writable open folds it in
(`absorb_spool`), so a read is never unaudited just because another process was writing.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seamline.store.base import Statement, Store
from seamline.store.writer import Writer

SPOOL_NAME = "audit.spool.jsonl"

# The next seq is computed inside the same transaction as the insert, so concurrent writers
# (which are serialised by the store's write lock) can never hand out the same number.
_INSERT = (
    "INSERT INTO audit_log (seq, ts, actor, role, action, target, detail, origin, ok) "
    "SELECT coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ? FROM audit_log"
)
_SECRET_KEYS = ("token", "secret", "password", "key", "authorization", "cookie")
_spool_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the audit log, as returned by `read`."""

    seq: int
    ts: datetime
    actor: str
    role: str | None
    action: str
    target: str | None
    detail: str | None
    origin: str
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO timestamp)."""
        return {
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "origin": self.origin,
            "ok": self.ok,
        }


def local_actor() -> str:
    """The OS user running a CLI command, for entries made without a token."""
    try:
        return "local:" + getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"local:uid{os.getuid()}"


def _redact(value: Any) -> Any:
    """Drop values whose key names a secret, at any depth, so the log never holds one."""
    if isinstance(value, Mapping):
        return {
            str(k): ("[redacted]" if any(s in str(k).lower() for s in _SECRET_KEYS) else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _detail_text(detail: Any) -> str | None:
    if detail is None:
        return None
    if isinstance(detail, str):
        return detail
    return json.dumps(_redact(detail), sort_keys=True, default=str)


def record(
    store_or_writer: Store | Writer,
    *,
    actor: str,
    role: str | None = None,
    action: str,
    target: str | None = None,
    detail: Any = None,
    origin: str = "cli",
    ok: bool = True,
) -> Future[int] | None:
    """Append one audit entry; returns the writer's Future when given a Writer, else None.

    `detail` may be a string or any JSON-able value; keys that name secrets are redacted.
    """
    params = entry_params(actor=actor, role=role, action=action, target=target, detail=detail, origin=origin, ok=ok)
    if isinstance(store_or_writer, Writer):
        return store_or_writer.submit([Statement(_INSERT, params)])
    if getattr(store_or_writer, "read_only", False):
        _spool(store_or_writer, params)
        return None
    store_or_writer.apply([Statement(_INSERT, params)])
    return None


def entry_params(
    *,
    actor: str,
    role: str | None = None,
    action: str,
    target: str | None = None,
    detail: Any = None,
    origin: str = "cli",
    ok: bool = True,
) -> tuple[Any, ...]:
    """The values of one entry, validated and with secrets redacted (timestamped now)."""
    if not actor:
        raise ValueError("an audit entry needs an actor")
    if not action:
        raise ValueError("an audit entry needs an action")
    return (datetime.now(UTC), actor, role, action, target, _detail_text(detail), origin, bool(ok))


def statement(params: tuple[Any, ...]) -> Statement:
    """The append of one entry, for callers that batch several into one transaction."""
    return Statement(_INSERT, params)


def _spool_path(store: Any) -> Path | None:
    path = getattr(store, "path", None)
    return None if path is None else Path(path).with_name(SPOOL_NAME)


def _spool(store: Any, params: tuple[Any, ...]) -> None:
    database = getattr(store, "path", None)
    if database is None:
        raise RuntimeError("cannot audit: the store is read-only and has no directory for the spool file")
    spool_entry(Path(database), params)


def spool_entry(database: Path, params: tuple[Any, ...]) -> None:
    """Append one entry (the `_INSERT` parameters) to the spool beside a database file."""
    path = Path(database).with_name(SPOOL_NAME)
    row = list(params)
    row[0] = row[0].isoformat()
    with _spool_lock, path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def absorb_spool(store: Store) -> int:
    """Fold entries spooled by read-only processes into the log; returns how many."""
    path = _spool_path(store)
    if path is None or not path.exists():
        return 0
    # Rename first so entries spooled while we insert land in a fresh file, not lost.
    taken = path.with_suffix(f".{os.getpid()}.absorbing")
    with _spool_lock:
        path.rename(taken)
    statements = []
    for line in taken.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row[0] = datetime.fromisoformat(row[0])
        except (ValueError, IndexError, TypeError):
            continue  # a torn last line from a killed process; the rest still counts
        statements.append(Statement(_INSERT, tuple(row)))
    if statements:
        store.apply(statements)
    taken.unlink()
    return len(statements)


def read(
    store: Store,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 1000,
) -> list[Entry]:
    """Entries newest first, filtered by time, actor and action."""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if action:
        where.append("action = ?")
        params.append(action)
    sql = "SELECT seq, ts, actor, role, action, target, detail, origin, ok FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(int(limit))
    return [Entry(**r) for r in store.query(sql, params).to_pylist()]


def actions(entries: Sequence[Entry]) -> list[str]:
    """Distinct actions in the given entries, in first-seen order (for summaries)."""
    seen: dict[str, None] = {}
    for e in entries:
        seen.setdefault(e.action, None)
    return list(seen)
