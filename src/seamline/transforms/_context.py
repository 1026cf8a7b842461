"""What every transform may read besides the batch: settings, keys, lookup tables, caches."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seamline.settings import Settings


def load_or_create_key(path: Path) -> bytes:
    """The pseudonym HMAC key; a new random key is written (mode 0600) on first use."""
    env_key = os.environ.get("SEAMLINE_PSEUDONYM_KEY")
    if env_key:
        return env_key.encode()
    if path.exists():
        key = path.read_bytes().strip()
        if len(key) < 16:
            raise ValueError(f"pseudonym key in {path} is shorter than 16 bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


@dataclass
class Context:
    """Per-run state shared by the transforms of one pipeline."""

    settings: Settings
    pseudonym_key: bytes
    # Loaded by enrichment when the user provides them; empty means "not configured".
    flag_timeline: list[dict[str, Any]] = field(default_factory=list)
    segment_map: dict[str, str] = field(default_factory=dict)
    # Memo tables that transforms keep across batches (user agents, pseudonyms...).
    cache: dict[str, dict[Any, Any]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        """Context with the key from the configured key file (or SEAMLINE_PSEUDONYM_KEY)."""
        key = load_or_create_key(settings.resolve_in_home(Path(settings.pseudonym_key_file)))
        return cls(settings=settings, pseudonym_key=key)

    def memo(self, name: str) -> dict[Any, Any]:
        """A named cache dict that lives as long as the context."""
        return self.cache.setdefault(name, {})
