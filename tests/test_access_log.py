"""The access-log format compiler and the nginx and Apache sources built on it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamline.schema import rows_to_batch
from seamline.sources import BadRecord, Rejected, detect_source
from seamline.sources import access_log as nginx
from seamline.sources import apache_log as apache
from seamline.sources._log_format import LogFormatError, unescape

TIME = "29/Nov/2026:10:00:00 +0000"
T0 = 1_795_946_400_000_000  # TIME in µs
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
GATEWAY_FORMAT = (
    '\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_time $upstream_response_time $request_id "$http_traceparent"\''
)


def _one(parser: Any, line: str) -> dict[str, Any]:
    rows = list(parser(line.encode()))
    assert len(rows) == 1 and not isinstance(rows[0], Rejected)
    return rows[0]


def _nginx(fmt: str, line: str, **options: str) -> dict[str, Any]:
    return _one(nginx.make_parser({"log_format": fmt, **options}), line)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("remote_addr", "192.0.2.1", {"client_ip": "192.0.2.1"}),
        ("remote_user", "alice", {}),
        (
            "request",
            "GET /a?b=1 HTTP/1.1",
            {"http_method": "GET", "url": "/a?b=1", "attributes": {"protocol": "HTTP/1.1"}},
        ),
        ("request_method", "PATCH", {"http_method": "PATCH"}),
        ("request_uri", "/x?y=2", {"url": "/x?y=2"}),
        ("uri", "/x", {"url": "/x"}),
        ("args", "a=1", {"attributes": {"args": "a=1"}}),
        ("status", "503", {"http_status": 503}),
        ("body_bytes_sent", "1234", {"response_bytes": 1234}),
        ("bytes_sent", "1500", {"response_bytes": 1500}),
        ("request_length", "321", {"request_bytes": 321}),
        ("request_time", "0.000", {"duration_ms": 0.0}),
        ("upstream_response_time", "0.010, 0.020 : 0.003", {"upstream_ms": 33.0}),
        ("upstream_response_time", "-, 0.250", {"upstream_ms": 250.0}),
        ("request_id", "0af7651916cd43dd8448eb211c80319c", {"request_id": "0af7651916cd43dd8448eb211c80319c"}),
        ("http_x_request_id", "abc-1", {"request_id": "abc-1"}),
        ("http_x_correlation_id", "corr-2", {"request_id": "corr-2"}),
        ("http_traceparent", TP, {"trace_id": TP[3:35], "parent_span_id": TP[36:52], "trace_sampled": True}),
        (
            "http_b3",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0",
            {
                "trace_id": "80f198ee56343ba864fe8b2a57d3eff7",
                "parent_span_id": "e457b5a2e4d86bd1",
                "trace_sampled": False,
            },
        ),
        ("http_referer", "https://a.example/", {"referrer": "https://a.example/"}),
        ("http_user_agent", "Mozilla/5.0 (X11)", {"user_agent": "Mozilla/5.0 (X11)"}),
        ("host", "shop.example.com", {"host": "shop.example.com"}),
        ("server_name", "shop", {"host": "shop"}),
        ("hostname", "edge-1", {"host": "edge-1"}),
        ("upstream_addr", "10.0.0.1:80, 10.0.0.2:80", {"attributes": {"upstream_addr": "10.0.0.1:80, 10.0.0.2:80"}}),
        ("http_x_tenant", "acme", {"attributes": {"http_x_tenant": "acme"}}),
        ("sent_http_content_type", "text/html", {"attributes": {"sent_http_content_type": "text/html"}}),
        ("ssl_protocol", "TLSv1.3", {"attributes": {"ssl_protocol": "TLSv1.3"}}),
        ("http_cookie", "session=secret", {}),
        ("http_authorization", "Bearer x", {}),
        ("http_x_forwarded_for", "203.0.113.9", {}),
        ("sent_http_set_cookie", "a=b", {}),
    ],
)
def test_each_variable_lands_in_its_column(variable: str, value: str, expected: dict[str, Any]) -> None:
    """Every documented variable fills its column, goes to attributes, or is dropped."""
    row = _nginx(f"[$time_local] ${variable}", f"[{TIME}] {value}")
    ts = T0 - round(expected.get("duration_ms", 0) * 1000)
    assert row == {"kind": "server_request", "service": "gateway", "ts": ts, **expected}


@pytest.mark.parametrize("variable", ["status", "request_time", "http_referer", "request", "upstream_response_time"])
def test_dash_and_empty_mean_missing(variable: str) -> None:
    """'-' and '' leave the column out instead of storing a placeholder."""
    parser = nginx.make_parser({"log_format": f'[$time_local] "${variable}"'})
    for value in ("-", ""):
        assert _one(parser, f'[{TIME}] "{value}"') == {"kind": "server_request", "service": "gateway", "ts": T0}


def test_nginx_and_json_escapes_are_undone() -> None:
    """\\xHH byte runs decode as UTF-8, escape=json sequences and Apache's \\" come back as text."""
    assert unescape(r"a \x22b\x22 \xE2\x80\x94 c") == 'a "b" — c'
    assert unescape(r"q=\"x\" \\ \t \u00e9 \ud83d\ude00") == 'q="x" \\ \t é 😀'
    assert unescape(r"broken \xE2\x80 end") == "broken \\xe2\\x80 end"
    row = _nginx("log_format j escape=json '[$time_local] \"$http_user_agent\"';", rf'[{TIME}] "say \"hi\" \\ now"')
    assert row["user_agent"] == 'say "hi" \\ now'
    row = _nginx('[$time_local] "$http_user_agent"', rf'[{TIME}] "say \x22hi\x22"')
    assert row["user_agent"] == 'say "hi"'
    row = _nginx("log_format raw escape=none '[$time_local] \"$http_user_agent\"';", rf'[{TIME}] "C:\path\x41"')
    assert row["user_agent"] == r"C:\path\x41"


