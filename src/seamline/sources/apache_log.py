"""Apache httpd access logs, in any `LogFormat`, as `server_request` rows.

Options (the `options` mapping of `make_parser`, all text):

    log_format   the format as pasted from httpd.conf: a `LogFormat "..." nick` or
                 `CustomLog path "..."` directive, the quoted string, or the bare format
    format       a predefined format instead: common, combined, combinedio, vhost_combined,
                 or auto (the default: common or combined, then any extra fields; a request
                 id and a traceparent among them are recognised, the rest kept as extra_<n>;
                 lines led by `host:port`, as vhost_combined and Debian's
                 other_vhosts_access.log write them, are read with that prefix)
    service      service name stamped on every row (default "gateway")
    environment  environment stamped on every row

Time: unlike nginx, Apache's `%t` is when the request was RECEIVED, which is already the
request start Seamline's `ts` wants; nothing is subtracted. `%{end:...}t` is the end and is
turned into the start with the request duration (`%D`, `%T`, `%{ms}T`) like nginx's times.
`%{format}t` takes strftime formats; adjacent time pieces (`%{%d/%b/%Y %T}t.%{msec_frac}t`)
are read together. A format without `%z` is read as UTC.

Sizes: `%b` writes "-" for an empty body, read as 0; `%B`/`%b` (body) win over `%O`
(with headers) for `response_bytes`.

Not stored: `%l` and `%u` (identity), `%{c}a` (peer address), cookies, Authorization and
forwarding headers. Everything else the columns do not cover goes to `attributes`:
`%{X}i` as `http_<x>`, `%{X}o` as `sent_http_<x>` (nginx's names, so both servers' rows agree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from seamline.sources._base import Parser
from seamline.sources._framing import line_share
from seamline.sources._log_format import (
    HEADER_ROLES,
    RESPONSE_HEADER_DROP,
    Compiled,
    Field,
    LogFormatError,
    Token,
    base_row,
    compile_tokens,
    conf_words,
    header_key,
    make_line_parser,
)
from seamline.sources.access_log import VHOST_PREFIX, clf_share, with_tolerant_tail

NAME = "apache"
DESCRIPTION = "Apache httpd access log (common/combined by default; any LogFormat via log_format)"
FRAMING = "lines"
OPTIONS: dict[str, str] = {
    "log_format": "Apache LogFormat to read, as written in httpd.conf",
    "format": "predefined format: auto (default), common, combined, combinedio, vhost_combined",
    "service": "service name for the rows (default gateway)",
    "environment": "environment name for the rows",
}

# letter -> (role, rank, attribute key); rank orders fields that fill the same column.
APACHE_DIRECTIVES: dict[str, tuple[str, int, str]] = {
    "h": ("client_ip", 0, "remote_host"),
    "a": ("client_ip", 1, "remote_addr"),
    "A": ("attr", 0, "local_ip"),
    "B": ("response_bytes", 1, "body_bytes_sent"),
    "b": ("response_bytes_clf", 1, "body_bytes_sent"),
    "C": ("drop", 0, ""),
    "D": ("duration", 2, "request_time_us"),
    "f": ("attr", 0, "filename"),
    "H": ("protocol", 0, "protocol"),
    "I": ("request_bytes", 0, "bytes_received"),
    "k": ("attr", 0, "keepalive_requests"),
    "l": ("drop", 0, ""),
    "L": ("attr", 0, "log_id"),
    "m": ("method", 5, "method"),
    "O": ("response_bytes", 0, "bytes_sent"),
    "P": ("attr", 0, "pid"),
    "p": ("attr", 0, "port"),
    "q": ("query", 0, "query"),
    "r": ("request", 3, "request"),
    "R": ("attr", 0, "handler"),
    "S": ("attr", 0, "bytes_transferred"),
    "s": ("status", 0, "status"),
    "u": ("drop", 0, ""),
    "U": ("uri", 1, "uri"),
    "v": ("host", 0, "server_name"),
    "V": ("host", 1, "server_name_used"),
    "X": ("attr", 0, "connection_status"),
}
DURATION_UNITS: dict[str, tuple[str, int]] = {"": ("s", 0), "s": ("s", 0), "ms": ("ms", 1), "us": ("us", 2)}
EPOCH_UNITS = {"sec": "s", "msec": "ms", "usec": "us"}
# strftime shorthands Python's strptime lacks, and the regex each directive reads.
STRFTIME_ALIASES = {"T": "%H:%M:%S", "D": "%m/%d/%y", "F": "%Y-%m-%d", "R": "%H:%M", "e": "%d", "h": "%b"}
STRFTIME_REGEX: dict[str, str] = {
    "Y": "[0-9]{4}",
    "y": "[0-9]{2}",
    "m": "[0-9]{1,2}",
    "d": " ?[0-9]{1,2}",
    "H": "[0-9]{1,2}",
    "I": "[0-9]{1,2}",
    "M": "[0-9]{1,2}",
    "S": "[0-9]{1,2}",
    "f": "[0-9]{1,6}",
    "j": "[0-9]{1,3}",
    "b": "[A-Za-z]{3}",
    "B": "[A-Za-z]+",
    "a": "[A-Za-z]{3}",
    "A": "[A-Za-z]+",
    "p": "[AaPp][Mm]",
    "z": "(?:[+-][0-9]{2}:?[0-9]{2}|Z)",
    "Z": "[A-Za-z]+",
    "%": "%",
}

COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = COMMON + ' "%{Referer}i" "%{User-agent}i"'
APACHE_FORMATS: dict[str, str] = {
    "common": COMMON,
    "combined": COMBINED,
    "combinedio": COMBINED + " %I %O",
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
}
_DIRECTIVE = re.compile(r"%([!0-9,]*)([<>]?)(?:\{([^}]*)\})?([<>]?)(\^t[io]|[A-Za-z%])")
_STRFTIME = re.compile(r"%(.)")


def _time_fields(arg: str, label: str) -> list[Token]:
    end = arg.startswith("end:")
    if arg.startswith(("begin:", "end:")):
        arg = arg.split(":", 1)[1]
    if not arg:
        return ["[", Field(label, "ts_clf", end_time=end), "]"]
    if arg in EPOCH_UNITS:
        return [Field(label, "ts_epoch", arg=EPOCH_UNITS[arg], rank=1, end_time=end)]
    if arg in ("msec_frac", "usec_frac"):
        return [Field(label, "ts_frac", attr="time_frac", end_time=end)]
    fmt = _STRFTIME.sub(lambda m: STRFTIME_ALIASES.get(m.group(1), m.group(0)), arg)
    return [Field(label, "ts_strptime", arg=fmt, end_time=end)]


def directive_tokens(m: re.Match[str]) -> list[Token]:
    """The tokens one `%...` directive stands for."""
    _conditions, before, arg, after, letter = m.groups()
    label = m.group(0)
    arg = arg or ""
    if letter == "%":
        return ["%"]
    if letter == "t":
        return _time_fields(arg, label)
    if letter in ("i", "o", "^ti", "^to"):
        key = header_key(arg)
        if letter == "i":
            role, rank = HEADER_ROLES.get(key, ("attr", 0))
            return [Field(label, role, attr=f"http_{key}", rank=rank)]
        drop = key in RESPONSE_HEADER_DROP or key in ("cookie", "authorization")
        prefix = {"o": "sent_http_", "^ti": "trailer_in_", "^to": "trailer_out_"}[letter]
        return [Field(label, "drop" if drop else "attr", attr=prefix + key)]
    if letter == "e":
        if arg == "UNIQUE_ID":
            return [Field(label, "request_id", attr="unique_id")]
        return [Field(label, "attr", attr=f"env_{arg.lower()}")]
    if letter == "n":
        return [Field(label, "attr", attr=f"note_{arg.lower()}")]
    if letter == "T":
        unit, rank = DURATION_UNITS.get(arg, ("s", 0))
        return [Field(label, "duration", arg=unit, rank=rank)]
    if letter not in APACHE_DIRECTIVES:
        raise LogFormatError(f"unknown LogFormat directive {label!r} at column {m.start() + 1}")
    role, rank, attr = APACHE_DIRECTIVES[letter]
    if letter == "D":
        return [Field(label, role, arg="us", rank=rank)]
    if letter == "s":
        rank = 1 if ">" in (before, after) else 0
    if letter == "a" and arg == "c":
        role = "drop"
    if letter == "p" and arg:
        attr = f"{arg.lower()}_port"
    # Shapes for %U%q written back to back, where no literal tells where one ends.
    pattern = {"U": "[^? ]*", "q": r"(?:\?[^ ]*)?"}.get(letter, "")
    return [Field(label, role, attr=attr, rank=rank, pattern=pattern)]


def apache_tokens(body: str) -> list[Token]:
    """Literal text and fields of a LogFormat string, adjacent time pieces joined."""
    tokens: list[Token] = []
    pos = 0
    for m in _DIRECTIVE.finditer(body):
        tokens.append(body[pos : m.start()])
        tokens.extend(directive_tokens(m))
        pos = m.end()
    tokens.append(body[pos:])
    return _join_times(tokens)


def _is_piece(tok: Token) -> bool:
    return isinstance(tok, Field) and tok.role in ("ts_strptime", "ts_frac")


def _join_times(tokens: list[Token]) -> list[Token]:
    # `%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t` is one instant written in three pieces.
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not _is_piece(tok):
            out.append(tok)
            i += 1
            continue
        run = [tok]
        j = i + 1
        while j + 1 < len(tokens) and isinstance(tokens[j], str) and _is_piece(tokens[j + 1]):
            run += [tokens[j], tokens[j + 1]]
            j += 2
        i = j
        pieces = [t for t in run if isinstance(t, Field)]
        if len(pieces) == 1 and pieces[0].role == "ts_frac":
            out.append(Field(pieces[0].label, "attr", attr="time_frac"))
            continue
        fmt = "".join(
            t.replace("%", "%%") if isinstance(t, str) else (t.arg if t.role == "ts_strptime" else "%f") for t in run
        )
        label = "".join(t if isinstance(t, str) else t.label for t in run)
        out.append(Field(label, "ts_strptime", arg=fmt, pattern=_strptime_regex(fmt), end_time=pieces[0].end_time))
    return out


def _strptime_regex(fmt: str) -> str:
    parts: list[str] = []
    pos = 0
    for m in _STRFTIME.finditer(fmt):
        parts.append(re.escape(fmt[pos : m.start()]))
        if m.group(1) not in STRFTIME_REGEX:
            raise LogFormatError(f"strftime directive %{m.group(1)} in a %{{...}}t time is not supported")
        parts.append(STRFTIME_REGEX[m.group(1)])
        pos = m.end()
    parts.append(re.escape(fmt[pos:]))
    return "".join(parts)


def read_log_format(text: str) -> tuple[str, str]:
    """(name, format) from a pasted LogFormat/CustomLog directive, a quoted string, or a bare format."""
    stripped = text.strip()
    if not stripped:
        raise LogFormatError("empty LogFormat")
    head = stripped.split(None, 1)[0].lower()
    if head in ("logformat", "customlog") or stripped[0] in "\"'":
        try:
            words = conf_words(stripped)
        except LogFormatError:
            words = []
        if words and head == "logformat" and len(words) >= 2:
            nick = words[2][0] if len(words) > 2 else "custom"
            return nick, words[1][0]
        if words and head == "customlog" and len(words) >= 3:
            spec, quoted = words[2]
            if not quoted and spec in APACHE_FORMATS:
                return spec, APACHE_FORMATS[spec]
            return "custom", spec
        if words and words[0][1] and (len(words) == 1 or (len(words) == 2 and not words[1][1])):
            return (words[1][0] if len(words) == 2 else "custom"), words[0][0]
    return "custom", stripped.replace('\\"', '"')


def _auto(prefix: str = "") -> Compiled:
    return with_tolerant_tail(
        compile_tokens("auto", apache_tokens(prefix + COMMON), open_end=True), "auto", seconds=False
    )


def compile_options(options: Mapping[str, str]) -> Compiled:
    """The compiled format the options ask for."""
    text = options.get("log_format")
    preset = options.get("format") or "auto"
    if text:
        name, body = read_log_format(text)
        return compile_tokens(name, apache_tokens(body))
    if preset == "auto":
        return _auto()
    if preset not in APACHE_FORMATS:
        raise LogFormatError(f"unknown Apache format {preset!r}; choose auto, {', '.join(APACHE_FORMATS)}")
    return compile_tokens(preset, apache_tokens(APACHE_FORMATS[preset]))


def make_parser(options: Mapping[str, str]) -> Parser:
    """A parser for the configured format (auto when none); raises LogFormatError on a bad one."""
    base = base_row(options, "gateway")
    plain = make_line_parser(compile_options(options), base)
    if options.get("log_format") or (options.get("format") or "auto") != "auto":
        return plain
    vhost = make_line_parser(_auto("%v:%p "), base)
    return lambda data: vhost(data) if VHOST_PREFIX.match(data) else plain(data)


def sniff(sample: bytes, filename: str) -> float:
    """0.7 for Common Log Format lines (nginx claims them at 0.8), 0.85 when the name says Apache,
    0.9 when the lines start with `host:port` (vhost_combined)."""
    share = clf_share(sample)
    if share < 0.5:
        return 0.0
    if line_share(sample, VHOST_PREFIX.match) >= 0.5:
        return 0.9  # vhost_combined: nginx has no such prefix
    lowered = filename.lower()
    if "access_log" in lowered or "apache" in lowered or "httpd" in lowered:
        return 0.85
    return 0.7 if share >= 0.8 else 0.5
