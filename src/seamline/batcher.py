"""Gathers the rows of many small ingests (HTTP requests) into one batch before the writer.

One request carries a few hundred events; building an Arrow batch, running the transforms
and inserting has a fixed cost per batch that dwarfs the per-row cost at that size (a DuckDB
commit alone costs tens of milliseconds). The batcher lingers so concurrent requests share
one batch, then hands one transaction to the writer and resolves every request's Future when
it commits. A request is acknowledged once its body is in the write-ahead log, not when it
commits, so lingering delays only when rows become queryable, never the answer. Its pending
area is bounded: when full, `submit` raises QueueFull and the HTTP layer answers 503.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from seamline._lineage import concat_batches
from seamline.governance.schema_drift import ObservationBuffer
from seamline.schema import QUARANTINE_SCHEMA, rows_to_batch
from seamline.store import Append, QueueFull, Statement
from seamline.transforms import apply
from seamline.transforms.scrub_pii import scrub_quarantine
from seamline.wal import Position, wal_origin

if TYPE_CHECKING:
    from seamline.pipeline import Ingestor, _Run

log = logging.getLogger("seamline.batcher")


class Batcher:
    """Background thread turning queued runs into shared writer transactions."""

    def __init__(
        self, ingestor: Ingestor, max_rows: int = 20_000, linger_s: float = 0.25, max_pending_rows: int = 200_000
    ) -> None:
        self._ingestor = ingestor
        self._max_rows = max_rows
        self._linger_s = linger_s
        self._max_pending_rows = max_pending_rows
        self._pending: list[tuple[_Run, Future[int], Position | None]] = []
        self._pending_rows = 0
        self._closed = False
        self._observations = ObservationBuffer()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="seamline-batcher", daemon=True)
        self._thread.start()

    def submit(self, run: _Run, logged_at: Position | None = None) -> Future[int]:
        """Queue a parsed run; the Future gives its stored row count once committed.

        `logged_at` is where the run's body ends in the write-ahead log; the commit records it,
        so a replay after a crash starts past it.
        """
        size = len(run.rows) + run.batch_rows + len(run.bad)
        future: Future[int] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._pending and self._pending_rows + size > self._max_pending_rows:
                raise QueueFull("ingest backlog is full")
            self._pending.append((run, future, logged_at))
            self._pending_rows += size
            # Wake the thread only when it waits for a first run or the batch just filled; while
            # it lingers its timed wait ends by itself, and a wake-up per request costs GIL hand-offs.
            if len(self._pending) == 1 or self._pending_rows >= self._max_rows:
                self._cond.notify()
        return future

    def close(self) -> None:
        """Flush what is pending and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    break
                # Let concurrent requests join this batch: wait out the whole linger (or until the
                # batch is full), whatever wakes the condition meanwhile.
                deadline = time.monotonic() + self._linger_s
                while self._pending_rows < self._max_rows and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                group, self._pending, self._pending_rows = self._pending, [], 0
            try:
                self._flush(group)
            except BaseException as exc:  # surfaced to every waiting request
                for _, future, _ in group:
                    if not future.done():
                        future.set_exception(exc)
        self._drain_observations()

    def _flush(self, group: list[tuple[_Run, Future[int], Position | None]]) -> None:
        ingestor = self._ingestor
        parts: list[pa.RecordBatch] = []
        bad: list[dict[str, Any]] = []
        for run, _, _ in group:
            run.seal()  # already done in the request's thread, except for replayed bodies
            parts.extend(part for part in run.batches if part.num_rows)
            bad.extend(run.bad)
        ops: list[Append | Statement] = []
        if parts:
            events = apply(concat_batches(parts), ingestor.ctx, ingestor.transforms)
            ops.append(Append("events", events))
            ops.extend(self._observations.ops(events))  # fields and types seen, for schema drift
        if bad:
            ops.append(Append("quarantine", scrub_quarantine(rows_to_batch(bad, QUARANTINE_SCHEMA), ingestor.ctx)))
        ops.extend(ingestor.relink_ops())  # after a key rotation (see keys.py)
        for run, _, _ in group:
            run.result.rows_stored += run.batch_rows
            run.result.rows_quarantined += len(run.bad)
            run.bad, run.batches, run.batch_rows = [], [], 0
        ops.extend(_wal_checkpoints([logged_at for _, _, logged_at in group]))
        _chain(ingestor.writer.submit(ops), group)

    def _drain_observations(self) -> None:
        ops = self._observations.drain()
        if not ops:
            return
        try:  # the writer is closed after the batcher, so this commits before shutdown
            self._ingestor.writer.submit(ops).result()
        except Exception as exc:  # a failed writer was reported by the commit that broke it
            log.warning("field observations not recorded at shutdown: %s", exc)


def _wal_checkpoints(positions: list[Position | None]) -> list[Append | Statement]:
    """One upsert per segment: the furthest position this commit covers."""
    furthest: dict[str, int] = {}
    for p in positions:
        if p is not None:
            furthest[p.segment] = max(furthest.get(p.segment, 0), p.offset)
    return [
        Statement(WAL_CHECKPOINT_SQL, (wal_origin(segment), offset)) for segment, offset in sorted(furthest.items())
    ]


WAL_CHECKPOINT_SQL = """
INSERT INTO ingest_offsets (origin, fingerprint, offset_bytes, lines, updated_at) VALUES (?, 'wal', ?, 0, now())
ON CONFLICT (origin) DO UPDATE SET offset_bytes = greatest(ingest_offsets.offset_bytes, excluded.offset_bytes),
    updated_at = excluded.updated_at
"""


def _chain(commit: Future[int], group: list[tuple[_Run, Future[int], Position | None]]) -> None:
    def done(f: Future[int]) -> None:
        error = f.exception()
        for run, future, _ in group:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(run.result.rows_stored)

    commit.add_done_callback(done)
