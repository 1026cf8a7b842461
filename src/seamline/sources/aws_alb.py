"""AWS Application Load Balancer access logs (the `.log.gz` files ALB delivers to S3), as
`server_request` rows of the gateway.

Fields are space-separated, some quoted, in AWS's documented order (type, time, elb,
client:port, target:port, the three processing times in seconds, the ELB and target status
codes, received and sent bytes, "request", "user_agent", TLS cipher and protocol, target
group, "trace_id", "domain_name", certificate, rule priority, request_creation_time, ...);
fields AWS appends later are kept as extra_<n>.

Times: `request_creation_time` is when the request arrived (`ts`); `time` is when the response
was sent, so the duration is the difference. The `X-Amzn-Trace-Id` ALB adds (`Root=1-...`)
is the request id: targets receive it as a header, and services that log it link to this row.
The target's processing time is `upstream_ms`. `-1` times (no target answered) are left out.

Options: `service` (default "gateway"), `environment`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import urlsplit

from seamline.sources._base import BadRecord, Parser, Rejected, Row
from seamline.sources._framing import line_share
from seamline.sources._log_format import host_of, quoted_tokens, read_request_line
from seamline.sources._time import BadTimestamp, iso_to_us

NAME = "aws_alb"
DESCRIPTION = "AWS Application Load Balancer access logs (as delivered to S3)"
FRAMING: Literal["lines", "whole"] = "lines"

_TYPES = frozenset({"http", "https", "h2", "grpcs", "ws", "wss"})
FIELDS = (
    "type", "time", "elb", "client", "target", "request_processing_time", "target_processing_time",
    "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes",
    "request", "user_agent", "ssl_cipher", "ssl_protocol", "target_group_arn", "trace_id", "domain_name",
    "chosen_cert_arn", "matched_rule_priority", "request_creation_time", "actions_executed", "redirect_url",
    "error_reason", "target_port_list", "target_status_code_list", "classification", "classification_reason",
    "conn_trace_id",
)  # fmt: skip
_MIN_FIELDS = 22  # up to request_creation_time: what every ALB log since 2018 has
_USED = {
    "time", "client", "request_processing_time", "target_processing_time", "response_processing_time",
    "elb_status_code", "received_bytes", "sent_bytes", "request", "user_agent", "trace_id", "request_creation_time",
}  # fmt: skip


def fields(line: str) -> dict[str, str]:
    """The named fields of one log entry ("-" fields left out)."""
    tokens = quoted_tokens(line)
    if not tokens or tokens[0] not in _TYPES:
        raise BadRecord("not an ALB access-log entry: it does not start with a request type (http, https, h2, ...)")
    if len(tokens) < _MIN_FIELDS:
        raise BadRecord(f"{len(tokens)} fields; an ALB access-log entry has at least {_MIN_FIELDS}")
    names = FIELDS + tuple(f"extra_{i}" for i in range(1, len(tokens) - len(FIELDS) + 1))
    return {name: value for name, value in zip(names, tokens, strict=False) if value not in ("-", "")}


def _us(values: dict[str, str], name: str) -> int | None:
    text = values.get(name)
    if text is None:
        return None
    try:
        return iso_to_us(text)
    except BadTimestamp:
        raise BadRecord(f"unreadable {name} {text[:40]!r}") from None


def _seconds_ms(values: dict[str, str], name: str) -> float | None:
    try:
        seconds = float(values.get(name, "-1"))
    except ValueError:
        return None
    return seconds * 1000 if seconds >= 0 else None


def make_parser(options: Mapping[str, str]) -> Parser:
    """A parser for ALB access-log entries."""
    base: Row = {"kind": "server_request", "service": options.get("service") or "gateway"}
    if options.get("environment"):
        base["environment"] = options["environment"]

    def parse(data: bytes) -> Iterable[Row | Rejected]:
        values = fields(data.decode())
        end, start = _us(values, "time"), _us(values, "request_creation_time")
        if end is None and start is None:
            raise BadRecord("no time: both time and request_creation_time are '-'")
        row: Row = {**base, "ts": start if start is not None else end}
        row["attributes"] = {k: v for k, v in values.items() if k not in _USED}
        if start is not None and end is not None and end >= start:
            row["duration_ms"] = (end - start) / 1000
        if (upstream := _seconds_ms(values, "target_processing_time")) is not None:
            row["upstream_ms"] = upstream
        if "request" in values:
            read_request_line(values["request"], row)
        if "url" in row:  # ALB logs the absolute URL; the path and query are what routes are made of
            parts = urlsplit(row["url"])
            row["url"] = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        status = values.get("elb_status_code", "")
        if status.isdecimal() and 100 <= int(status) <= 599:
            row["http_status"] = int(status)
        for name, column in (("received_bytes", "request_bytes"), ("sent_bytes", "response_bytes")):
            if values.get(name, "").isdecimal():
                row[column] = int(values[name])
        if "client" in values:
            row["client_ip"] = host_of(values["client"])
        if "user_agent" in values:
            row["user_agent"] = values["user_agent"]
        if "trace_id" in values:
            row["request_id"] = values["trace_id"]
        return (row,)

    return parse


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is an ALB access log: most lines parse as entries."""
    return round(0.9 * line_share(sample, lambda line: {"time", "elb"} <= fields(line.decode()).keys()), 3)
