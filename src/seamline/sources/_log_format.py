"""Compile an access-log format (nginx `log_format`, Apache `LogFormat`) into a fast line parser.

Each dialect module turns its format string into the same token list: literal text and
`Field`s, each field naming a *role* (what its value means, a key of `ROLES`). This module
turns a token list into one anchored regex with one group per field, plus converters sorted
so that, where several fields fill the same column (`$request` and `$request_uri` both give
a URL), the highest-ranked field that is present on the line wins. A lower-ranked field whose
role keeps text (ids, host names) is then also kept in `attributes` so nothing is lost.

A field's regex comes from its context: between double quotes it is an escaped string
(nginx writes `"` as `\\x22`, Apache and `escape=json` as `\\"`), before a literal it is
"anything but that literal's first character", and a few roles whose values contain
spaces (upstream lists, CLF times) bring their own shape. Values are checked and converted
after the match, so a wrong value is reported by field name, not as a vague mismatch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from seamline.dictionary import HTTP_METHODS
from seamline.sources._base import BadRecord, Parser, Row
from seamline.sources._time import BadTimestamp, clf_to_us, datetime_to_us, iso_to_us
from seamline.sources._trace_context import clean_request_id, parse_b3, parse_traceparent

Conv = Callable[[str, Row], None]
Finisher = Callable[[tuple[str | None, ...], Row], None]


class LogFormatError(ValueError):
    """A format string that cannot be compiled; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Field:
    """One placeholder of a format: where its value goes and how to read it."""

    label: str  # as written in the format ("$status", "%>s"), for messages
    role: str  # key of ROLES
    attr: str = ""  # key in `attributes` when the value is kept there
    rank: int = 0  # among fields filling the same column, the highest present one wins
    arg: str = ""  # role argument: a time unit or a strptime format
    pattern: str = ""  # value shape used when the next literal is a space (values with spaces)
    end_time: bool = False  # a time field stamped when the response ended (nginx), not began


Token = str | Field

QUOTED = r'([^"\\]*(?:\\.[^"\\]*)*)'
LIST_PATTERN = r"[^ ,]+(?:(?:, | : )[^ ,]+)*"  # nginx upstream lists: "a, b : c"
CLF_TIME_PATTERN = r"[^ \]]+ [+-][0-9]{4}"
MAX_INT = 10**18
_METHODS = frozenset(HTTP_METHODS)
_ESCAPE = re.compile(r"((?:\\x[0-9a-fA-F]{2})+)|((?:\\u[0-9a-fA-F]{4})+)|\\(.)", re.DOTALL)
_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    '"': '"',
    "\\": "\\",
    "/": "/",
    "'": "'",
}
UNIT_MS = {"s": 1000.0, "ms": 1.0, "us": 0.001}
UNIT_US = {"s": 1_000_000.0, "ms": 1000.0, "us": 1.0}

# Request headers with a meaning, by lowercase name with "-" as "_" (nginx's $http_ spelling).
# "drop": personal or secret values that must not reach the store raw.
HEADER_ROLES: dict[str, tuple[str, int]] = {
    "user_agent": ("user_agent", 0),
    "referer": ("referrer", 0),
    "traceparent": ("traceparent", 1),
    "b3": ("b3", 0),
    "x_request_id": ("request_id", 2),
    "x_correlation_id": ("request_id", 1),
    "x_amzn_trace_id": ("request_id", 0),  # set by AWS load balancers (the aws_alb source's request id)
    "host": ("host", 1),
    "cookie": ("drop", 0),
    "authorization": ("drop", 0),
    "proxy_authorization": ("drop", 0),
    "x_forwarded_for": ("drop", 0),
    "x_real_ip": ("drop", 0),
    "forwarded": ("drop", 0),
}
RESPONSE_HEADER_DROP = frozenset({"set_cookie"})


def header_key(name: str) -> str:
    """A header name as nginx spells it in variables: lowercase, dashes as underscores."""
    return name.strip().lower().replace("-", "_")


def unescape(value: str) -> str:
    """Undo nginx (`\\xHH`, escape=json) and Apache (`\\"`, `\\xhh`, `\\n`) escaping."""
    return _ESCAPE.sub(_unescape_one, value)


