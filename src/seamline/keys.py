"""The pseudonym keyring: which HMAC key is active, which retired keys still link, rotation.

Pseudonyms are `HMAC(active key, raw id)`. A rotation adds a new active key and retires the
old one; it does not rewrite the store (a keyed hash cannot be recomputed without the raw
id). Instead, while a retired key is younger than `pseudonym_key_retention_days`, ingest also
hashes every raw id it sees with the retired key and, when that old pseudonym differs from
the new one, rewrites the old value to the new one in every pseudonym column of the store
(`relink_ops`). So a person seen before and after a rotation ends up under one pseudonym,
on client and server records alike, and user counts stay right. People not seen again keep
their old pseudonym until retention removes their records; then the retired key is dropped
(`prune`), and nothing can link its pseudonyms to anyone any more.

The keyring lives in the file the `pseudonym_key_file` setting names (JSON, mode 0600); a
file holding one bare key (the earlier format) is read as a keyring with key `k1`. The
SEAMLINE_PSEUDONYM_KEY variable overrides the file: either one key, or `id=key,id=key` with
the active key first and retired keys after it (rotation is then the operator's to do).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from seamline.dictionary import TABLES, Privacy
from seamline.settings import Settings
from seamline.store.base import Statement

ENV_VAR = "SEAMLINE_PSEUDONYM_KEY"
MIN_KEY_CHARS = 16
# Columns that hold keyed-HMAC pseudonyms (session ids are random, not keyed, so not here).
PSEUDONYM_COLUMN_NAMES = frozenset({"user_id", "anonymous_id", "device_id", "client_ip", "user_key"})
_RELINK_EVERY_S = 30.0  # pending relinks are written at least this often while ingest runs
_RELINK_BATCH = 20_000  # ...or as soon as this many are pending
_DONE_LIMIT = 1_000_000


class KeyringError(ValueError):
    """The keyring cannot be read or changed; the message says why."""


@dataclass
class Key:
    """One HMAC key: never printed, only its id and fingerprint are."""

    id: str
    secret: str
    created_at: datetime
    retired_at: datetime | None = None
    undated: bool = False  # a retired key from the environment: links for as long as it is listed

    @property
    def material(self) -> bytes:
        """The bytes the HMAC is keyed with."""
        return self.secret.encode()

    @property
    def fingerprint(self) -> str:
        """12 hex digits that tell keys apart without revealing them."""
        return hashlib.sha256(b"seamline-key-fingerprint\x00" + self.material).hexdigest()[:12]

    def expires_at(self, retention_days: int) -> datetime | None:
        """When a retired key stops linking and is dropped (None while active or without a date)."""
        if self.retired_at is None or self.undated:
            return None
        return self.retired_at + timedelta(days=retention_days)

    def describe(self, retention_days: int, now: datetime) -> dict[str, Any]:
        """JSON-ready, secret-free description."""
        expires = self.expires_at(retention_days)
        if self.retired_at is None:
            state = "active"
        elif expires is not None and expires <= now:
            state = "expired"
        else:
            state = "retired (links)"
        return {
            "id": self.id,
            "state": state,
            "fingerprint": self.fingerprint,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "retired_at": self.retired_at.isoformat(timespec="seconds") if self.retired_at else None,
            "drops_at": expires.isoformat(timespec="seconds") if expires else None,
        }


@dataclass
class Keyring:
    """The keys, oldest first; exactly one is active."""

    keys: list[Key]
    origin: str
    path: Path | None = None  # None when the keys come from the environment
    mtime: float = field(default=0.0, compare=False)

    @property
    def active(self) -> Key:
        """The key new pseudonyms are made with."""
        return next(k for k in reversed(self.keys) if k.retired_at is None)

    def linking(self, retention_days: int, now: datetime | None = None) -> list[Key]:
        """Retired keys still inside the retention window, newest first."""
        now = now or datetime.now(UTC)
        out = []
        for key in reversed(self.keys):
            if key.retired_at is None:
                continue
            expires = key.expires_at(retention_days)
            if expires is None or expires > now:
                out.append(key)
        return out

    def rotate(self, now: datetime | None = None) -> Key:
        """Retire the active key and add a new one (saved to the keyring file)."""
        if self.path is None:
            raise KeyringError(
                f"keys come from {ENV_VAR}; rotate by setting it to 'new-id=new-key,{self.active.id}=<old key>'"
            )
        now = now or datetime.now(UTC)
        self.active.retired_at = now
        number = 1 + max((int(k.id[1:]) for k in self.keys if k.id[1:].isdigit()), default=0)
        key = Key(f"k{number}", secrets.token_hex(32), now)
        self.keys.append(key)
        self.save()
        return key

    def prune(self, retention_days: int, now: datetime | None = None) -> list[Key]:
        """Drop retired keys older than the retention window (saved); returns the dropped keys."""
        now = now or datetime.now(UTC)
        dropped = [k for k in self.keys if (k.expires_at(retention_days) or now) < now]
        if dropped and self.path is not None:
            self.keys = [k for k in self.keys if k not in dropped]
            self.save()
        return dropped if self.path is not None else []

    def save(self) -> None:
        """Write the keyring file atomically, readable by its owner only."""
        assert self.path is not None
        data = {
            "version": 1,
            "keys": [
                {
                    "id": k.id,
                    "secret": k.secret,
                    "created_at": k.created_at.isoformat(),
                    "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                }
                for k in self.keys
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self.path)
        self.mtime = self.path.stat().st_mtime


def _check_secret(secret: str, where: str) -> str:
    if len(secret) < MIN_KEY_CHARS:
        raise KeyringError(f"pseudonym key {where} is shorter than {MIN_KEY_CHARS} characters")
    return secret


def _from_env(text: str) -> Keyring:
    epoch = datetime.fromtimestamp(0, UTC)
    if "=" not in text:
        return Keyring([Key("env", _check_secret(text.strip(), f"in {ENV_VAR}"), epoch)], f"env {ENV_VAR}")
    keys: list[Key] = []
    for i, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
        kid, eq, secret = part.partition("=")
        if not eq or not kid:
            raise KeyringError(f"{ENV_VAR}: entry {i + 1} must read id=key")
        # The first entry is active; the others are retired keys that still link.
        secret = _check_secret(secret, f"{kid} in {ENV_VAR}")
        keys.append(Key(kid, secret, epoch, None if i == 0 else epoch, undated=i > 0))
    if not keys:
        raise KeyringError(f"{ENV_VAR} holds no key")
    keys.reverse()
    return Keyring(keys, f"env {ENV_VAR}")


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _from_file(path: Path) -> Keyring:
    text = path.read_text().strip()
    mtime = path.stat().st_mtime
    if not text.startswith("{"):  # the earlier format: one bare key
        created = datetime.fromtimestamp(mtime, UTC)
        return Keyring([Key("k1", _check_secret(text, f"in {path}"), created)], str(path), path, mtime)
    try:
        data = json.loads(text)
        keys = [
            Key(
                str(k["id"]),
                _check_secret(str(k["secret"]), f"{k['id']} in {path}"),
                _parse_time(k["created_at"]) or datetime.fromtimestamp(mtime, UTC),
                _parse_time(k.get("retired_at")),
            )
            for k in data["keys"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyringError(f"keyring {path} cannot be read: {exc}") from exc
    if not any(k.retired_at is None for k in keys):
        raise KeyringError(f"keyring {path} has no active key")
    return Keyring(keys, str(path), path, mtime)


def keyring_path(settings: Settings) -> Path:
    """Where the keyring file is (the `pseudonym_key_file` setting, inside home unless absolute)."""
    return settings.resolve_in_home(Path(settings.pseudonym_key_file))


def load_keyring(settings: Settings, environ: dict[str, str] | None = None, create: bool = True) -> Keyring:
    """The keyring from SEAMLINE_PSEUDONYM_KEY, else the key file (created with a new key on first use)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        return _from_env(env[ENV_VAR])
    path = keyring_path(settings)
    if path.exists():
        return _from_file(path)
    if not create:
        raise KeyringError(f"no keyring at {path} (it is created on first ingest)")
    ring = Keyring([Key("k1", secrets.token_hex(32), datetime.now(UTC))], str(path), path)
    try:
        ring.save()
    except FileExistsError:  # another process created it first
        return _from_file(path)
    return ring


