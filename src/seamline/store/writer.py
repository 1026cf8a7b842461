"""The single writer: one thread owns every write to the store; producers only enqueue.

A bounded queue sits in front, so a fast source cannot outrun the database and grow memory
without limit. When the queue is full the policy decides: `block` (file ingest waits) or
`reject` (HTTP ingest answers 503 so the client retries). Each `submit` is one transaction
(e.g. events + quarantine rows + the file checkpoint that covers them) and returns a Future
that resolves once it is committed, which is what an HTTP 'accepted' waits for.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pyarrow as pa

from seamline.store.base import Append, Statement, Store

T = TypeVar("T")


class QueueFull(RuntimeError):
    """The writer queue is full and the policy is `reject`."""


@dataclass(slots=True)
class _Item:
    ops: Sequence[Append | Statement] | None  # None (and no job) marks a flush barrier
    done: Future[Any]
    job: Callable[[Store], Any] | None = None  # a multi-statement job run alone on the writer thread


class Writer:
    """Background thread that commits transactions to the store in arrival order."""

    def __init__(
        self, store: Store, max_batches: int = 8, policy: Literal["block", "reject"] = "block", max_group: int = 64
    ) -> None:
        self._store = store
        self._policy = policy
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_batches)
        self._failure: BaseException | None = None
        self.rows_written = 0
        self._max_group = max_group
        self._thread = threading.Thread(target=self._run, name="seamline-writer", daemon=True)
        self._thread.start()

    def submit(self, ops: Sequence[Append | Statement], timeout: float | None = None) -> Future[int]:
        """Enqueue one transaction; the Future gives the rows appended once committed."""
        self._raise_if_failed()
        item = _Item(list(ops), Future())
        if self._policy == "reject":
            try:
                self._queue.put(item, timeout=timeout or 0.001)
            except queue.Full:
                raise QueueFull("writer queue is full") from None
        else:
            self._queue.put(item, timeout=timeout)
        return item.done

    def put(self, table: str, batch: pa.RecordBatch | pa.Table) -> Future[int]:
        """Enqueue rows for one table as their own transaction."""
        return self.submit([Append(table, batch)])

    def call(self, job: Callable[[Store], T]) -> Future[T]:
        """Run `job(store)` on the writer thread, after everything queued before it (e.g. correlation)."""
        self._raise_if_failed()
        item = _Item(None, Future(), job)
        self._queue.put(item)
        return item.done

    def flush(self) -> None:
        """Wait until everything enqueued before this call is committed; re-raise a write error."""
        barrier = _Item(None, Future())
        self._queue.put(barrier)
        barrier.done.result()
        self._raise_if_failed()

    def close(self) -> None:
        """Flush and stop the thread."""
        if self._thread.is_alive():
            self.flush()
            self._queue.put(None)
            self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"the store writer failed: {self._failure}") from self._failure

    def _run(self) -> None:
        pending: _Item | None = None  # a barrier or job met while grouping; runs after the group
        closing = False
        while not closing:
            item = self._queue.get()
            if item is None:
                return
            if item.ops is None:
                self._finish_special(item)
                continue
            group = [item]
            # Group commit: whatever else is already waiting joins this transaction, so under
            # load many small requests share one commit instead of paying for one each.
            while len(group) < self._max_group:
                try:
                    extra = self._queue.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    closing = True
                    break
                if extra.ops is None:
                    pending = extra
                    break
                group.append(extra)
            self._commit(group)
            if pending is not None:  # released only after what preceded it
                self._finish_special(pending)
                pending = None

    def _finish_special(self, item: _Item) -> None:
        if item.job is None:
            item.done.set_result(0)
            return
        try:
            item.done.set_result(item.job(self._store))
        except BaseException as exc:  # a failed job is the caller's to handle; the writer goes on
            item.done.set_exception(exc)

    def _commit(self, group: list[_Item]) -> None:
        try:
            n = self._store.apply(_merge([op for item in group for op in item.ops or ()]))
        except BaseException as exc:
            if len(group) == 1:
                self._failure = exc
                group[0].done.set_exception(exc)
                return
            # One bad transaction must not fail its neighbours: retry each on its own.
            for item in group:
                self._commit([item])
            return
        self.rows_written += n
        # Report to each producer the rows of its own transaction.
        for item in group:
            item.done.set_result(sum(_rows(op) for op in item.ops or ()))


def _rows(op: Append | Statement) -> int:
    return op.batch.num_rows if isinstance(op, Append) else 0


def _merge(ops: list[Append | Statement]) -> list[Append | Statement]:
    """Statements in order, then one append per table: fewer, larger inserts."""
    statements: list[Append | Statement] = [op for op in ops if isinstance(op, Statement)]
    by_table: dict[str, list[pa.Table]] = {}
    for op in ops:
        if isinstance(op, Append) and op.batch.num_rows:
            table = pa.Table.from_batches([op.batch]) if isinstance(op.batch, pa.RecordBatch) else op.batch
            by_table.setdefault(op.table, []).append(table)
    appends: list[Append | Statement] = [
        Append(name, tables[0] if len(tables) == 1 else pa.concat_tables(tables)) for name, tables in by_table.items()
    ]
    return statements + appends