def _unescape_one(m: re.Match[str]) -> str:
    if m.group(1):  # a run of bytes: decode together so multi-byte UTF-8 comes back whole
        return bytes.fromhex(m.group(1).replace("\\x", "")).decode("utf-8", "backslashreplace")
    if m.group(2):  # \uXXXX runs may hold surrogate pairs
        units = m.group(2).encode().decode("unicode_escape")
        return units.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    char = m.group(3)
    return _SIMPLE_ESCAPES.get(char, "\\" + char)


# --- converters: factory(field, column, escaped) -> conv(value, row) ---------------------------
def put_attr(row: Row, key: str, value: str) -> None:
    attrs = row.get("attributes")
    if attrs is None:
        row["attributes"] = {key: value}
    else:
        attrs[key] = value


def _attr(f: Field, column: str, esc: bool) -> Conv:
    key = column or f.attr

    def conv(v: str, row: Row) -> None:
        put_attr(row, key, unescape(v) if esc and "\\" in v else v)

    return conv


def text_conv(f: Field, column: str, esc: bool) -> Conv:
    def conv(v: str, row: Row) -> None:
        row[column] = unescape(v) if esc and "\\" in v else v

    return conv


def _int(f: Field, column: str, esc: bool) -> Conv:
    limit = 999 if column == "http_status" else MAX_INT

    def conv(v: str, row: Row) -> None:
        if not (v.isdigit() and v.isascii()):
            raise BadRecord(f"{f.label}: not a whole number: {v[:40]!r}")
        n = int(v) if len(v) <= 18 else MAX_INT + 1
        if n > limit:
            raise BadRecord(f"{f.label}: {v[:40]} is more than {limit}")
        row[column] = n

    return conv


def _number(f: Field, v: str) -> float:
    # Plain decimals only: float() would also take "nan", "1e9", "1_0" and surrounding spaces.
    if not (v.isascii() and v.replace(".", "", 1).isdigit()):
        raise BadRecord(f"{f.label}: not a number: {v[:40]!r}")
    x = float(v)
    if not math.isfinite(x):
        raise BadRecord(f"{f.label}: number out of range: {v[:40]!r}")
    return x


def duration_conv(f: Field, column: str, esc: bool) -> Conv:
    scale = UNIT_MS[f.arg or "s"]

    def conv(v: str, row: Row) -> None:
        if v.replace(".", "", 1).isdigit() and v.isascii() and len(v) < 20:  # the usual "0.123"
            row[column] = round(float(v) * scale, 3)
            return
        if "," not in v and ":" not in v:
            row[column] = round(_number(f, v) * scale, 3)
            return
        # nginx upstream times list one value per upstream tried: ", " within a group,
        # " : " across internal redirects; the time waited is their sum.
        total, seen = 0.0, False
        for part in v.replace(":", ",").split(","):
            part = part.strip()
            if part and part != "-":
                total += _number(f, part)
                seen = True
        if seen:
            row[column] = round(total * scale, 3)

    return conv


def _time(f: Field, column: str, esc: bool) -> Conv:
    read: Callable[[str], int]
    if f.role == "ts_epoch":
        scale = UNIT_US[f.arg or "s"]

        def read(v: str) -> int:
            us = round(_number(f, v) * scale)
            if not 0 <= us < 253_402_300_800_000_000:  # before 1970 or past year 9999: not a log clock
                raise BadRecord(f"{f.label}: epoch time out of range: {v[:40]!r}")
            return us
    elif f.role == "ts_strptime":

        def read(v: str) -> int:
            return datetime_to_us(datetime.strptime(v, f.arg), UTC)
    else:
        read = clf_to_us if f.role == "ts_clf" else iso_to_us
    # Consecutive lines share their second; one remembered value skips most parses.
    cache: tuple[str, int] = ("", 0)

    def conv(v: str, row: Row) -> None:
        nonlocal cache
        if v != cache[0]:
            try:
                cache = (v, read(v))
            except (BadTimestamp, ValueError, OverflowError) as exc:
                raise BadRecord(f"{f.label}: not a time: {v[:60]!r}") from exc
        row["ts"] = cache[1]

    return conv


