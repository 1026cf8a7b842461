"""Findings: people's notes tagged to a release, feature, experiment, product area or incident, in `annotations`.

A finding marks a moment (`start_ts`) or a period (`start_ts`..`end_ts`) and may name the
scope it concerns (a flow, route, service, page) and the alert it came out of. Charts draw
findings as vertical lines (moments) or shaded bands (periods). Writes take a writable
store: in `seamline serve` they run as jobs on the writer thread.
"""

from __future__ import annotations

import getpass
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from seamline.dictionary import column
from seamline.store.base import Statement, Store
from seamline.views._common import rows

KINDS: tuple[str, ...] = column("annotations", "kind").allowed
_MAX_TITLE = 200
_MAX_BODY = 20_000
_MAX_TARGET = 200


class FindingError(ValueError):
    """A finding that cannot be stored, with the reason."""


def parse_time(value: Any, name: str) -> datetime:
    """An ISO 8601 text or a datetime -> an aware UTC datetime; raises FindingError naming the field."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise FindingError(f"{name}: cannot read time {value!r}; use ISO 8601, e.g. 2026-11-02T10:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clean_scope(scope: dict[str, Any] | None) -> str | None:
    if not scope:
        return None
    if not isinstance(scope, dict):
        raise FindingError('scope must be a mapping such as {"flow": "checkout"}')
    clean = {str(k): str(v) for k, v in scope.items() if v not in (None, "")}
    return orjson.dumps(clean, option=orjson.OPT_SORT_KEYS).decode() if clean else None


def add_finding(
    store: Store,
    kind: str,
    target: str,
    title: str,
    at: Any = None,
    until: Any = None,
    scope: dict[str, Any] | None = None,
    body: str | None = None,
    author: str | None = None,
    alert_id: str | None = None,
) -> dict[str, Any]:
    """Store a finding and return it (the time defaults to now)."""
    if kind not in KINDS:
        raise FindingError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    target, title = (target or "").strip(), (title or "").strip()
    if not target:
        raise FindingError("target is required: the release, feature, experiment, product area or incident name")
    if not title:
        raise FindingError("title is required: one line shown on charts")
    if len(title) > _MAX_TITLE or len(target) > _MAX_TARGET:
        raise FindingError(f"title is at most {_MAX_TITLE} characters, target at most {_MAX_TARGET}")
    if body is not None and len(body) > _MAX_BODY:
        raise FindingError(f"body is at most {_MAX_BODY} characters")
    start = parse_time(at, "at") if at not in (None, "") else datetime.now(UTC)
    end = parse_time(until, "until") if until not in (None, "") else None
    if end is not None and end <= start:
        raise FindingError("until must be after at")
    now = datetime.now(UTC)
    finding = {
        "annotation_id": uuid.uuid4().hex[:16],
        "kind": kind,
        "target": target,
        "title": title,
        "body": (body or "").strip() or None,
        "start_ts": start,
        "end_ts": end,
        "scope": _clean_scope(scope),
        "author": (author or "").strip()[:100] or _local_user(),
        "alert_id": (alert_id or "").strip()[:64] or None,
        "created_at": now,
    }
    names = list(finding)
    store.apply(
        [
            Statement(
                f"INSERT INTO annotations ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                tuple(finding[n] for n in names),
            )
        ]
    )
    return _shape(finding)


def _local_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in containers without a passwd entry
        return None


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["scope"] = orjson.loads(row["scope"]) if row.get("scope") else {}
    return out


def list_findings(
    store: Store,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: str | None = None,
    target: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Findings overlapping [start, end) (all when open), newest first."""
    if kind is not None and kind not in KINDS:
        raise FindingError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    clauses, params = ["true"], []
    if end is not None:
        clauses.append("start_ts < ?")
        params.append(end)
    if start is not None:
        clauses.append("coalesce(end_ts, start_ts) >= ?")
        params.append(start)
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if target is not None:
        clauses.append("target = ?")
        params.append(target)
    found = rows(
        store,
        f"SELECT * FROM annotations WHERE {' AND '.join(clauses)} ORDER BY start_ts DESC LIMIT ?",
        [*params, max(1, min(limit, 5000))],
    )
    return [_shape(r) for r in found]


def remove_finding(store: Store, annotation_id: str) -> dict[str, Any]:
    """Delete one finding; raises KeyError when there is none with that id."""
    found = rows(store, "SELECT * FROM annotations WHERE annotation_id = ?", [annotation_id])
    if not found:
        raise KeyError(annotation_id)
    store.apply([Statement("DELETE FROM annotations WHERE annotation_id = ?", (annotation_id,))])
    return _shape(found[0])
