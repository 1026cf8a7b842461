"""DuckDB backend: the embedded default store, one file in the home directory."""

from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from seamline.dictionary import structure_hash
from seamline.store._encryption import CATALOG as ENCRYPTED_CATALOG
from seamline.store._encryption import NotEncrypted, connect_encrypted, unencrypted_hint
from seamline.store.base import Append, SchemaStatus, Statement, StoreError
from seamline.store.migrations import HEAD, MIGRATIONS


def local_user() -> str:
    """The OS user running this process, as recorded with schema changes."""
    try:
        return "local:" + getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"local:uid{os.getuid()}"


def package_version() -> str:
    """The installed Seamline version, or "unknown" when running from a bare source tree."""
    try:
        return metadata.version("seamline")
    except metadata.PackageNotFoundError:
        return "unknown"


_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)
"""


class DuckDBStore:
    """A DuckDB database file; `read_only` opens it without taking the write lock."""

    def __init__(
        self,
        path: Path | str,
        read_only: bool = False,
        memory_limit: str = "4GB",
        encryption_key: str | None = None,
        builtin_crypto: bool = False,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.memory_limit = memory_limit
        self.encrypted = bool(encryption_key)
        if read_only and not self.path.exists():
            raise StoreError(f"no database at {self.path}; run `seamline ingest` or `seamline schema upgrade` first")
        try:
            if encryption_key:
                try:
                    self._con = connect_encrypted(self.path, encryption_key, read_only, builtin_crypto)
                except NotEncrypted:
                    if not read_only:
                        raise
                    # Reads of a database not encrypted yet still work (`seamline store encrypt` must
                    # get past the access check); every write path refuses until it is encrypted.
                    self._con = duckdb.connect(str(self.path), read_only=True)
                    self.encrypted = False
            else:
                self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreError(
                f"cannot open {self.path}: {exc}. Another seamline process (serve or ingest) may hold "
                "the write lock; stop it or ask it over HTTP."
            ) from exc
        except duckdb.CatalogException as exc:
            raise (unencrypted_hint(exc, self.path) or exc) from exc
        self._con.execute("SET TimeZone = 'UTC'")
        # Bounded so big joins spill to disk instead of taking the machine's memory.
        try:
            self._set_memory_limit(memory_limit, "memory_limit")
        except StoreError:
            self._con.close()
            raise
        self._con.execute("SET enable_progress_bar = false")  # the CLI draws its own
        self._lock = threading.Lock()  # guards the shared write connection

    # -- reads -------------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database, for one reader thread."""
        cur = self._con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        if self.encrypted:  # a new connection starts in the in-memory main database
            cur.execute(f"USE {ENCRYPTED_CATALOG}")
        return cur

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a read query on a fresh cursor, so readers do not block each other."""
        cur = self.cursor()
        try:
            return cur.sql(sql, params=list(params) if params else None).to_arrow_table()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """First column of the first row, or None."""
        cur = self.cursor()
        try:
            row = cur.execute(sql, params or []).fetchone()
            return None if row is None else row[0]
        finally:
            cur.close()

    def table_columns(self, table: str) -> list[tuple[str, str]]:
        """(name, DuckDB type) of each column of a table, in order."""
        rows = self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).to_pylist()
        return [(r["column_name"], r["data_type"]) for r in rows]

    def tables(self) -> list[str]:
        """Names of the base tables in the database."""
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1")
        return rows.column(0).to_pylist()

    # -- writes ------------------------------------------------------------------------------
    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> int:
        """Append Arrow rows, matching columns by name, in one transaction."""
        return self.apply([Append(table, batch)])

    def apply(self, ops: Sequence[Append | Statement]) -> int:
        """Run appends and statements as one transaction; returns rows appended."""
        total = 0
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                for op in ops:
                    if isinstance(op, Statement):
                        self._con.execute(op.sql, list(op.params))
                        continue
                    data = pa.Table.from_batches([op.batch]) if isinstance(op.batch, pa.RecordBatch) else op.batch
                    if data.num_rows == 0:
                        continue
                    cols = ", ".join(f'"{n}"' for n in data.column_names)
                    self._con.register("_incoming", data)
                    try:
                        self._con.execute(f'INSERT INTO "{op.table}" ({cols}) SELECT {cols} FROM _incoming')
                    finally:
                        self._con.unregister("_incoming")
                    total += data.num_rows
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise
        return total

    @contextmanager
    def bulk_load(self, memory_limit: str) -> Iterator[None]:
        """Cap DuckDB's memory while a bulk load runs, then restore the configured limit.

        DuckDB keeps every block it writes cached until memory_limit is reached, so a file ingest
        would otherwise grow by about 80 MB per GB of input (1.3 GB peak RSS on 4 GB) although
        it never reads those blocks back; under the cap they are dropped as new ones come.
        """
        with self._lock:
            self._set_memory_limit(memory_limit, "ingest_memory_limit")
        try:
            yield
        finally:
            with self._lock:
                self._set_memory_limit(self.memory_limit, "memory_limit")

    def _set_memory_limit(self, value: str, setting: str) -> None:
        try:
            self._con.execute("SET memory_limit = ?", [value])
        except duckdb.Error as exc:
            env = f"SEAMLINE_{setting.upper()}"
            raise StoreError(f"setting {setting} ({env}) = {value!r} is not a memory size like 256MB or 4GB") from exc

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The write connection inside BEGIN/COMMIT (ROLLBACK on error), for multi-statement jobs."""
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a write statement on the write connection."""
        with self._lock:
            self._con.execute(sql, params or [])

    # -- schema ------------------------------------------------------------------------------
    def _current_version(self) -> int:
        exists = self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
        if not exists:
            return 0
        return int(self.scalar("SELECT coalesce(max(version), 0) FROM schema_migrations") or 0)

    def schema_status(self) -> SchemaStatus:
        """Applied and pending migrations."""
        current = self._current_version()
        applied: list[tuple[int, str, str]] = []
        if current or self._has_version_table():
            for r in self.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").to_pylist():
                applied.append((r["version"], r["name"], r["applied_at"].isoformat()))
        pending = tuple((m.version, m.name) for m in MIGRATIONS if m.version > current)
        return SchemaStatus(current=current, head=HEAD, applied=tuple(applied), pending=pending)

    def _has_version_table(self) -> bool:
        return bool(
            self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
        )

    def _record_step(self, version: int, name: str, actor: str | None) -> None:
        """Insert the schema_migrations row; from version 7 on with who applied it and which dictionary."""
        columns = {
            r[0]
            for r in self._con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'schema_migrations'"
            ).fetchall()
        }
        if "applied_by" not in columns:
            self._con.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())", [version, name]
            )
            return
        self._con.execute(
            "INSERT INTO schema_migrations (version, name, applied_at, applied_by, dictionary_hash, seamline_version) "
            "VALUES (?, ?, now(), ?, ?, ?)",
            [version, name, actor or local_user(), structure_hash(), package_version()],
        )

    def upgrade(self, to: int | None = None, actor: str | None = None) -> list[int]:
        """Apply pending migrations up to `to`, each in its own transaction; `actor` is recorded with each."""
        target = HEAD if to is None else to
        if not 0 <= target <= HEAD:
            raise StoreError(f"no migration {target}; versions run 1..{HEAD}")
        if self.read_only:
            raise StoreError("the store is open read-only")
        with self._lock:
            self._con.execute(_VERSION_TABLE)
        current = self._current_version()
        done = []
        for m in MIGRATIONS:
            if current < m.version <= target:
                with self._lock:
                    self._con.execute("BEGIN TRANSACTION")
                    try:
                        for stmt in m.up:
                            self._con.execute(stmt)
                        self._record_step(m.version, m.name, actor)
                        self._con.execute("COMMIT")
                    except Exception as exc:
                        self._con.execute("ROLLBACK")
                        raise StoreError(f"migration {m.version} ({m.name}) failed: {exc}") from exc
                done.append(m.version)
        return done

    def values_at_risk(self, to: int) -> dict[str, int]:
        """Non-null values (or rows) that downgrading to `to` would discard, per table.column."""
        current = self._current_version()
        risk: dict[str, int] = {}
        for m in MIGRATIONS:
            if to < m.version <= current:
                for table, col in m.data_dropped:
                    if col is None:
                        n = self.scalar(f'SELECT count(*) FROM "{table}"')
                        key = table
                    else:
                        n = self.scalar(f'SELECT count("{col}") FROM "{table}"')
                        key = f"{table}.{col}"
                    if n:
                        risk[key] = int(n)
        return risk

    def downgrade(self, to: int, force: bool = False) -> list[int]:
        """Run down steps from the current version to `to`; refuses to lose values unless forced."""
        current = self._current_version()
        if not 0 <= to <= current:
            raise StoreError(f"cannot downgrade to {to}: the schema is at {current}")
        if self.read_only:
            raise StoreError("the store is open read-only")
        risk = self.values_at_risk(to)
        if risk and not force:
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(risk.items()))
            raise StoreError(f"downgrade to {to} would discard stored values ({detail}); pass --force to accept")
        done = []
        for m in sorted(MIGRATIONS, key=lambda m: -m.version):
            if to < m.version <= current:
                with self._lock:
                    self._con.execute("BEGIN TRANSACTION")
                    try:
                        for stmt in m.down:
                            self._con.execute(stmt)
                        self._con.execute("DELETE FROM schema_migrations WHERE version = ?", [m.version])
                        self._con.execute("COMMIT")
                    except Exception as exc:
                        self._con.execute("ROLLBACK")
                        raise StoreError(f"down step of migration {m.version} failed: {exc}") from exc
                done.append(m.version)
        return done

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file."""
        with self._lock:
            self._con.execute("CHECKPOINT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._con.close()