def _method(f: Field, column: str, esc: bool) -> Conv:
    def conv(v: str, row: Row) -> None:
        if v in _METHODS:
            row["http_method"] = v
        else:
            put_attr(row, "method", unescape(v) if esc and "\\" in v else v)

    return conv


def read_request_line(v: str, row: Row, esc: bool = False) -> None:
    """Method, target and protocol of `GET /path HTTP/1.1` into the row (`esc`: the target may
    carry backslash escapes); anything else is kept as the `request` attribute."""
    method, sep, rest = v.partition(" ")
    if sep and method in _METHODS:
        row["http_method"] = method
    elif sep and method.isascii() and method.isalpha() and method.isupper():
        put_attr(row, "method", method)
    else:  # not a request line (TLS bytes, scanners): kept as logged, escapes and all
        put_attr(row, "request", v)
        return
    if esc and "\\" in rest:
        rest = unescape(rest)
    target, sep, proto = rest.rpartition(" ")
    if not sep or not proto.startswith("HTTP/"):
        target, proto = rest, ""
    if target:
        row["url"] = target
    if proto:
        put_attr(row, "protocol", proto)


def _request(f: Field, column: str, esc: bool) -> Conv:
    return partial(read_request_line, esc=esc)


_QUOTED_OR_BARE = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def quoted_tokens(line: str, pos: int = 0) -> list[str]:
    """The space-separated fields of a line from `pos`, a double-quoted field as one (without quotes)."""
    return [m[1] if m[1] is not None else m[2] for m in _QUOTED_OR_BARE.finditer(line, pos)]


def host_of(address: str | None) -> str | None:
    """The host of `host:port`, `[v6]:port` or a bare address."""
    if not address:
        return None
    if address.startswith("["):
        return address[1 : address.find("]")] or None
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdecimal() and ":" not in host else address


def _query(f: Field, column: str, esc: bool) -> Conv:
    # Completes a URL that came from a path-only field ($uri, %U); see compile_tokens.
    prefix = "?" if f.role == "args" else ""
    append = f.arg == "append"

    def conv(v: str, row: Row) -> None:
        if esc and "\\" in v:
            v = unescape(v)
        url = row.get("url")
        if append and url is not None:
            row["url"] = url + prefix + v
        else:
            put_attr(row, f.attr, v)

    return conv


def _trace(f: Field, column: str, esc: bool) -> Conv:
    parse = parse_b3 if f.role == "b3" else parse_traceparent

    def conv(v: str, row: Row) -> None:
        ctx = parse(v)
        if ctx is None:  # unreadable context: keep the raw header so it can be looked at
            put_attr(row, f.attr, v)
        else:  # the caller's span is this request's parent, as in trace_fields
            row["trace_id"] = ctx.trace_id
            row["parent_span_id"] = ctx.span_id
            row["trace_sampled"] = ctx.sampled

    return conv


def _request_id(f: Field, column: str, esc: bool) -> Conv:
    def conv(v: str, row: Row) -> None:
        if esc and "\\" in v:
            v = unescape(v)
        rid = clean_request_id(v)
        if rid is None:
            put_attr(row, f.attr, v)
        else:
            row["request_id"] = rid

    return conv


def _protocol(f: Field, column: str, esc: bool) -> Conv:
    return _attr(f, "protocol", esc)


@dataclass(frozen=True, slots=True)
class Role:
    """What a role fills and how its text becomes a value."""

    column: str  # the column fields compete for and the factory writes ("" when none)
    factory: Callable[[Field, str, bool], Conv] | None  # None: matched but not stored
    keep_shadowed: bool = False  # a losing field's different value also lands in attributes


