"""nginx access logs, in any `log_format`, as `server_request` rows.

Options (the `options` mapping of `make_parser`, all text):

    log_format   the format as pasted from nginx.conf: with or without `log_format name`,
                 quoted or not, split over several quoted strings and lines, with
                 `escape=default|json|none`
    format       a predefined format instead: combined, main, common, upstreaminfo (ingress-nginx),
                 or auto (the default; it also reads upstreaminfo lines)
    service      service name stamped on every row (default "gateway")
    environment  environment stamped on every row (default: none, the pipeline's setting)

Without options the parser reads *auto*: the combined format (or common, without referer
and user agent) followed by any extra fields. Extras that look like `$request_time`,
`$upstream_response_time`, a `$request_id` and a `"$http_traceparent"` are recognised; the
rest land in `attributes` as `extra_<position>`. So the common "combined plus timings" setups
ingest without configuration; pass `log_format` to read anything else exactly.

Time: nginx stamps a line when the response is done: `$time_local`, `$time_iso8601` and
`$msec` are the request's END. Seamline's `ts` is when a request STARTED (that is how client
requests and spans are placed), so when the line carries `$request_time`, ts = logged time -
request time, and `duration_ms` keeps the request time, so the end is ts + duration_ms; the
logged end itself is not stored separately. `$time_local` has whole seconds, truncated, so
such a start can be up to one second early; log `$msec` for millisecond starts.

Several variables for one column: the most specific present one wins ($msec over
$time_iso8601 over $time_local; X-Request-ID over X-Correlation-ID over $request_id;
$hostname over $host over $server_name; $request_uri over $request over $uri?$args;
$body_bytes_sent over $bytes_sent). A loser with a different value is kept in `attributes`.

Values are unescaped as nginx escapes them (`\\xHH` by default, JSON escapes with
`escape=json`; nothing with `escape=none`). Not stored: `$remote_user` (personal), cookies
and Authorization headers (secrets), and X-Forwarded-For / X-Real-IP / Forwarded (client
addresses outside the pseudonymised `client_ip`). Every other variable the columns do not
cover is kept in `attributes` under its variable name; "-" and "" mean missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from seamline.sources._base import Parser, Row
from seamline.sources._log_format import (
    CLF_TIME_PATTERN,
    HEADER_ROLES,
    LIST_PATTERN,
    QUOTED,
    RESPONSE_HEADER_DROP,
    Compiled,
    Field,
    LogFormatError,
    Token,
    base_row,
    compile_tokens,
    conf_words,
    duration_conv,
    make_line_parser,
    put_attr,
    text_conv,
    unescape,
)
from seamline.sources._trace_context import trace_fields

NAME = "nginx"
DESCRIPTION = "nginx access log (combined by default; any log_format via the log_format option)"
FRAMING = "lines"
OPTIONS: dict[str, str] = {
    "log_format": "nginx log_format to read, as written in nginx.conf",
    "format": "predefined format: auto (default), combined, main, common, upstreaminfo",
    "service": "service name for the rows (default gateway)",
    "environment": "environment name for the rows",
}

# variable -> (role, rank); rank orders fields that fill the same column (highest present wins).
NGINX_VARIABLES: dict[str, tuple[str, int]] = {
    "remote_addr": ("client_ip", 0),
    "remote_user": ("drop", 0),
    "binary_remote_addr": ("drop", 0),
    "realip_remote_addr": ("drop", 0),
    "proxy_add_x_forwarded_for": ("drop", 0),
    "time_local": ("ts_clf", 0),
    "time_iso8601": ("ts_iso", 1),
    "msec": ("ts_epoch", 2),
    "request": ("request", 3),
    "request_method": ("method", 5),
    "request_uri": ("url", 4),
    "uri": ("uri", 1),
    "document_uri": ("uri", 1),
    "args": ("args", 0),
    "query_string": ("args", 0),
    "server_protocol": ("protocol", 0),
    "status": ("status", 0),
    "body_bytes_sent": ("response_bytes", 1),
    "bytes_sent": ("response_bytes", 0),
    "request_length": ("request_bytes", 0),
    "request_time": ("duration", 0),
    "upstream_response_time": ("upstream", 0),
    "request_id": ("request_id", 0),
    "req_id": ("request_id", 0),  # ingress-nginx's name for $request_id
    "server_name": ("host", 0),
    "host": ("host", 1),
    "hostname": ("host", 2),
    "otel_trace_id": ("trace_id", 0),
    "otel_span_id": ("span_id", 0),
    "otel_parent_id": ("parent_span_id", 0),
}
_SECONDS_ROLES = frozenset({"duration", "upstream", "ts_epoch"})

COMMON = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
COMBINED = COMMON + ' "$http_referer" "$http_user_agent"'
NGINX_FORMATS: dict[str, str] = {
    "combined": COMBINED,
    "main": COMBINED + ' "$http_x_forwarded_for"',
    "common": COMMON,
    # ingress-nginx (Kubernetes) writes this by default (its log-format-upstream)
    "upstreaminfo": COMBINED
    + " $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr"
    " $upstream_response_length $upstream_response_time $upstream_status $req_id",
}
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_ESCAPES = ("default", "json", "none")


def variable_field(name: str) -> Field:
    """The field for one nginx variable (without its `$`)."""
    name = name.lower()
    if name in NGINX_VARIABLES:
        role, rank = NGINX_VARIABLES[name]
    elif name.startswith("http_"):
        role, rank = HEADER_ROLES.get(name[5:], ("attr", 0))
    elif name.startswith("sent_http_"):
        role, rank = ("drop" if name[10:] in RESPONSE_HEADER_DROP else "attr"), 0
    elif name.startswith("cookie_"):
        role, rank = "drop", 0
    else:
        role, rank = "attr", 0
    if name == "time_local":
        pattern = CLF_TIME_PATTERN
    elif name.startswith("upstream_") and name != "upstream_cache_status":
        pattern = LIST_PATTERN
    else:
        pattern = ""
    return Field(
        f"${name}",
        role,
        attr=name,
        rank=rank,
        arg="s" if role in _SECONDS_ROLES else "",
        pattern=pattern,
        end_time=role.startswith("ts_"),
    )


def nginx_tokens(body: str) -> list[Token]:
    """Literal text and variables of a log_format body."""
    tokens: list[Token] = []
    pos = 0
    for m in _VARIABLE.finditer(body):
        tokens.append(body[pos : m.start()])
        tokens.append(variable_field(m.group(1) or m.group(2)))
        pos = m.end()
    tokens.append(body[pos:])
    return tokens


def read_log_format(text: str) -> tuple[str, str, str]:
    """(name, escape, body) of a pasted `log_format` directive, its quoted strings, or a bare body."""
    stripped = text.strip()
    if stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    if not stripped:
        raise LogFormatError("empty log_format")
    if stripped.split(None, 1)[0] == "log_format" or stripped[0] in "\"'":
        try:
            words = conf_words(stripped)
        except LogFormatError:
            words = []
        if words and words[0] == ("log_format", False):
            if len(words) < 3:
                raise LogFormatError(f"log_format directive without a format: {text[:80]!r}")
            name, rest, escape = words[1][0], words[2:], "default"
            while rest and not rest[0][1] and rest[0][0].startswith(("escape=", "if=")):
                if rest[0][0].startswith("escape="):
                    escape = rest[0][0][7:]
                rest = rest[1:]
            if escape not in _ESCAPES:
                raise LogFormatError(f"unknown escape={escape}; nginx knows {', '.join(_ESCAPES)}")
            return name, escape, "".join(w for w, _ in rest)
        if words and all(quoted for _, quoted in words):
            return "custom", "default", "".join(w for w, _ in words)
    # A bare body; \" survives only when it was copied out of a double-quoted string.
    return "custom", "default", stripped.replace('\\"', '"')


def compile_options(options: Mapping[str, str]) -> Compiled:
    """The compiled format the options ask for."""
    text = options.get("log_format")
    preset = options.get("format") or "auto"
    if text:
        name, escape, body = read_log_format(text)
        return compile_tokens(name, nginx_tokens(body), escaped=escape != "none")
    if preset == "auto":
        common = [
            Field(t.label, "response_bytes_clf", t.attr) if isinstance(t, Field) and t.role == "response_bytes" else t
            for t in nginx_tokens(COMMON)
        ]
        return with_tolerant_tail(compile_tokens("auto", common, open_end=True), "auto", seconds=True)
    if preset not in NGINX_FORMATS:
        raise LogFormatError(f"unknown nginx format {preset!r}; choose auto, {', '.join(NGINX_FORMATS)}")
    return compile_tokens(preset, nginx_tokens(NGINX_FORMATS[preset]))


# --- auto: the CLF family with heuristic extras (Apache's auto reads lines the same way) ------
_tail_duration = duration_conv(Field("$request_time", "duration", arg="s"), "duration_ms", False)
_tail_upstream = duration_conv(Field("$upstream_response_time", "upstream", arg="s"), "upstream_ms", False)
_TAIL_TOKEN = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"?|((?:[0-9.]+|-)(?:(?:, | : )(?:[0-9.]+|-))+|\S+)')
_SECONDS = re.compile(r"[0-9]+\.[0-9]{3}").fullmatch
_SECONDS_LIST = re.compile(r"(?:[0-9]+\.[0-9]{3}|-)(?:(?:, | : )(?:[0-9]+\.[0-9]{3}|-))*").fullmatch
_REQUEST_ID = re.compile(r"[0-9a-f]{32}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}").fullmatch
_USUAL_TAIL = re.compile(  # $request_time $upstream_response_time $request_id "$http_traceparent"
    r"([0-9]+\.[0-9]{3}) ((?:[0-9]+\.[0-9]{3}|-)(?:(?:, | : )(?:[0-9]+\.[0-9]{3}|-))*) ([0-9a-f]{32}) "
    r'"([^"\\]*(?:\\.[^"\\]*)*)"'
).fullmatch
_INGRESS_TAIL = re.compile(  # ingress-nginx's upstreaminfo after combined (NGINX_FORMATS["upstreaminfo"])
    r"([0-9]+) ([0-9]+\.[0-9]{3}) \[([^\]]*)\] \[([^\]]*)\] (.+?) ((?:[0-9]+|-)(?:, (?:[0-9]+|-))*) "
    r"((?:[0-9]+\.[0-9]{3}|-)(?:(?:, | : )(?:[0-9]+\.[0-9]{3}|-))*) ((?:[0-9]{3}|-)(?:(?:, | : )(?:[0-9]{3}|-))*) "
    r"([0-9a-f]{32}|-)"
).fullmatch
_IP_LIST = re.compile(
    r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:.]*:[0-9a-fA-F.]*)"
    r"(?:, ?(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:.]*:[0-9a-fA-F.]*))*"
).fullmatch


def read_tail(tail: str, row: Row, seconds: bool) -> None:
    """Recognise the usual extras after a combined line; keep the rest as extra_<position>.

    Recognised: a `0.123` seconds value ($request_time, only when `seconds`), right after it a
    seconds value, list or "-" ($upstream_response_time), a 32-hex or UUID request id, a
    traceparent, and a quoted IP list (X-Forwarded-For, dropped: personal). Positions count
    every trailing field, so the same column gets the same name on every line.
    """
    usual = _USUAL_TAIL(tail) if seconds else None
    if usual is None and seconds and "] [" in tail and (ingress := _INGRESS_TAIL(tail)):
        _read_ingress(ingress.groups(), row)
        return
    if usual is not None:  # the gateway shape, read without tokenising; same result as below
        request_time, upstream, request_id, traceparent = usual.groups()
        _tail_duration(request_time, row)
        if upstream != "-":
            _tail_upstream(upstream, row)
        row["request_id"] = request_id
        if "\\" in traceparent:
            traceparent = unescape(traceparent)
        if traceparent and traceparent != "-":
            _quoted_extra(traceparent, 4, row)
        return
    after_duration = False
    for pos, m in enumerate(_TAIL_TOKEN.finditer(tail), 1):
        quoted = m.group(1)
        v = quoted if quoted is not None else m.group(2)
        if "\\" in v:
            v = unescape(v)
        was_after, after_duration = after_duration, False
        if not v or v == "-":
            continue
        if quoted is None and seconds and "duration_ms" not in row and _SECONDS(v):
            _tail_duration(v, row)
            after_duration = True
        elif quoted is None and was_after and "upstream_ms" not in row and _SECONDS_LIST(v):
            _tail_upstream(v, row)
        elif quoted is not None:
            _quoted_extra(v, pos, row)
        elif "request_id" not in row and _REQUEST_ID(v):
            row["request_id"] = v
        elif len(v) >= 55 and v[2] == "-" and "trace_id" not in row and (context := trace_fields(traceparent=v)):
            row.update(context)
        else:
            put_attr(row, f"extra_{pos}", v)


def _read_ingress(groups: tuple[str, ...], row: Row) -> None:
    """The upstreaminfo fields, named as the explicit format names them."""
    length, request_time, upstream_name, alternative, address, response_length, upstream, status, req_id = groups
    row["request_bytes"] = int(length)
    _tail_duration(request_time, row)
    if upstream != "-":
        _tail_upstream(upstream, row)
    if req_id != "-":
        row["request_id"] = req_id
    for key, value in (
        ("proxy_upstream_name", upstream_name),
        ("proxy_alternative_upstream_name", alternative),
        ("upstream_addr", address),
        ("upstream_response_length", response_length),
        ("upstream_status", status),
    ):
        if value and value != "-":
            put_attr(row, key, value)


def _quoted_extra(v: str, pos: int, row: Row) -> None:
    if "request_id" not in row and _REQUEST_ID(v):
        row["request_id"] = v
    elif len(v) >= 55 and v[2] == "-" and "trace_id" not in row and (context := trace_fields(traceparent=v)):
        row.update(context)
    elif _IP_LIST(v) is None:  # an IP list is X-Forwarded-For: personal, dropped
        put_attr(row, f"extra_{pos}", v)


def with_tolerant_tail(common: Compiled, name: str, seconds: bool) -> Compiled:
    """Common Log Format, then optional referer and user agent, then any extra fields."""
    group = common.groups
    referrer = text_conv(Field('"referer"', "referrer"), "referrer", True)
    agent = text_conv(Field('"user agent"', "user_agent"), "user_agent", True)

    def tail(v: str, row: Row) -> None:
        read_tail(v, row, seconds)

    fragments = [
        *common.fragments,
        (f'(?: "{QUOTED}" "{QUOTED}")?', "optional quoted referer and user agent"),
        (r"(?:[ \t]+(.*))?", "extra fields"),
    ]
    steps = [*common.steps, (group, referrer), (group + 1, agent), (group + 2, tail)]
    return Compiled(name, fragments, steps, group + 3, list(common.finishers), common.time_labels)


_CLF_LINE = re.compile(
    rb"\S+ \S+ .*?\[[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)? [+-][0-9]{4}\] "
    rb'"[^"\\]*(?:\\.[^"\\]*)*" [0-9]{3} (?:[0-9]+|-)(?: |$)'
)


VHOST_PREFIX = re.compile(rb"[^\s:]+:[0-9]+ ")  # Apache's `%v:%p ` before the client address


def clf_share(sample: bytes, lines: int = 20, vhost: bool = True) -> float:
    """Share of the sample's first complete lines that are in Common Log Format (or extend it);
    `vhost=False` does not count lines led by `host:port`, which only Apache writes."""
    chunks = sample.split(b"\n")
    if len(chunks) > 1 and not sample.endswith(b"\n"):
        chunks.pop()  # the sample cut this line short
    seen = hits = 0
    for chunk in chunks:
        line = chunk.strip()
        if not line:
            continue
        seen += 1
        hits += _CLF_LINE.match(line) is not None and (vhost or VHOST_PREFIX.match(line) is None)
        if seen == lines:
            break
    return hits / seen if seen else 0.0


def make_parser(options: Mapping[str, str]) -> Parser:
    """A parser for the configured format (auto when none); raises LogFormatError on a bad one."""
    return make_line_parser(compile_options(options), base_row(options, "gateway"))


def sniff(sample: bytes, filename: str) -> float:
    """0.8 for Common/combined Log Format lines: ahead of apache (0.7) on the same lines."""
    share = clf_share(sample, vhost=False)
    if share >= 0.8:
        return 0.8
    return 0.6 if share >= 0.5 else 0.0
