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
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from seamline.store.base import Append, Statement, Store


class QueueFull(RuntimeError):
    """The writer queue is full and the policy is `reject`."""


@dataclass(slots=True)
class _Item:
    ops: Sequence[Append | Statement] | None  # None marks a flush barrier
    done: Future[int]


class Writer:
    """Background thread that commits transactions to the store in arrival order."""

    def __init__(self, store: Store, max_batches: int = 8, policy: Literal["block", "reject"] = "block") -> None:
        self._store = store
        self._policy = policy
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_batches)
        self._failure: BaseException | None = None
        self.rows_written = 0
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
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item.ops is None:
                item.done.set_result(0)
                continue
            try:
                n = self._store.apply(item.ops)
            except BaseException as exc:  # surfaced to the producer through the Future and flush()
                self._failure = exc
                item.done.set_exception(exc)
                continue
            self.rows_written += n
            item.done.set_result(n)