def test_time_local_is_the_end_so_ts_is_moved_to_the_start() -> None:
    """nginx stamps the end of a request; ts is the logged time minus $request_time."""
    row = _nginx("[$time_local] $request_time", f"[{TIME}] 1.250")
    assert row["ts"] == T0 - 1_250_000 and row["duration_ms"] == 1250.0
    assert _nginx("[$time_local] $status", f"[{TIME}] 200")["ts"] == T0


def test_iso_and_msec_times_are_ends_too() -> None:
    """$time_iso8601 and $msec follow the same start-time rule; $msec wins over coarser times."""
    assert _nginx("$time_iso8601 $request_time", "2026-11-29T11:00:00+01:00 0.500")["ts"] == T0 - 500_000
    row = _nginx("[$time_local] $msec $request_time", f"[{TIME}] 1795946400.750 0.250")
    assert row["ts"] == T0 + 500_000


def test_apache_t_is_the_start_and_end_t_is_moved() -> None:
    """Apache's %t is when the request arrived: nothing is subtracted; %{end:...}t is moved back."""
    row = _one(apache.make_parser({"log_format": "%t %D"}), f"[{TIME}] 2500000")
    assert row["ts"] == T0 and row["duration_ms"] == 2500.0
    row = _one(apache.make_parser({"log_format": "%{end:%d/%b/%Y:%H:%M:%S %z}t %D"}), f"{TIME} 2500000")
    assert row["ts"] == T0 - 2_500_000


def test_format_pasted_across_lines_equals_the_one_line_form() -> None:
    """A log_format copied from nginx.conf (prefix, quoted pieces, newlines, ';') compiles like its body."""
    pasted = """log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';"""
    body = nginx.NGINX_FORMATS["main"]
    assert nginx.read_log_format(pasted) == ("main", "default", body)
    assert nginx.read_log_format(body) == ("custom", "default", body)
    assert nginx.read_log_format('\'$a \' "\\"$b\\""')[2] == '$a "$b"'
    line = f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" 200 5 "-" "ua" "9.9.9.9"'
    assert _nginx(pasted, line) == _one(nginx.make_parser({"format": "main"}), line)


