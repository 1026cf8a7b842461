"""Standard-library logging with the request's trace ids on every record.

    handler = logging.StreamHandler()
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(JsonFormatter(service="shop"))

Records made while a request is served carry `trace_id`, `span_id` and `request_id`
(empty strings outside a request, so format strings like "%(trace_id)s" always work).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from seamline.instrument._context import current

_LEVELS = {"WARNING": "warning", "CRITICAL": "critical"}
# LogRecord attributes that are not user-supplied `extra` fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_IDS = ("trace_id", "span_id", "request_id")


class TraceContextFilter(logging.Filter):
    """Stamps trace_id, span_id and request_id of the current request on each record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the ids and let the record through."""
        ctx = current()
        record.trace_id = ctx.trace_id if ctx else ""
        record.span_id = ctx.span_id if ctx else ""
        record.request_id = ctx.request_id if ctx else ""
        return True


class JsonFormatter(logging.Formatter):
    """structlog-shaped JSON lines (timestamp, level, event, logger, ids, extras) that `json_log` reads."""

    def __init__(self, service: str | None = None, environment: str | None = None) -> None:
        super().__init__()
        self.service = service
        self.environment = environment

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object, no trailing newline (the handler adds it)."""
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": _LEVELS.get(record.levelname, record.levelname.lower()),
            "event": record.getMessage(),
            "logger": record.name,
        }
        if self.service:
            out["service"] = self.service
        if self.environment:
            out["environment"] = self.environment
        ctx = current()
        for key in _IDS:
            value = getattr(record, key, None) or (getattr(ctx, key, None) if ctx else None)
            if value:
                out[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _IDS and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()
