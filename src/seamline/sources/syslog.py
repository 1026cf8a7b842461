"""Syslog files, unwrapped: what each program logged through syslog, read as what it is.

    RFC 5424:             <165>1 2026-11-29T10:00:00.003Z web-1 shop-api 812 ID47 - message
    rsyslog file format:  2026-11-29T10:00:00.123456+00:00 web-1 shop-api[812]: message
    RFC 3164 (BSD):       Nov 29 10:00:00 web-1 nginx[812]: message

The message is read by `_payload` (a JSON log, an nginx or Envoy line, logfmt, else text at
the syslog time), with the program's name as the service unless the message or `--service`
names one; the host is the syslog host, and the priority (when the line has one) gives the
level of a message that does not say its own.

BSD timestamps carry no year and no zone: they are read as UTC, in the `year` option's year,
else the current one (or the one before, for a time more than a day ahead).

Options: `service`, `environment`, `preset` (for JSON and logfmt messages), `year`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Literal

from seamline.sources._base import BadRecord, Rejected, Row
from seamline.sources._framing import line_share
from seamline.sources._payload import PayloadReader
from seamline.sources._time import BadTimestamp, iso_to_us

NAME = "syslog"
DESCRIPTION = "Syslog files (RFC 5424, rsyslog's ISO format, BSD RFC 3164); each message read as what it is"
FRAMING: Literal["lines", "whole"] = "lines"

_RFC5424 = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) \S+ (?:-|\[.*?\](?:\[.*?\])*)(?: (.*))?", re.DOTALL)
_ISO = re.compile(r"(?:<(\d{1,3})>)?(\d{4}-\d\d-\d\dT\S+) (\S+) ([^\s:\[]+)(?:\[([^\]\s]*)\])?: ?(.*)", re.DOTALL)
_BSD = re.compile(
    r"(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s:\[]+)(?:\[([^\]\s]*)\])?: ?(.*)", re.DOTALL
)
_SEVERITY = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")
_MAX_PROGRAMS = 256  # program names whose reader (and json_log preset) is kept at once
_DAY_US = 86_400_000_000


def _bsd_time(text: str, year: int | None) -> int:
    now = datetime.now(UTC)
    try:
        dt = datetime.strptime(f"{year or now.year} {text}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise BadRecord(f"unreadable syslog time {text!r}") from None
    if year is None and (dt - now).total_seconds() * 1e6 > _DAY_US:  # December's lines read in January
        dt = dt.replace(year=dt.year - 1, day=min(dt.day, 28) if (dt.month, dt.day) == (2, 29) else dt.day)
    return int(dt.timestamp()) * 1_000_000


def split(line: str, year: int | None = None) -> tuple[int, str, str, str | None, int | None, str]:
    """(time in µs, host, program, process id, priority, message) of one syslog line."""
    m = _RFC5424.fullmatch(line)
    if m:
        pri, stamp, host, program, pid, message = m.groups()
        ts = _iso(stamp)
        message = (message or "").removeprefix("\ufeff")
    elif m := _ISO.fullmatch(line):
        pri, stamp, host, program, pid, message = m.groups()
        ts = _iso(stamp)
    elif m := _BSD.fullmatch(line):
        pri, stamp, host, program, pid, message = m.groups()
        ts = _bsd_time(stamp, year)
    else:
        raise BadRecord("not a syslog line (RFC 5424, rsyslog's ISO format or BSD RFC 3164)")
    return ts, host, program, None if pid in (None, "", "-") else pid, int(pri) if pri else None, message


def _iso(text: str) -> int:
    try:
        return iso_to_us(text)
    except BadTimestamp:
        raise BadRecord(f"unreadable syslog time {text[:40]!r}") from None


class _Parser:
    """A reader per program (each keeps its own json_log preset), created on first sight."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.options = {k: v for k, v in options.items() if k in ("service", "environment", "preset") and v}
        year = options.get("year")
        if year and not year.isdecimal():
            raise ValueError(f"syslog option year must be a number, not {year!r}")
        self.year = int(year) if year else None
        self.readers: dict[str, PayloadReader] = {}

    def _reader(self, program: str) -> PayloadReader:
        reader = self.readers.get(program)
        if reader is None:
            if len(self.readers) >= _MAX_PROGRAMS:  # bounded: the program seen first makes room
                del self.readers[next(iter(self.readers))]
            reader = self.readers[program] = PayloadReader({"service": program, **self.options})
        return reader

    def __call__(self, data: bytes) -> Iterable[Row | Rejected]:
        ts, host, program, pid, pri, message = split(data.decode(), self.year)
        rows = self._reader(program)(message.encode(), ts)
        for row in rows:
            row.setdefault("host", host)
            if pri is not None and pri < 192 and "level" not in row:
                row["level"] = _SEVERITY[pri % 8]
            extra = {"syslog.program": program, **({"syslog.pid": pid} if pid else {})}
            row["attributes"] = {**(row.get("attributes") or {}), **extra}
        return rows


def make_parser(options: Mapping[str, str]) -> _Parser:
    """A parser for one syslog file."""
    return _Parser(options)


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is a syslog file: most lines are syslog lines."""
    return round(0.85 * line_share(sample, lambda line: split(line.decode(), 2000)), 3)
