"""The application object: one place that opens the store, the writer and the pipeline.

The CLI and the web server are thin shells over this, so both run the same code paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seamline.pipeline import Ingestor
from seamline.settings import Settings
from seamline.store import DuckDBStore, Writer, open_store
from seamline.transforms import Context
from seamline.wal import WriteAheadLog


class App:
    """Lazily opened store, writer and ingestor for one home directory."""

    def __init__(self, settings: Settings | None = None, read_only: bool = False) -> None:
        self.settings = settings or Settings()
        self.read_only = read_only
        self._store: DuckDBStore | None = None
        self._writer: Writer | None = None
        self._ingestor: Ingestor | None = None
        self._context: Context | None = None
        self._wal: WriteAheadLog | None = None

    @property
    def store(self) -> DuckDBStore:
        """The store, opened (and migrated to head when writable) on first use."""
        if self._store is None:
            self._store = open_store(self.settings, read_only=self.read_only)
        return self._store

    @property
    def writer(self) -> Writer:
        """The single writer thread for this process."""
        if self._writer is None:
            self._writer = Writer(self.store, max_batches=self.settings.writer_queue_batches)
        return self._writer

    @property
    def wal(self) -> WriteAheadLog:
        """The HTTP ingest write-ahead log in the home directory (a new segment per process)."""
        if self._wal is None:
            self._wal = WriteAheadLog(self.settings.home_dir / "wal")
        return self._wal

    @property
    def context(self) -> Context:
        """Transform context (keys, lookup tables)."""
        if self._context is None:
            self._context = Context.from_settings(self.settings)
        return self._context

    @property
    def ingestor(self) -> Ingestor:
        """The ingest pipeline bound to this app's store and writer."""
        if self._ingestor is None:
            self._ingestor = Ingestor(self.store, self.writer, self.context)
        return self._ingestor

    def summary(self) -> dict[str, Any]:
        """What the store holds: rows per kind and source, time span, quarantine, ingest runs."""
        store = self.store
        kinds = store.query("SELECT kind, count(*) AS rows FROM events GROUP BY kind ORDER BY rows DESC").to_pylist()
        sources = store.query(
            "SELECT source, count(*) AS rows FROM events GROUP BY source ORDER BY rows DESC"
        ).to_pylist()
        span = store.query(
            "SELECT min(ts) AS first, max(ts) AS last, count(*) AS rows, "
            "count(DISTINCT session_id) AS sessions, count(DISTINCT user_id) AS users, "
            "count(DISTINCT trace_id) AS traces FROM events"
        ).to_pylist()[0]
        quarantine = store.query(
            "SELECT reason, count(*) AS rows FROM quarantine WHERE reingested_at IS NULL "
            "GROUP BY reason ORDER BY rows DESC LIMIT 10"
        ).to_pylist()
        runs = store.scalar("SELECT count(*) FROM ingest_batches")
        return {
            "database": str(self.settings.database_path),
            "rows": span["rows"],
            "first_event": span["first"].isoformat() if span["first"] else None,
            "last_event": span["last"].isoformat() if span["last"] else None,
            "sessions": span["sessions"],
            "users": span["users"],
            "traces": span["traces"],
            "by_kind": {r["kind"]: r["rows"] for r in kinds},
            "by_source": {r["source"]: r["rows"] for r in sources},
            "quarantined": int(store.scalar("SELECT count(*) FROM quarantine WHERE reingested_at IS NULL") or 0),
            "top_quarantine_reasons": {r["reason"]: r["rows"] for r in quarantine},
            "ingest_runs": runs,
        }

    def close(self) -> None:
        """Flush pending writes and close the database."""
        if self._ingestor is not None:
            self._ingestor.close()
        if self._wal is not None:
            self._wal.close()
            self._wal = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def home_settings(home: Path | None, **overrides: Any) -> Settings:
    """Settings with an optional --home override."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = home
    return Settings(values)