ROLES: dict[str, Role] = {
    "client_ip": Role("client_ip", text_conv),
    "ts_clf": Role("ts", _time),
    "ts_iso": Role("ts", _time),
    "ts_epoch": Role("ts", _time),
    "ts_strptime": Role("ts", _time),
    "request": Role("url", _request),
    "method": Role("http_method", _method),
    "url": Role("url", text_conv),
    "uri": Role("url", text_conv, keep_shadowed=True),
    "args": Role("", _query),
    "query": Role("", _query),
    "protocol": Role("", _protocol),
    "status": Role("http_status", _int),
    "response_bytes": Role("response_bytes", _int, keep_shadowed=True),
    "response_bytes_clf": Role("response_bytes", _int, keep_shadowed=True),
    "request_bytes": Role("request_bytes", _int),
    "duration": Role("duration_ms", duration_conv),
    "upstream": Role("upstream_ms", duration_conv),
    "request_id": Role("request_id", _request_id, keep_shadowed=True),
    "traceparent": Role("trace_id", _trace),
    "b3": Role("trace_id", _trace),
    "trace_id": Role("trace_id", text_conv),
    "span_id": Role("span_id", text_conv),
    "parent_span_id": Role("parent_span_id", text_conv),
    "referrer": Role("referrer", text_conv),
    "user_agent": Role("user_agent", text_conv),
    "host": Role("host", text_conv, keep_shadowed=True),
    "attr": Role("", _attr),
    "drop": Role("", None),
}


# --- compiling ---------------------------------------------------------------------------------
@dataclass
class Compiled:
    """A format as one regex, its converters and the checks run after them."""

    name: str
    fragments: list[tuple[str, str]]  # (regex piece, what a reader expects there)
    steps: list[tuple[int, Conv]]  # (group index, converter), in the order they must run
    groups: int = 0
    finishers: list[Finisher] = field(default_factory=list)
    time_labels: tuple[str, ...] = ()

    @property
    def pattern(self) -> str:
        """The regex source of the whole format."""
        return "".join(frag for frag, _ in self.fragments)


def _field_regex(f: Field, before: str, after: Token | None, open_end: bool) -> str:
    if before.endswith('"') and isinstance(after, str) and after.startswith('"'):
        return QUOTED
    if f.pattern and (after is None or not isinstance(after, str) or after[0].isspace()):
        return f"({f.pattern})"
    if isinstance(after, str):
        return f"([^{re.escape(after[0])}]*)"
    if after is None:
        return r"(\S*)" if open_end else "(.*)"
    return "(.*?)"


def compile_tokens(name: str, tokens: Sequence[Token], escaped: bool = True, open_end: bool = False) -> Compiled:
    """Compile a token list; `escaped`: values carry backslash escapes; `open_end`: more may follow."""
    merged: list[Token] = []
    for tok in tokens:
        if isinstance(tok, str) and merged and isinstance(merged[-1], str):
            merged[-1] += tok
        elif tok != "":
            merged.append(tok)
    fields = [t for t in merged if isinstance(t, Field)]
    for f in fields:
        if f.role not in ROLES:
            raise LogFormatError(f"{f.label}: unknown role {f.role!r}")
    times = [f for f in fields if ROLES[f.role].column == "ts"]
    if not times:
        raise LogFormatError(f"format {name!r} has no time field, so its lines cannot be placed in time")
    top: dict[str, int] = {}
    for f in fields:
        col = ROLES[f.role].column
        if col:
            top[col] = max(top.get(col, f.rank), f.rank)
    path_only = top.get("url") is not None and all(
        f.role == "uri" for f in fields if ROLES[f.role].column == "url" and f.rank == top["url"]
    )
    fragments: list[tuple[str, str]] = []
    steps: list[tuple[int, int, int, Conv]] = []
    finishers: list[Finisher] = []
    group = 0
    for i, tok in enumerate(merged):
        if isinstance(tok, str):
            fragments.append((re.escape(tok), repr(tok)))
            continue
        before = merged[i - 1] if i and isinstance(merged[i - 1], str) else ""
        after = merged[i + 1] if i + 1 < len(merged) else None
        fragments.append((_field_regex(tok, str(before), after, open_end), tok.label))
        role = ROLES[tok.role]
        f = tok
        if tok.role in ("args", "query") and path_only:
            f = replace(tok, arg="append")
        if role.factory is not None:
            # Order: column groups by rank so the best present value is written last.
            order = 1 if tok.role in ("args", "query") else 0
            steps.append((order, tok.rank, group, role.factory(f, role.column, escaped)))
            if role.keep_shadowed and tok.rank < top.get(role.column, 0):
                finishers.append(_keep_if_different(group, role.column, tok.attr, escaped))
        group += 1
    steps.sort(key=lambda s: (s[0], s[1], s[2]))
    if max(times, key=lambda f: f.rank).end_time:
        finishers.insert(0, _start_from_end)
    finishers[:0] = [_dash_is_zero(g) for g, f in enumerate(fields) if f.role == "response_bytes_clf"]
    return Compiled(name, fragments, [(g, c) for _, _, g, c in steps], group, finishers, tuple(f.label for f in times))