def key_retention_days(settings: Settings) -> int:
    """Days a retired key keeps linking (the `pseudonym_key_retention_days` setting)."""
    return int(settings.pseudonym_key_retention_days)


# --- relinking the store after a rotation --------------------------------------------------------


def note_relink(state: dict[str, Any], old: str, new: str) -> None:
    """Remember that pseudonym `old` (a retired key's) is now `new`, unless already done."""
    if old == new:
        return
    done: set[str] = state.setdefault("done", set())
    if old in done:
        return
    with state.setdefault("lock", threading.Lock()):
        if len(done) >= _DONE_LIMIT:
            done.clear()  # at worst an UPDATE that matches nothing runs again
        done.add(old)
        state.setdefault("pending", {})[old] = new


def _pseudonym_columns(existing: set[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for table, columns in TABLES.items():
        for col in columns:
            hashed = col.name in PSEUDONYM_COLUMN_NAMES and col.privacy is Privacy.PSEUDONYMOUS
            if hashed and (table, col.name) in existing:
                out.append((table, col.name))
    return out


def relink_ops(state: dict[str, Any], existing: set[tuple[str, str]], force: bool = False) -> list[Statement]:
    """UPDATE statements rewriting retired-key pseudonyms seen again to their new value.

    Writes are grouped (every 30 s, or 20,000 pairs, or when `force`d at the end of a file)
    because each statement scans its column once.
    """
    pending: dict[str, str] = state.get("pending") or {}
    if not pending:
        return []
    now = time.monotonic()
    last = state.setdefault("last", now)
    if not force and len(pending) < _RELINK_BATCH and now - last < _RELINK_EVERY_S:
        return []
    with state.setdefault("lock", threading.Lock()):
        pending = state["pending"]
        state["pending"], state["last"] = {}, now
    olds, news = list(pending), list(pending.values())
    return [
        Statement(
            f"UPDATE {table} SET {col} = m.new FROM "
            "(SELECT unnest(?::VARCHAR[]) AS old, unnest(?::VARCHAR[]) AS new) AS m "
            f"WHERE {table}.{col} = m.old",
            (olds, news),
        )
        for table, col in _pseudonym_columns(existing)
    ]
