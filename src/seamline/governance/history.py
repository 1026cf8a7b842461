"""Schema history: every applied migration with when, by whom and under which data dictionary.

Since version 7 each migration row records the actor, the structural hash of the data
dictionary of the code that applied it and the Seamline version. Upgrades and rollbacks run
through the CLI are also in the audit log (action `schema`), so a rollback — whose rows
leave `schema_migrations` — still shows in the history.
"""

from __future__ import annotations

from typing import Any

from seamline.dictionary import structure_hash
from seamline.store.base import Store
from seamline.store.migrations import HEAD


def schema_history(store: Store) -> dict[str, Any]:
    """Applied migrations (oldest first), schema changes from the audit log, and the code's dictionary hash."""
    columns = {
        r["column_name"]
        for r in store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'schema_migrations'"
        ).to_pylist()
    }
    wanted = ("applied_by", "dictionary_hash", "seamline_version")  # absent below version 7
    extra = ", ".join(c if c in columns else f"NULL AS {c}" for c in wanted)
    applied = store.query(
        f"SELECT version, name, applied_at, {extra} FROM schema_migrations ORDER BY version"
    ).to_pylist()
    current_hash = structure_hash()
    for row in applied:
        row["applied_at"] = row["applied_at"].isoformat()
    changes: list[dict[str, Any]] = []
    has_audit = store.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'audit_log'")
    if has_audit.to_pylist()[0]["n"]:
        changes = store.query(
            "SELECT ts, actor, target, detail, ok FROM audit_log WHERE action = 'schema' ORDER BY seq"
        ).to_pylist()
        for row in changes:
            row["ts"] = row["ts"].isoformat()
    head_hash = next((r["dictionary_hash"] for r in reversed(applied) if r["dictionary_hash"]), None)
    return {
        "current": applied[-1]["version"] if applied else 0,
        "code_head": HEAD,
        "dictionary_hash": current_hash,
        # The code's dictionary differs from the one the last migration was applied with: a column
        # changed without a migration (or the store was migrated by other code).
        "dictionary_matches": head_hash is None or head_hash == current_hash,
        "applied": applied,
        "changes": changes,
    }