def test_the_simulator_gateway_format_reads_the_same_with_or_without_options() -> None:
    """The auto parser recognises the gateway's timing, id and traceparent extras by their shape."""
    line = (
        f'10.0.0.1 - - [{TIME}] "GET /api/x HTTP/1.1" 200 734 "-" "Mozilla/5.0" 0.412 0.398 '
        f'5f1a2b3c4d5e6f708192a3b4c5d6e7f8 "{TP}"'
    )
    explicit = _nginx(GATEWAY_FORMAT, line)
    assert _one(nginx.make_parser({}), line) == explicit
    assert explicit["ts"] == T0 - 412_000 and explicit["upstream_ms"] == 398.0
    assert explicit["request_id"] == "5f1a2b3c4d5e6f708192a3b4c5d6e7f8" and explicit["trace_id"] == TP[3:35]


@pytest.mark.parametrize(
    "tail",
    [
        f'0.412 0.398 5f1a2b3c4d5e6f708192a3b4c5d6e7f8 "{TP}"',
        '0.001 - 5f1a2b3c4d5e6f708192a3b4c5d6e7f8 "-"',
        f'3.005 1.000, 2.001 : - 5f1a2b3c4d5e6f708192a3b4c5d6e7f8 "{TP.upper()}"',
        '0.020 0.018 5f1a2b3c4d5e6f708192a3b4c5d6e7f8 "10.0.0.1, 10.0.0.2"',
        '0.020 0.018 5f1a2b3c4d5e6f708192a3b4c5d6e7f8 "x\\x22y"',
    ],
)
def test_the_gateway_shortcut_agrees_with_the_general_tail_reader(tail: str) -> None:
    """The fast path for the usual gateway extras yields what token-by-token reading yields."""
    parser = nginx.make_parser({})
    line = f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" 200 5 "-" "ua" {tail}'
    fast = _one(parser, line)
    slow = _one(parser, line + " more")  # one more field: the shortcut no longer applies
    assert slow["attributes"].pop("extra_5") == "more"
    assert fast == slow


def test_unrecognised_trailing_fields_are_numbered_by_position() -> None:
    """Extras keep a stable name per position, so a column means the same on every line."""
    parser = nginx.make_parser({})
    base = f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" 200 5 "-" "ua"'
    assert _one(parser, base + ' 0.100 - - "gzip"')["attributes"]["extra_4"] == "gzip"
    assert _one(parser, base + ' 0.100 - abc "gzip"')["attributes"] == {
        "protocol": "HTTP/1.1",
        "extra_3": "abc",
        "extra_4": "gzip",
    }


def test_competing_fields_keep_the_best_and_the_rest_in_attributes() -> None:
    """The highest-ranked present field wins a column; a different loser is kept in attributes."""
    fmt = "[$time_local] $request_id $http_x_request_id $host $hostname"
    row = _nginx(fmt, f"[{TIME}] aaaa bbbb shop.example edge-1")
    assert row["request_id"] == "bbbb" and row["host"] == "edge-1"
    assert row["attributes"] == {"request_id": "aaaa", "host": "shop.example"}
    row = _nginx(fmt, f"[{TIME}] aaaa - - edge-1")
    assert row["request_id"] == "aaaa" and "attributes" not in row


