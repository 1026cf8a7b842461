"""A home directory with one token of each kind, for the access-control tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from seamline.access import tokens
from seamline.store import DuckDBStore


@dataclass
class Secrets:
    """The secrets (and ids) of the tokens in a prepared home."""

    admin: str
    analyst: str
    viewer: str
    ingest: str
    revoked: str
    expired: str
    scoped: str  # a viewer limited to project (environment) "test"
    ids: dict[str, str]


def prepare(home: Path) -> Secrets:
    """Create the store and one token per role, plus a revoked, an expired and a scoped one."""
    store = DuckDBStore(home / "seamline.duckdb")
    store.upgrade()
    made: dict[str, str] = {}
    ids: dict[str, str] = {}
    try:
        for role in ("admin", "analyst", "viewer", "ingest"):
            info, secret = tokens.create(store, name=f"test {role}", role=role)
            made[role], ids[role] = secret, info.token_id
        info, made["revoked"] = tokens.create(store, name="revoked analyst", role="analyst")
        tokens.revoke(store, info.token_id)
        ids["revoked"] = info.token_id
        info, made["expired"] = tokens.create(
            store,
            name="expired admin",
            role="admin",
            expires=timedelta(hours=1),
            now=datetime.now(UTC) - timedelta(days=1),
        )
        ids["expired"] = info.token_id
        info, made["scoped"] = tokens.create(store, name="scoped viewer", role="viewer", project="test")
        ids["scoped"] = info.token_id
    finally:
        store.close()
    return Secrets(ids=ids, **made)
