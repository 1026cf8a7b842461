"""The small interface every store backend implements.

Views, correlation and the web layer talk to this, never to DuckDB directly, so a cluster
backend (ClickHouse) can be added as another module without touching them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa


class StoreError(RuntimeError):
    """A store operation failed in a way the user can act on."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where the store's schema stands against the code's migrations."""

    current: int
    head: int
    applied: tuple[tuple[int, str, str], ...]  # (version, name, applied_at)
    pending: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class Append:
    """Rows to append to a table."""

    table: str
    batch: pa.RecordBatch | pa.Table


@dataclass(frozen=True, slots=True)
class Statement:
    """A write statement (e.g. a checkpoint upsert) to run inside a transaction."""

    sql: str
    params: tuple[Any, ...] = ()


class Store(Protocol):
    """Reads run concurrently; writes go through `append`, owned by one writer thread."""

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a read query and return its result as an Arrow table."""
        ...

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> int:
        """Append rows to a table in one transaction; returns the row count."""
        ...

    def apply(self, ops: Sequence[Append | Statement]) -> int:
        """Run appends and statements in one transaction; returns rows appended."""
        ...

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a write statement (DDL, update, delete)."""
        ...

    def bulk_load(self, memory_limit: str) -> AbstractContextManager[None]:
        """Hold the store's memory to `memory_limit` while a bulk load runs (it reads nothing back)."""
        ...

    def schema_status(self) -> SchemaStatus:
        """Applied and pending migrations."""
        ...

    def upgrade(self, to: int | None = None) -> list[int]:
        """Apply pending migrations up to `to` (default: head); returns versions applied."""
        ...

    def downgrade(self, to: int, force: bool = False) -> list[int]:
        """Undo migrations above `to`; refuses to discard data unless forced."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...
