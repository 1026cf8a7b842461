"""API tokens: created with a role (and optionally a project), stored as SHA-256 only, revocable.

A secret looks like `sl_<token id>_<43 random characters>`: the id part lets lists, logs and
the audit log name a token without its secret. Only the hash of the whole secret is stored;
the secret is shown once, when it is created.

Access control is on as soon as the `api_tokens` table holds any row — revoking every token
does not switch it off again (that would open the data to anyone).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from seamline.dictionary import ROLES
from seamline.store.base import Statement, Store

_SECRET_RE = re.compile(r"^sl_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
_NAME_RE = re.compile(r"^[\w .@:-]{1,80}$")
_PROJECT_RE = re.compile(r"^[\w.-]{1,64}$")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class TokenError(ValueError):
    """A token could not be created, found or revoked (the message says why)."""


class AuthError(PermissionError):
    """A presented token is not valid; `reason` is safe to show (it never echoes the secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request or command acts as."""

    actor: str  # token id, or local:<os user> when auth is off
    role: str | None
    name: str = ""
    project: str | None = None
    token_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (no secret: there is none here)."""
        return {"actor": self.actor, "role": self.role, "name": self.name, "project": self.project}


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """One stored token, as lists show it."""

    token_id: str
    name: str
    role: str
    project: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """active, expired or revoked."""
        now = now or datetime.now(UTC)
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form with ISO timestamps and the state."""
        iso = lambda v: v.isoformat() if v is not None else None  # noqa: E731
        return {
            "token_id": self.token_id,
            "name": self.name,
            "role": self.role,
            "project": self.project,
            "state": self.state(),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a secret: what the table stores and looks up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_expiry(text: str | None) -> timedelta | None:
    """'30d', '12h', '90m', '2w' -> a timedelta; None or 'never' -> no expiry."""
    if text is None or text.strip().lower() in ("", "never"):
        return None
    found = _DURATION_RE.match(text.strip().lower())
    if not found or float(found.group(1)) <= 0:
        raise TokenError(f"cannot read expiry {text!r}; use e.g. 12h, 30d, 2w or never")
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def validate(*, name: str, role: str, project: str | None) -> None:
    """Raise TokenError when a token with these fields could not be created."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not _NAME_RE.match(name or ""):
        raise TokenError("name must be 1-80 letters, digits, spaces or . @ : _ -")
    if project is not None and not _PROJECT_RE.match(project):
        raise TokenError("project must be 1-64 letters, digits or . _ -")
    if project is not None and role == "admin":
        raise TokenError("admin tokens cannot be limited to a project (they manage every project)")


def auth_configured(store: Store) -> bool:
    """Whether access control is on: any token was ever created in this store."""
    return bool(store.query("SELECT 1 FROM api_tokens LIMIT 1").num_rows)


def has_active_admin(store: Store) -> bool:
    """Whether some admin token is neither revoked nor expired."""
    return bool(
        store.query(
            "SELECT 1 FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > now()) LIMIT 1"
        ).num_rows
    )


def create(
    store: Store,
    *,
    name: str,
    role: str,
    project: str | None = None,
    expires: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[TokenInfo, str]:
    """Store a new token's hash; returns its info and the secret (shown once, never stored)."""
    validate(name=name, role=role, project=project)
    if expires is not None and expires <= timedelta(0):
        raise TokenError("expiry must be in the future")
    now = now or datetime.now(UTC)
    token_id = secrets.token_hex(6)
    secret = f"sl_{token_id}_{secrets.token_urlsafe(32)}"
    info = TokenInfo(token_id, name, role, project, now, now + expires if expires else None, None, None)
    store.apply(
        [
            Statement(
                "INSERT INTO api_tokens (token_id, name, token_hash, role, project, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, name, hash_secret(secret), role, project, now, info.expires_at),
            )
        ]
    )
    return info, secret


_COLUMNS = "token_id, name, role, project, created_at, expires_at, revoked_at, last_used_at"


def list_tokens(store: Store) -> list[TokenInfo]:
    """Every token, newest first (revoked and expired too: they explain audit entries)."""
    rows = store.query(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at DESC").to_pylist()
    return [TokenInfo(**r) for r in rows]


def get(store: Store, token_id: str) -> TokenInfo | None:
    """One token by its public id."""
    rows = store.query(f"SELECT {_COLUMNS} FROM api_tokens WHERE token_id = ?", [token_id]).to_pylist()
    return TokenInfo(**rows[0]) if rows else None


def revoke(store: Store, token_id: str, now: datetime | None = None) -> TokenInfo:
    """Mark a token revoked (kept for the audit trail); raises TokenError when unknown or already revoked."""
    found = get(store, token_id)
    if found is None:
        raise TokenError(f"no token {token_id!r}; `seamline tokens list` shows the ids")
    if found.revoked_at is not None:
        raise TokenError(f"token {token_id} was already revoked at {found.revoked_at.isoformat()}")
    now = now or datetime.now(UTC)
    store.apply([Statement("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ?", (now, token_id))])
    return get(store, token_id) or found


def token_id_of(secret: str) -> str | None:
    """The public id inside a well-formed secret, else None."""
    found = _SECRET_RE.match(secret)
    return found.group(1) if found else None


def authenticate(store: Store, secret: str, now: datetime | None = None) -> Principal:
    """The principal a secret stands for; raises AuthError (malformed, unknown, revoked, expired)."""
    token_id = token_id_of(secret or "")
    if token_id is None:
        raise AuthError("malformed token")
    rows = store.query(
        "SELECT token_id, name, role, project, token_hash, expires_at, revoked_at FROM api_tokens WHERE token_id = ?",
        [token_id],
    ).to_pylist()
    # Compared in constant time, and the same answer for 'no such id' and 'wrong secret'.
    if not rows or not hmac.compare_digest(rows[0]["token_hash"], hash_secret(secret)):
        raise AuthError("unknown token")
    row = rows[0]
    now = now or datetime.now(UTC)
    if row["revoked_at"] is not None:
        raise AuthError("token revoked")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise AuthError("token expired")
    return Principal(
        actor=row["token_id"], role=row["role"], name=row["name"], project=row["project"], token_id=row["token_id"]
    )


def touch(token_id: str, now: datetime | None = None) -> Statement:
    """The statement recording a token's last use (run through the writer, at most once a minute)."""
    return Statement("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", (now or datetime.now(UTC), token_id))