def test_uri_and_args_make_the_url_when_nothing_better_is_logged() -> None:
    """$uri?$args rebuilds the URL; with $request_uri present the parts stay in attributes."""
    assert _nginx("[$time_local] $uri?$args", f"[{TIME}] /s?q=1")["url"] == "/s?q=1"
    row = _nginx("[$time_local] $request_uri $uri $args", f"[{TIME}] /s?q=1 /s q=1")
    assert row["url"] == "/s?q=1" and row["attributes"] == {"uri": "/s", "args": "q=1"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "does not match log_format 'combined': expected ' - ' at column 8, found the end of the line"),
        (f'1.2.3.4 - - {TIME} "GET / HTTP/1.1" 200 5 "-" "ua"', "expected ' [' at column 12, found ' 29/Nov/2026'"),
        (f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" abc 5 "-" "ua"', "$status: not a whole number: 'abc'"),
        (f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" 200 x5 "-" "ua"', "$body_bytes_sent: not a whole number"),
        ('1.2.3.4 - - [32/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"', "$time_local: not a time"),
        ('1.2.3.4 - - [-] "GET / HTTP/1.1" 200 5 "-" "ua"', "no time on the line ($time_local is '-')"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    """A line that does not fit names the column or the field that is wrong."""
    with pytest.raises(BadRecord) as info:
        list(nginx.make_parser({"format": "combined"})(line.encode()))
    assert reason in str(info.value)


def test_bad_formats_fail_when_compiled() -> None:
    """Formats that cannot place a line in time, unknown presets and directives fail up front."""
    with pytest.raises(LogFormatError, match="no time field"):
        nginx.make_parser({"log_format": "$remote_addr $status"})
    with pytest.raises(LogFormatError, match="unknown nginx format"):
        nginx.make_parser({"format": "fancy"})
    with pytest.raises(LogFormatError, match="escape=xml"):
        nginx.make_parser({"log_format": "log_format x escape=xml '$time_local';"})
    with pytest.raises(LogFormatError, match="unknown LogFormat directive '%Z'"):
        apache.make_parser({"log_format": "%t %Z"})


@pytest.mark.parametrize(
    ("fmt", "line", "expected"),
    [
        ("%t %T", f"[{TIME}] 3", {"duration_ms": 3000.0}),
        ("%t %{ms}T", f"[{TIME}] 37", {"duration_ms": 37.0}),
        ("%t %{us}T", f"[{TIME}] 1500", {"duration_ms": 1.5}),
        ("%t %T %D", f"[{TIME}] 0 1500", {"duration_ms": 1.5}),
        ("%t %b", f"[{TIME}] -", {"response_bytes": 0}),
        ("%t %B %O", f"[{TIME}] 10 300", {"response_bytes": 10, "attributes": {"bytes_sent": "300"}}),
        ("%t %I", f"[{TIME}] 99", {"request_bytes": 99}),
        ("%t %s %>s", f"[{TIME}] 302 200", {"http_status": 200}),
        (
            "%t %m %U%q %H",
            f"[{TIME}] GET /p?x=1 HTTP/1.1",
            {"http_method": "GET", "url": "/p?x=1", "attributes": {"protocol": "HTTP/1.1"}},
        ),
        ("%t %h %a", f"[{TIME}] host.example 192.0.2.1", {"client_ip": "192.0.2.1"}),
        ("%t %l %u %{c}a", f"[{TIME}] ident bob 10.0.0.1", {}),
        ("%t %v", f"[{TIME}] www.example.com", {"host": "www.example.com"}),
        (
            '%t "%{traceparent}i"',
            f'[{TIME}] "{TP}"',
            {"trace_id": TP[3:35], "parent_span_id": TP[36:52], "trace_sampled": True},
        ),
        (
            "%t %{X-Request-ID}i %{UNIQUE_ID}e",
            f"[{TIME}] r-1 Yxy",
            {"request_id": "r-1", "attributes": {"unique_id": "Yxy"}},
        ),
        (
            '%t "%{User-Agent}i" "%{Referer}i"',
            f'[{TIME}] "UA \\"q\\"" "https://r/"',
            {"user_agent": 'UA "q"', "referrer": "https://r/"},
        ),
        (
            "%t %{Cookie}i %{Set-Cookie}o %{Content-Type}o",
            f"[{TIME}] a=b c=d text/html",
            {"attributes": {"sent_http_content_type": "text/html"}},
        ),
        (
            "%t %P %{remote}p %X",
            f"[{TIME}] 4242 51000 +",
            {"attributes": {"pid": "4242", "remote_port": "51000", "connection_status": "+"}},
        ),
    ],
)
def test_apache_directives(fmt: str, line: str, expected: dict[str, Any]) -> None:
    """Each Apache directive fills its column, with units converted and secrets dropped."""
    row = _one(apache.make_parser({"log_format": fmt}), line)
    assert row == {"kind": "server_request", "service": "gateway", "ts": T0, **expected}


@pytest.mark.parametrize(
    ("fmt", "line", "ts"),
    [
        ("%{%Y-%m-%dT%H:%M:%S%z}t", "2026-11-29T11:00:00+0100", T0),
        ("%{%Y-%m-%d %H:%M:%S}t %h", "2026-11-29 10:00:00 192.0.2.1", T0),
        ("[%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t]", "[29/Nov/2026:10:00:00.125 +0000]", T0 + 125_000),
        ("%{%d/%b/%Y %T}t.%{usec_frac}t", "29/Nov/2026 10:00:00.000250", T0 + 250),
        ("%{msec}t", "1795946400125", T0 + 125_000),
        ("%{sec}t", "1795946400", T0),
    ],
)
def test_apache_strftime_times(fmt: str, line: str, ts: int) -> None:
    """%{format}t reads strftime formats, split pieces joined, epoch forms, naive times as UTC."""
    assert _one(apache.make_parser({"log_format": fmt}), line)["ts"] == ts


def test_apache_directive_forms_are_all_accepted() -> None:
    """LogFormat and CustomLog directives, the quoted string and named presets all compile."""
    assert apache.read_log_format('LogFormat "%h %t \\"%r\\"" mine') == ("mine", '%h %t "%r"')
    assert apache.read_log_format("CustomLog logs/access_log combined")[0] == "combined"
    assert apache.read_log_format('"%h %t"') == ("custom", "%h %t")
    assert apache.read_log_format('%h %t \\"%r\\"') == ("custom", '%h %t "%r"')
    line = f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" 200 5 "-" "ua"'
    parsed = {fmt: _one(apache.make_parser({"format": fmt}), line) for fmt in ("combined", "auto")}
    assert parsed["combined"] == parsed["auto"] == _one(nginx.make_parser({}), line)


def test_service_and_environment_come_from_options() -> None:
    """Options name the service (default gateway) and environment stamped on every row."""
    row = _one(
        nginx.make_parser({"format": "common", "service": "edge", "environment": "staging"}),
        f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" 200 5',
    )
    assert row["service"] == "edge" and row["environment"] == "staging"


def test_sniff_prefers_nginx_on_clf_and_ignores_other_formats() -> None:
    """CLF lines: nginx 0.8, apache 0.7 (0.85 when the file is named like Apache's); JSON: 0."""
    clf = b"".join(
        f'1.2.3.{i} - - [{TIME}] "GET / HTTP/1.1" 200 5 "-" "ua" 0.001 - abc "-"\n'.encode() for i in range(5)
    )
    assert nginx.sniff(clf, "access.log") == 0.8
    assert apache.sniff(clf, "access.log") == 0.7
    assert apache.sniff(clf, "access_log") == 0.85
    assert nginx.sniff(clf + b"1.2.3.4 - - [29/Nov/2026:10:0", "access.log") == 0.8  # cut-off last line
    json_lines = b'{"level": "info", "event": "x"}\n' * 5
    assert nginx.sniff(json_lines, "app.log") == apache.sniff(json_lines, "app.log") == 0.0
    assert detect_source(clf, "access.log")[0] == "nginx"


def test_vhost_lines_go_to_apache_which_reads_the_prefix_in_auto_mode() -> None:
    """`host:port` before the client (vhost_combined, other_vhosts_access.log) is Apache's; nginx cannot read it."""
    vhost = b"".join(f'shop.example.com:443 1.2.3.{i} - - [{TIME}] "GET / HTTP/1.1" 200 5\n'.encode() for i in range(5))
    assert detect_source(vhost, "other_vhosts_access.log") == ("apache", 0.9)
    row = _one(apache.make_parser({}), vhost.splitlines()[0].decode())
    assert (row["host"], row["client_ip"], row["attributes"]["port"]) == ("shop.example.com", "1.2.3.0", "443")
    with pytest.raises(BadRecord):
        _one(nginx.make_parser({}), vhost.splitlines()[0].decode())


_NASTY = st.one_of(
    st.sampled_from(
        [
            "-",
            "",
            '"',
            "\\",
            "\\x22",
            "\\u12",
            "[",
            "]",
            "  ",
            "-1",
            "99999999999999999999",
            "1e309",
            "nan",
            TIME,
            "\x00",
            "é",
            TP,
            "0.1,",
            " : ",
            "1_0",
            "٣",
            "0.1, 0.2 : -",
        ]
    ),
    st.text(max_size=12),
)
# Per slot, values the formats below accept; a slot is sometimes given a nasty value instead.
_GOOD = {
    "ip": ["10.0.0.1", "2001:db8::1", "-"],
    "user": ["-", "bob"],
    "time": [TIME],
    "method": ["GET", "POST", "BREW"],
    "path": ["/", "/a?b=1", "/x%20y"],
    "status": ["200", "503", "-"],
    "bytes": ["0", "512", "-"],
    "text": ["-", "Mozilla/5.0 (X)", 'q=\\"x\\"', "caf\\xC3\\xA9"],
    "secs": ["0.123", "0.000", "-"],
    "list": ["0.1, 0.2 : 0.003", "-", "0.050"],
    "hex": ["5f1a2b3c4d5e6f708192a3b4c5d6e7f8", "-"],
    "tp": [TP, "-", "00-x"],
    "msec": ["1795946400.125"],
    "b3": ["80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1", "-"],
    "date": ["2026-11-29 10:00:00"],
    "frac": ["125", "5"],
    "us": ["1500", "0"],
    "query": ["", "?q=1"],
}
_TEMPLATES = [
    ('{ip} - {user} [{time}] "{method} {path} HTTP/1.1" {status} {bytes} "{text}" "{text}" {secs} {list} {hex} "{tp}"'),
    '{msec} {secs} {list} {b3} "{method} {path} HTTP/1.1"',
    '{date}.{frac} {us} {path}{query} "{tp}" {status} {bytes}',
]
_SLOT = re.compile(r"\{(\w+)\}")


@st.composite
def _lines(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    template = draw(st.sampled_from(_TEMPLATES))

    def fill(m: re.Match[str]) -> str:
        nasty = draw(st.integers(0, 19)) == 0
        return draw(_NASTY if nasty else st.sampled_from(_GOOD[m.group(1)]))

    text = _SLOT.sub(fill, template)
    if draw(st.booleans()):  # cut the line short somewhere
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", "surrogatepass")


_PARSERS = [
    nginx.make_parser({}),
    nginx.make_parser({"log_format": GATEWAY_FORMAT}),
    nginx.make_parser({"log_format": '$msec $request_time $upstream_response_time $http_b3 "$request"'}),
    apache.make_parser({}),
    apache.make_parser({"log_format": '%{%Y-%m-%d %T}t.%{msec_frac}t %D %U%q "%{traceparent}i" %>s %b'}),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=_lines())
def test_random_lines_yield_rows_or_bad_record(line: bytes) -> None:
    """No input crashes a parser: it yields storable rows or raises BadRecord."""
    for parser in _PARSERS:
        try:
            rows = list(parser(line))
        except BadRecord:
            continue
        assert all(isinstance(r, dict) and isinstance(r["ts"], int) for r in rows)
        rows_to_batch(rows)  # every key is a dictionary column and every value has its type


def test_ingress_nginx_lines_read_alike_in_auto_mode_and_by_name() -> None:
    """ingress-nginx's upstreaminfo lines get the same named fields with no options as with format=upstreaminfo."""
    from pathlib import Path

    lines = (Path(__file__).parent / "fixtures" / "nginx" / "ingress.log").read_bytes().splitlines()[:2]
    auto, named = nginx.make_parser({}), nginx.make_parser({"format": "upstreaminfo"})
    for line in lines:
        assert list(auto(line)) == list(named(line))
    (row,) = auto(lines[1])
    assert row["attributes"]["proxy_alternative_upstream_name"] == "shop-api-canary-80"
    assert (row["request_id"], row["request_bytes"], row["upstream_ms"]) == ("c0ffee00" * 4, 88, 3001.0)
