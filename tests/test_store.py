"""The DuckDB store: migrations up and down on populated data, the single writer, readers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from seamline.schema import SCHEMA_VERSION, rows_to_batch
from seamline.store import Append, DuckDBStore, QueueFull, Statement, StoreError, Writer
from seamline.store.migrations import HEAD, MIGRATIONS


def _rows(n: int, start: int = 0, with_skew: bool = True) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        row = {
            "event_id": f"e{i}",
            "kind": "client_request",
            "ts": 1_764_000_000_000_000 + i,
            "source": "test",
            "origin": "mem",
            "ingest_batch_id": "b1",
            "schema_version": SCHEMA_VERSION,
            "duration_ms": float(i),
            "feature_flags": {"new_checkout": "on"},
        }
        if with_skew:
            row["client_ts"] = row["ts"] + 5_000_000
            row["clock_offset_ms"] = 5000.0
        rows.append(row)
    return rows


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    s = DuckDBStore(tmp_path / "s.duckdb")
    s.upgrade()
    yield s
    s.close()


def test_upgrade_from_empty_reaches_head(store: DuckDBStore) -> None:
    """A new database is migrated to the head version with every migration recorded."""
    status = store.schema_status()
    assert status.current == HEAD == SCHEMA_VERSION
    assert [v for v, _, _ in status.applied] == [m.version for m in MIGRATIONS]
    assert status.pending == ()


def test_down_and_up_on_populated_data_keeps_every_row(store: DuckDBStore) -> None:
    """Rolling back to version 1 and forward again loses no event row and keeps other columns."""
    store.append("events", rows_to_batch(_rows(1000)))
    before = store.query("SELECT event_id, ts, duration_ms, feature_flags FROM events ORDER BY event_id")
    with pytest.raises(StoreError, match="would discard"):
        store.downgrade(1)
    assert store.downgrade(1, force=True) == list(range(HEAD, 1, -1))
    assert "clock_offset_ms" not in [n for n, _ in store.table_columns("events")]
    assert store.scalar("SELECT count(*) FROM events") == 1000
    assert store.upgrade() == list(range(2, HEAD + 1))
    after = store.query("SELECT event_id, ts, duration_ms, feature_flags FROM events ORDER BY event_id")
    assert after.equals(before)
    assert store.scalar("SELECT count(clock_offset_ms) FROM events") == 0


def test_downgrade_without_values_at_risk_needs_no_force(store: DuckDBStore) -> None:
    """When the dropped columns hold only nulls, a rollback goes through without --force."""
    store.append("events", rows_to_batch(_rows(10, with_skew=False)))
    assert store.values_at_risk(1) == {}
    assert store.downgrade(1) == list(range(HEAD, 1, -1))
    assert store.scalar("SELECT count(*) FROM events") == 10


def test_downgrade_to_zero_refuses_to_drop_populated_tables(store: DuckDBStore) -> None:
    """Dropping the events table with rows in it is refused unless forced."""
    store.append("events", rows_to_batch(_rows(3, with_skew=False)))
    with pytest.raises(StoreError, match="events: 3"):
        store.downgrade(0)
    assert store.scalar("SELECT count(*) FROM events") == 3


def test_unknown_target_version_is_a_clear_error(store: DuckDBStore) -> None:
    """Asking for a version that does not exist names the valid range."""
    with pytest.raises(StoreError, match=rf"versions run 1\.\.{HEAD}"):
        store.upgrade(to=99)


def test_failed_transaction_leaves_nothing_behind(store: DuckDBStore) -> None:
    """Appends and statements in one transaction commit together or not at all."""
    ops = [Append("events", rows_to_batch(_rows(5))), Statement("INSERT INTO no_such_table VALUES (1)")]
    with pytest.raises(Exception, match="no_such_table"):
        store.apply(ops)
    assert store.scalar("SELECT count(*) FROM events") == 0


def test_writer_commits_in_order_and_readers_run_meanwhile(store: DuckDBStore) -> None:
    """The writer thread commits every batch while reader threads query concurrently."""
    writer = Writer(store, max_batches=4)
    seen: list[list[int]] = [[], []]
    stop = threading.Event()

    def read(counts: list[int]) -> None:
        while not stop.is_set():
            counts.append(store.scalar("SELECT count(*) FROM events"))

    readers = [threading.Thread(target=read, args=(seen[i],)) for i in range(2)]
    for t in readers:
        t.start()
    futures = [writer.put("events", rows_to_batch(_rows(500, start=i * 500))) for i in range(20)]
    writer.flush()
    stop.set()
    for t in readers:
        t.join()
    writer.close()
    assert all(f.result() == 500 for f in futures)
    assert store.scalar("SELECT count(*) FROM events") == 10_000
    for counts in seen:
        assert counts, "each reader ran at least one query"
        assert counts == sorted(counts), "a reader sees a growing table"
        assert all(c % 500 == 0 for c in counts), "a reader never sees a partial batch"


def test_writer_reject_policy_raises_when_full(store: DuckDBStore) -> None:
    """With the reject policy a full queue raises QueueFull instead of blocking."""
    gate = threading.Event()
    original = store.apply

    def slow_apply(ops):  # hold the writer so the queue fills
        gate.wait(5)
        return original(ops)

    store.apply = slow_apply  # type: ignore[method-assign]
    writer = Writer(store, max_batches=1, policy="reject")
    batch = rows_to_batch(_rows(1))
    writer.put("events", batch)  # taken by the thread, which now waits on the gate
    raised = False
    for _ in range(3):
        try:
            writer.put("events", batch)
        except QueueFull:
            raised = True
            break
    gate.set()
    writer.close()
    assert raised


def test_writer_surfaces_write_errors(store: DuckDBStore) -> None:
    """A failing write is raised to the producer on flush, not swallowed by the thread."""
    writer = Writer(store)
    writer.submit([Statement("INSERT INTO events (event_id) VALUES ('x')")])  # violates NOT NULL
    with pytest.raises(RuntimeError, match="writer failed"):
        writer.flush()


def test_read_only_store_cannot_write(tmp_path: Path) -> None:
    """A read-only store refuses migrations, and a missing database is a clear error."""
    with pytest.raises(StoreError, match="no database"):
        DuckDBStore(tmp_path / "missing.duckdb", read_only=True)
    s = DuckDBStore(tmp_path / "x.duckdb")
    s.upgrade()
    s.close()
    ro = DuckDBStore(tmp_path / "x.duckdb", read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        ro.upgrade()
    ro.close()


def test_writer_runs_jobs_in_queue_order(store: DuckDBStore) -> None:
    """A job runs on the writer thread after the writes queued before it, and returns its result."""
    writer = Writer(store)
    writer.put("events", rows_to_batch(_rows(7)))
    seen = writer.call(lambda s: s.scalar("SELECT count(*) FROM events"))
    failing = writer.call(lambda s: s.scalar("SELECT * FROM no_such_table"))
    writer.put("events", rows_to_batch(_rows(3, start=7)))
    assert seen.result(5) == 7
    with pytest.raises(Exception, match="no_such_table"):
        failing.result(5)
    writer.close()
    assert store.scalar("SELECT count(*) FROM events") == 10


def test_readers_refuse_a_store_behind_the_code_and_say_what_to_run(tmp_path: Path) -> None:
    """Opening a store below the head schema read-only (after a Seamline upgrade) names the fix, not a table."""
    from seamline.settings import Settings
    from seamline.store import open_store

    settings = Settings({"home": tmp_path})
    store = open_store(settings)
    store.downgrade(HEAD - 1, force=True)
    store.close()
    with pytest.raises(
        StoreError, match=f"schema version {HEAD - 1} .* reads version {HEAD}: run `seamline schema upgrade`"
    ):
        open_store(settings, read_only=True)
    as_it_is = open_store(settings, read_only=True, upgrade=False)  # what `schema status` and the access check do
    assert as_it_is.schema_status().current == HEAD - 1
    as_it_is.close()
    open_store(settings).close()  # a writer upgrades it
    reader = open_store(settings, read_only=True)
    assert reader.schema_status().current == HEAD
    reader.close()
