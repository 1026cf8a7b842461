"""Storage: the Store interface, the embedded DuckDB backend, migrations and the single writer."""

from __future__ import annotations

from seamline.settings import Settings
from seamline.store._encryption import encryption_key
from seamline.store.base import Append, SchemaStatus, Statement, Store, StoreError
from seamline.store.duckdb_store import DuckDBStore
from seamline.store.writer import QueueFull, Writer


def open_store(settings: Settings, read_only: bool = False, upgrade: bool = True) -> DuckDBStore:
    """Open the configured store; a writable store is brought to the head schema first."""
    store = DuckDBStore(
        settings.database_path,
        read_only=read_only,
        memory_limit=settings.memory_limit,
        encryption_key=encryption_key(settings),
        builtin_crypto=settings.encryption_builtin_crypto,
    )
    if upgrade and not read_only:
        store.upgrade()
    return store


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
