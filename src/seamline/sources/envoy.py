"""Envoy access logs in Envoy's default format and in Istio's default format (the sidecars of
a service mesh), as `server_request` rows.

    Envoy:  [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
            %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
            %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
            "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
    Istio:  the same head, then %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
            "%UPSTREAM_TRANSPORT_FAILURE_REASON%" before the sizes, and %UPSTREAM_CLUSTER%
            %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
            %REQUESTED_SERVER_NAME% %ROUTE_NAME% at the end.

START_TIME is when the request started, as `ts` wants; DURATION is in milliseconds. The
request id Envoy generates (`x-request-id`) links the sidecar's line to the services' logs.
The client is the downstream remote address (Istio) or the first X-Forwarded-For hop. The
other fields go to `attributes` under Envoy's names. "-" is an empty field.

Options: `service` (default "envoy"), `environment`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

from seamline.sources._base import BadRecord, Parser, Rejected, Row
from seamline.sources._framing import line_share
from seamline.sources._log_format import host_of, quoted_tokens, read_request_line
from seamline.sources._time import BadTimestamp, iso_to_us

NAME = "envoy"
DESCRIPTION = "Envoy / Istio sidecar access logs (the default text formats of both)"
FRAMING: Literal["lines", "whole"] = "lines"

_HEAD = re.compile(r"\[(\d{4}-\d\d-\d\dT[^\]]+)\] ")
_ENVOY = (
    "request", "response_code", "response_flags", "bytes_received", "bytes_sent", "duration",
    "upstream_service_time", "x_forwarded_for", "user_agent", "request_id", "authority", "upstream_host",
)  # fmt: skip
_ISTIO = (
    "request", "response_code", "response_flags", "response_code_details", "connection_termination_details",
    "upstream_transport_failure_reason", "bytes_received", "bytes_sent", "duration", "upstream_service_time",
    "x_forwarded_for", "user_agent", "request_id", "authority", "upstream_host", "upstream_cluster",
    "upstream_local_address", "downstream_local_address", "downstream_remote_address", "requested_server_name",
    "route_name",
)  # fmt: skip
_LAYOUTS = {len(_ENVOY): _ENVOY, len(_ISTIO): _ISTIO}
_COLUMNS = {"user_agent": "user_agent", "request_id": "request_id"}
_NOT_KEPT = {"request", "response_code", "bytes_received", "bytes_sent", "duration", "upstream_service_time"}


def fields(line: str) -> tuple[int, dict[str, str]]:
    """The start time and the named fields of one line ("-" fields left out)."""
    head = _HEAD.match(line)
    if head is None:
        raise BadRecord("not an Envoy access-log line: no [START_TIME] at the start")
    try:
        ts = iso_to_us(head[1])
    except BadTimestamp:
        raise BadRecord(f"unreadable START_TIME {head[1]!r}") from None
    tokens = quoted_tokens(line, head.end())
    layout = _LAYOUTS.get(len(tokens))
    if layout is None:
        raise BadRecord(
            f"{len(tokens)} fields after START_TIME: neither Envoy's default format ({len(_ENVOY)}) "
            f"nor Istio's ({len(_ISTIO)})"
        )
    return ts, {name: value for name, value in zip(layout, tokens, strict=True) if value not in ("-", "")}


def _number(values: dict[str, str], name: str) -> int | None:
    value = values.get(name)
    return int(value) if value is not None and value.isdecimal() else None


def make_parser(options: Mapping[str, str]) -> Parser:
    """A parser for Envoy's and Istio's default access-log formats."""
    base: Row = {"kind": "server_request", "service": options.get("service") or "envoy"}
    if options.get("environment"):
        base["environment"] = options["environment"]

    def parse(data: bytes) -> Iterable[Row | Rejected]:
        ts, values = fields(data.decode())
        row = {**base, "ts": ts, "attributes": {k: v for k, v in values.items() if k not in _NOT_KEPT}}
        if values.get("request", "- - -") != "- - -":  # "- - -": a TCP connection, not an HTTP request
            read_request_line(values["request"], row)
        status = _number(values, "response_code")
        if status is not None and 100 <= status <= 599:
            row["http_status"] = status
        for name, column in (("bytes_received", "request_bytes"), ("bytes_sent", "response_bytes")):
            if (size := _number(values, name)) is not None:
                row[column] = size
        for name, column in (("duration", "duration_ms"), ("upstream_service_time", "upstream_ms")):
            if (ms := _number(values, name)) is not None:
                row[column] = float(ms)
        client = host_of(values.get("downstream_remote_address")) or host_of(
            values.get("x_forwarded_for", "").split(",")[0].strip()
        )
        if client:
            row["client_ip"] = client
        for name, column in _COLUMNS.items():
            if name in values:
                row[column] = row["attributes"].pop(name)
        if not row["attributes"]:
            del row["attributes"]
        return (row,)

    return parse


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is an Envoy or Istio access log in a default format."""
    return round(0.9 * line_share(sample, lambda line: fields(line.decode())), 3)