def _keep_if_different(group: int, column: str, key: str, esc: bool) -> Finisher:
    # A field that lost its column to a better one is kept when it says something else.
    def finish(groups: tuple[str | None, ...], row: Row) -> None:
        v = groups[group]
        if v and v != "-":
            if esc and "\\" in v:
                v = unescape(v)
            if str(row.get(column)) != v:
                put_attr(row, key, v)

    return finish


def _start_from_end(groups: tuple[str | None, ...], row: Row) -> None:
    # The line was stamped when the response ended; ts is when the request started.
    duration = row.get("duration_ms")
    if duration:
        row["ts"] -= round(duration * 1000)


def _dash_is_zero(group: int) -> Finisher:
    # CLF's %b writes "-" for a response without a body.
    def finish(groups: tuple[str | None, ...], row: Row) -> None:
        if groups[group] == "-":
            row["response_bytes"] = 0

    return finish


# --- running -----------------------------------------------------------------------------------
def _explain(compiled: Compiled) -> Callable[[str], str]:
    prefixes: list[re.Pattern[str]] = []

    def explain(text: str) -> str:
        if not prefixes:  # built on the first mismatch only: good files never pay for it
            acc = ""
            for frag, _ in compiled.fragments:
                acc += frag
                prefixes.append(re.compile(acc, re.DOTALL))
        end = 0
        for k, prefix in enumerate(prefixes):
            m = prefix.match(text)
            if m is None:
                found = repr(text[end : end + 12]) if end < len(text) else "the end of the line"
                return (
                    f"does not match log_format {compiled.name!r}: expected "
                    f"{compiled.fragments[k][1]} at column {end + 1}, found {found}"
                )
            end = m.end()
        return (
            f"does not match log_format {compiled.name!r}: unexpected text at column {end + 1}: "
            f"{text[end : end + 20]!r}"
        )

    return explain


def make_line_parser(compiled: Compiled, base: Row) -> Parser:
    """The per-line parser: decode, match, convert; one row per line."""
    fullmatch = re.compile(compiled.pattern, re.DOTALL).fullmatch
    steps = tuple(compiled.steps)
    finishers = tuple(compiled.finishers)
    explain = _explain(compiled)
    time_labels = " / ".join(compiled.time_labels)

    def parse(data: bytes) -> Iterable[Row]:
        try:
            text = data.decode()
        except UnicodeDecodeError:  # keep the line; the odd bytes show as \xNN like nginx's own
            text = data.decode("utf-8", "backslashreplace")
        m = fullmatch(text)
        if m is None:
            raise BadRecord(explain(text))
        groups = m.groups()
        row = base.copy()
        for i, conv in steps:
            v = groups[i]
            if v and v != "-":
                conv(v, row)
        if "ts" not in row:
            raise BadRecord(f"no time on the line ({time_labels} is '-')")
        for finish in finishers:
            finish(groups, row)
        return (row,)

    return parse


def base_row(options: Mapping[str, str], default_service: str) -> Row:
    """The columns every row of a run shares: kind, service and environment."""
    row: Row = {"kind": "server_request", "service": options.get("service") or default_service}
    if options.get("environment"):
        row["environment"] = options["environment"]
    return row


# --- configuration text ---------------------------------------------------------------------
_CONF_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def conf_words(text: str) -> list[tuple[str, bool]]:
    """Split directive text as nginx and Apache do: words, quoted strings with escapes."""
    words: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            buf: list[str] = []
            i += 1
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    nxt = text[i + 1]
                    buf.append(_CONF_ESCAPES.get(nxt, nxt if nxt in "\"'\\" else "\\" + nxt))
                    i += 2
                    continue
                buf.append(text[i])
                i += 1
            if i >= n:
                raise LogFormatError(f"unterminated {c} quote in format: {text[:60]!r}")
            words.append(("".join(buf), True))
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in "\"'":
            j += 1
        words.append((text[i:j], False))
        i = j
    return words
