"""Timestamps in every shape sources meet, to integer microseconds since the epoch (UTC).

Naive times (no offset) are taken as UTC; callers that know better pass `default_tz`.
Epoch numbers are told apart by magnitude: seconds, milliseconds, microseconds, nanoseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}


class BadTimestamp(ValueError):
    """A value that cannot be read as a point in time."""


def datetime_to_us(dt: datetime, default_tz: tzinfo = UTC) -> int:
    """Microseconds since the epoch; a naive datetime is taken in `default_tz`."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_iso(us: int) -> str:
    """ISO 8601 UTC text with microseconds, e.g. 2026-11-29T10:00:00.123456Z."""
    return (_EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_MAX_US = 253_402_300_800_000_000  # 10000-01-01: beyond that no real clock writes


def epoch_to_us(value: float | int) -> int:
    """An epoch number in s, ms, µs or ns (told apart by magnitude) to microseconds."""
    v = float(value)
    magnitude = abs(v)
    if not magnitude < _MAX_US * 1000:  # also rejects nan and inf
        raise BadTimestamp(f"epoch number out of range: {value!r}")
    if magnitude < 1e11:  # seconds: up to year 5138
        return round(v * 1_000_000)
    if magnitude < 1e14:  # milliseconds
        return round(v * 1_000)
    if magnitude < 1e17:  # microseconds
        return int(v)
    return int(value) // 1_000 if isinstance(value, int) else round(v / 1_000)  # nanoseconds


def iso_to_us(text: str, default_tz: tzinfo = UTC) -> int:
    """ISO 8601 / RFC 3339 with any offset (Z, +hh:mm, +hhmm) and any fraction length."""
    s = text.strip()
    if not s:
        raise BadTimestamp("empty timestamp")
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    # Python reads at most 6 fraction digits; trim nanoseconds before the offset.
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        frac = s[dot + 1 : end]
        if len(frac) > 6:
            s = s[: dot + 7] + s[end:]
    try:
        dt = datetime.fromisoformat(s.replace(" ", "T", 1) if "T" not in s else s)
    except ValueError as exc:
        raise BadTimestamp(f"not an ISO 8601 timestamp: {text[:60]!r}") from exc
    return datetime_to_us(dt, default_tz)


def clf_to_us(text: str) -> int:
    """Common Log Format time `10/Oct/2000:13:55:36 -0700` (nginx $time_local, Apache %t)."""
    s = text.strip().strip("[]")
    try:
        day, mon, rest = s.split("/", 2)
        year, hh, mm, rest2 = rest.split(":", 3)
        ss, _, offset = rest2.partition(" ")
        frac = 0
        if "." in ss:
            ss, f = ss.split(".", 1)
            frac = int((f + "000000")[:6])
        sign = -1 if offset.startswith("-") else 1
        off = offset.lstrip("+-")
        tz = timezone(sign * timedelta(hours=int(off[:2]), minutes=int(off[2:4]))) if off else UTC
        dt = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), frac, tzinfo=tz)
    except (ValueError, KeyError, IndexError) as exc:
        raise BadTimestamp(f"not a Common Log Format time: {text[:60]!r}") from exc
    return datetime_to_us(dt)


def any_to_us(value: object, default_tz: tzinfo = UTC) -> int:
    """Read a timestamp of unknown shape: epoch number (or numeric text), ISO text, or CLF text."""
    if isinstance(value, bool) or value is None:
        raise BadTimestamp(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return epoch_to_us(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return epoch_to_us(int(text)) if text.isdigit() else epoch_to_us(float(text))
        except ValueError:
            pass
        if "/" in text[:7] and ":" in text:
            return clf_to_us(text)
        return iso_to_us(text, default_tz)
    raise BadTimestamp(f"not a timestamp: {value!r}")
