"""Bounded memory of natural event ids seen lately (duplicate detection for retried batches)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable


class RecentIds:
    """Bounded memory of natural event ids seen lately, so a retried batch is caught as a duplicate.

    Retries (an SDK resending a beacon, a client re-posting after a timeout) arrive within
    minutes, so remembering the last `capacity` ids catches them without an index on a
    billion-row table.
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add_if_new(self, key: str) -> bool:
        """Remember `key`; False when it was already remembered."""
        with self._lock:
            if key in self._ids:
                return False
            self._ids[key] = None
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
            return True

    def add_all(self, keys: list[str | None]) -> list[bool]:
        """`add_if_new` for each key (None is skipped as new) under one lock acquisition."""
        ids, fresh = self._ids, []
        with self._lock:
            for key in keys:
                if key is None:
                    fresh.append(True)
                elif key in ids:
                    fresh.append(False)
                else:
                    ids[key] = None
                    fresh.append(True)
            while len(ids) > self._capacity:
                ids.popitem(last=False)
        return fresh

    def forget(self, keys: Iterable[str]) -> None:
        """Drop keys whose rows did not commit, so a retry is accepted."""
        with self._lock:
            for key in keys:
                self._ids.pop(key, None)
