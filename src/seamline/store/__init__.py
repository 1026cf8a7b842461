"""Storage: the Store interface, the embedded DuckDB backend, migrations and the single writer."""

from __future__ import annotations

from seamline.settings import Settings
from seamline.store._encryption import encryption_key
from seamline.store.base import Append, SchemaStatus, Statement, Store, StoreError
from seamline.store.duckdb_store import DuckDBStore
from seamline.store.writer import QueueFull, Writer


def open_store(settings: Settings, read_only: bool = False, upgrade: bool = True) -> DuckDBStore:
    """Open the configured store at the head schema: a writable one is upgraded, a read-only one must be there.

    `upgrade=False` opens it as it is (schema commands, the access check before them).
    """
    store = DuckDBStore(
        settings.database_path,
        read_only=read_only,
        memory_limit=settings.memory_limit,
        encryption_key=encryption_key(settings),
        builtin_crypto=settings.encryption_builtin_crypto,
    )
    if upgrade and not read_only:
        store.upgrade()
    elif upgrade:
        _require_head(store)
    return store


def _require_head(store: DuckDBStore) -> None:
    """A reader needs the schema this code queries; say what to run instead of a catalog error."""
    status = store.schema_status()
    if status.current == status.head:
        return
    store.close()
    if status.current < status.head:
        raise StoreError(
            f"the store at {store.path} is at schema version {status.current} and this Seamline reads version "
            f"{status.head}: run `seamline schema upgrade` (or ingest something), then try again"
        )
    raise StoreError(
        f"the store at {store.path} is at schema version {status.current}, newer than this Seamline knows "
        f"({status.head}): use the newer Seamline, or roll back with its `seamline schema downgrade {status.head}`"
    )


__all__ = [
    "Append",
    "DuckDBStore",
    "QueueFull",
    "SchemaStatus",
    "Statement",
    "Store",
    "StoreError",
    "Writer",
    "open_store",
]
