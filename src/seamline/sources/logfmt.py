"""logfmt lines: `key=value` pairs, values bare or double-quoted, as Go's logrus and slog text
handlers, go-kit, Heroku's router and many others write them.

    time=2026-11-29T10:00:00Z level=info msg="order placed" method=POST path=/api/orders status=201 duration=12ms

A line's pairs become one record that json_log's presets read (every value is text there; the
converters read numbers, durations like `12ms` and times from text), so the columns, the
preset detection and what goes to `attributes` are the same as for a JSON line with those keys.
A key alone is `true` (a line with more bare words than pairs is prose, not logfmt); a
repeated key keeps its last value. A line may start with a time and a
`source[process]:` tag (`heroku logs` output, syslog-style prefixes); the time then serves a
record without its own.

Options: `preset`, `service` (default: the file name), `environment`, `path` (the file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import orjson

from seamline.sources import json_log
from seamline.sources._base import BadRecord, Rejected, Row
from seamline.sources._framing import sample_lines
from seamline.sources._time import BadTimestamp, iso_to_us

NAME = "logfmt"
DESCRIPTION = "logfmt key=value lines (logrus/slog text, go-kit, Heroku router), read with json_log's presets"
FRAMING: Literal["lines", "whole"] = "lines"

_PAIR = re.compile(r'\s*([^\s="]+)(?:=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*)))?(?=\s|$)')
_PREFIX = re.compile(r"(\d{4}-\d\d-\d\d[T ][0-9:.]+(?:Z|[+-]\d\d:?\d\d)?)\s+(?:([\w.-]+\[[\w.-]+\]):\s+)?")
_MIN_PAIRS = 2  # a line with fewer key=value pairs is prose, not logfmt


def _unquote(text: str) -> str:
    if "\\" not in text:
        return text
    try:
        return str(orjson.loads(f'"{text}"'))
    except orjson.JSONDecodeError:  # Go-only escapes (\a, \x..): keep what is there
        return text.replace('\\"', '"').replace("\\\\", "\\")


def pairs(text: str) -> tuple[dict[str, Any], int | None, str | None]:
    """The record a logfmt line holds, the time of its prefix, and its `source[process]` tag."""
    prefix_ts, tag, pos = None, None, 0
    prefix = _PREFIX.match(text)
    if prefix:
        try:
            prefix_ts = iso_to_us(prefix[1])
        except BadTimestamp:
            raise BadRecord(f"unreadable time {prefix[1]!r} at the start of the line") from None
        tag, pos = prefix[2], prefix.end()
    record: dict[str, Any] = {}
    with_value = bare_keys = 0
    end = len(text.rstrip())
    while pos < end:
        m = _PAIR.match(text, pos)
        if m is None:
            at = len(text) - len(text[pos:].lstrip())
            raise BadRecord(f"not logfmt at column {at + 1}: {text[at : at + 20]!r}")
        key, quoted, bare = m.groups()
        if quoted is not None:
            record[key], with_value = _unquote(quoted), with_value + 1
        elif bare is not None:
            record[key], with_value = bare, with_value + 1
        else:
            record[key], bare_keys = "true", bare_keys + 1
        pos = m.end()
    if with_value < _MIN_PAIRS or bare_keys > with_value:
        raise BadRecord(
            f"not logfmt: {with_value} key=value pair(s) among {bare_keys} bare word(s); "
            f"at least {_MIN_PAIRS} pairs, and more pairs than bare words, expected"
        )
    return record, prefix_ts, tag


class _Parser:
    """json_log's parser (presets, detection, plans) fed the records logfmt lines hold."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.json = json_log._Parser(options)

    def __call__(self, data: bytes) -> Iterable[Row | Rejected]:
        record, prefix_ts, tag = pairs(data.decode())
        rows = self.json.read_record(record, prefix_ts)
        if tag:
            for row in rows:
                row["attributes"] = {**(row.get("attributes") or {}), "process": tag}
        return rows


def make_parser(options: Mapping[str, str]) -> _Parser:
    """A parser for one logfmt file."""
    return _Parser(options)


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is logfmt: most lines are key=value pairs (0.5 each), with a time (0.75)."""
    if sample.lstrip()[:1] in (b"{", b"["):
        return 0.0
    times = {path for path, target, _ in json_log.COMMON if target == "ts"}
    lines = sample_lines(sample)
    score = 0.0
    for line in lines:
        try:
            record, prefix_ts, _ = pairs(line.decode())
        except (BadRecord, UnicodeDecodeError):
            continue
        score += 0.75 if prefix_ts is not None or not times.isdisjoint(record) else 0.5
    return round(score / len(lines), 3) if lines else 0.0
