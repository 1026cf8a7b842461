"""Reading what a process wrote, one line at a time, when a wrapper (a container runtime, syslog)
has already said when: a JSON log, an access-log line, logfmt pairs, or plain text.

JSON objects go to json_log (its presets; the wrapper's time serves records without one), lines
in Envoy's default format to `envoy`, other access-log lines to `nginx`, logfmt pairs to
json_log's presets as `logfmt` reads them; anything else becomes a `server_log` row whose
message is the text. A payload is never refused for being plain text.
"""

from __future__ import annotations

from collections.abc import Mapping

from seamline.sources import access_log, envoy, json_log, logfmt
from seamline.sources._base import BadRecord, Rejected, Row


class PayloadReader:
    """The parsers one writer's lines need, sharing their per-file state (json_log's preset)."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.service = options.get("service") or None
        self.environment = options.get("environment") or None
        inner = {k: v for k, v in options.items() if k in ("service", "environment", "preset") and v}
        self.json = json_log._Parser(inner)
        self.access = access_log.make_parser(inner)
        self.envoy = envoy.make_parser(inner)

    def __call__(self, payload: bytes, ts: int) -> list[Row]:
        """Rows of one line the process wrote, stamped `ts` unless it says its own time."""
        if payload.startswith(b"{"):
            try:
                return list(self.json.read(payload, ts))
            except BadRecord:
                pass  # not a JSON object after all: kept as text
        elif b'"' in payload and b"[" in payload:  # what an access-log line always has
            access = self.envoy if payload.startswith(b"[") else self.access  # sidecars: Envoy's format
            try:
                rows = [row for row in access(payload) if not isinstance(row, Rejected)]
            except BadRecord:
                rows = []
            if rows:
                return rows  # type: ignore[return-value]
        if b"=" in payload:
            try:
                record, _, _ = logfmt.pairs(payload.decode())
            except (BadRecord, UnicodeDecodeError):
                pass
            else:
                return list(self.json.read_record(record, ts))
        try:
            message = payload.decode()
        except UnicodeDecodeError as exc:
            raise BadRecord(f"invalid UTF-8 at byte {exc.start} of what the process wrote") from None
        row: Row = {"ts": ts, "kind": "server_log", "message": message}
        if self.service:
            row["service"] = self.service
        if self.environment:
            row["environment"] = self.environment
        return [row]
