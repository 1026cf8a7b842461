"""What every transform may read besides the batch: settings, keys, lookup tables, caches."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from seamline.keys import Keyring, key_retention_days, keyring_path, load_keyring
from seamline.settings import Settings

_KEYRING_CHECK_S = 5.0  # how often a long-running ingest looks for a rotated keyring file


@dataclass
class Context:
    """Per-run state shared by the transforms of one pipeline."""

    settings: Settings
    pseudonym_key: bytes
    # Retired keys still inside the retention window: ids hashed with them are relinked.
    linking_keys: tuple[bytes, ...] = ()
    keyring: Keyring | None = None
    # Loaded by enrichment when the user provides them; empty means "not configured".
    flag_timeline: list[dict[str, Any]] = field(default_factory=list)
    segment_map: dict[str, str] = field(default_factory=dict)
    # Memo tables that transforms keep across batches (user agents, pseudonyms...).
    cache: dict[str, dict[Any, Any]] = field(default_factory=dict)
    _checked: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        """Context with the keys (SEAMLINE_PSEUDONYM_KEY or the keyring file) and the PII rules loaded."""
        from seamline.transforms.scrub_pii import active_rules

        ctx = cls(settings=settings, pseudonym_key=b"")
        ring = load_keyring(settings)
        # Retired keys past the retention window go for good; if the file is read-only, they are
        # still never used (Keyring.linking skips them).
        with contextlib.suppress(OSError):
            ring.prune(key_retention_days(settings))
        ctx.use_keyring(ring)
        active_rules(ctx)  # a broken rules file fails here, with its message, before any record is read
        return ctx

    def use_keyring(self, ring: Keyring) -> None:
        """Take the active and linking keys from `ring`; pseudonyms made so far stay memoised per key."""
        self.keyring = ring
        self.pseudonym_key = ring.active.material
        self.linking_keys = tuple(k.material for k in ring.linking(key_retention_days(self.settings)))
        self._checked = time.monotonic()

    def refresh_keys(self) -> None:
        """Reload the keyring when its file changed (a `seamline keys rotate` beside a running ingest)."""
        ring = self.keyring
        if ring is None or ring.path is None or time.monotonic() - self._checked < _KEYRING_CHECK_S:
            return
        with self._lock:
            self._checked = time.monotonic()
            path = keyring_path(self.settings)
            try:
                changed = path.stat().st_mtime != ring.mtime
            except OSError:
                return
            if changed:
                self.use_keyring(load_keyring(self.settings, create=False))

    def memo(self, name: str) -> dict[Any, Any]:
        """A named cache dict that lives as long as the context."""
        return self.cache.setdefault(name, {})
