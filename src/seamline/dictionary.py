"""The data dictionary: every stored column with its type, unit, range, privacy class and meaning.

This module is the single source of truth for the unified record. The Arrow schema in
`seamline.schema` is derived from it, `docs/dictionary.md` is generated from it, the
validator reads its ranges, and a test fails when a table in the store has a column
that is missing here (or typed differently).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa


class Privacy(StrEnum):
    """How sensitive a column's values are; drives scrubbing and who may read rows."""

    NONE = "none"  # operational data, safe to show to any viewer
    PSEUDONYMOUS = "pseudonymous"  # keyed HMAC or random id: links a person without naming them
    PERSONAL = "personal"  # could identify a person if stored raw (scrubbed before storage)
    SECRET = "secret"  # never stored raw (tokens, passwords)


TIMESTAMP = pa.timestamp("us", tz="UTC")
STRING_MAP = pa.map_(pa.string(), pa.string())


@dataclass(frozen=True, slots=True)
class Column:
    """One stored column and what a reader needs to know to trust its values."""

    name: str
    type: pa.DataType
    meaning: str
    unit: str = ""
    privacy: Privacy = Privacy.NONE
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] = ()  # closed vocabulary, when the column has one
    required: bool = False  # a row without it is quarantined, not stored

    @property
    def expected_range(self) -> str:
        """Human-readable expected range, as printed in the dictionary."""
        if self.allowed:
            return " | ".join(self.allowed)
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g}"
            high = "" if self.maximum is None else f"{self.maximum:g}"
            return f"{low} .. {high}"
        return ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description of the column."""
        return {
            "name": self.name,
            "type": str(self.type),
            "unit": self.unit,
            "expected_range": self.expected_range,
            "privacy": str(self.privacy),
            "required": self.required,
            "meaning": self.meaning,
        }


# Record kinds, server side first, then client side, in the order a request flows.
KIND_MEANINGS: dict[str, str] = {
    "server_request": "One HTTP request as a server or gateway saw it (access log, middleware).",
    "server_log": "One structured or plain log line from a service.",
    "span": "One OpenTelemetry span from a backend service or database client.",
    "page_view": "A document load or SPA route change in the browser.",
    "client_action": "A user interaction: click, submit, keypress on a control.",
    "client_request": "A fetch, XHR or document request as the browser saw it.",
    "client_error": "An uncaught JS error or unhandled promise rejection.",
    "web_vital": "An LCP, INP, CLS, FCP or TTFB measurement.",
    "resource": "A resource timing entry (script, image, stylesheet).",
    "visibility": "The page became visible or hidden.",
    "track": "A named product event (Segment track).",
    "identify": "A user identified themselves (Segment identify, SDK identify).",
    "client_log": "Any other client event (Segment group, alias, screen; custom).",
}
KINDS: tuple[str, ...] = tuple(KIND_MEANINGS)

SPAN_KINDS = ("internal", "server", "client", "producer", "consumer")
SPAN_STATUSES = ("unset", "ok", "error")
LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
DEVICE_TYPES = ("desktop", "mobile", "tablet", "bot", "other")
VISIBILITY_STATES = ("visible", "hidden", "prerender")

_HOUR_MS = 3_600_000.0
_DAY_MS = 24 * _HOUR_MS

EVENTS: tuple[Column, ...] = (
    # --- identity of the record and time -------------------------------------------------
    Column(
        "event_id",
        pa.string(),
        "Stable id of the record: its natural id when it carries one (client session + event id, Segment messageId, span id) or else `<origin key>:<position>:<index>` (a hash of where the input came from, the line or request number, the record's index inside it), so re-reading the same input yields the same id.",
        required=True,
    ),
    Column("kind", pa.string(), "What the record is; see the kinds table.", allowed=KINDS, required=True),
    Column(
        "ts",
        TIMESTAMP,
        "When it happened, in UTC on the server clock (client records are skew-corrected).",
        unit="µs UTC",
        required=True,
    ),
    Column(
        "duration_ms",
        pa.float64(),
        "How long it took: request time, span length, fetch time, page load.",
        unit="ms",
        minimum=0,
        maximum=_HOUR_MS,
    ),
    Column(
        "received_at",
        TIMESTAMP,
        "When the record reached a collector (Seamline's endpoint or the file's writer).",
        unit="µs UTC",
    ),
    Column(
        "client_ts_raw",
        pa.string(),
        "The client timestamp exactly as the client sent it, before any parsing or correction.",
    ),
    # --- identity of the person and device ------------------------------------------------
    Column(
        "session_id",
        pa.string(),
        "Browser session id (random, rotates after inactivity).",
        privacy=Privacy.PSEUDONYMOUS,
    ),
    Column(
        "user_id",
        pa.string(),
        "Keyed HMAC pseudonym of the signed-in user id; the raw id is never stored.",
        privacy=Privacy.PSEUDONYMOUS,
    ),
    Column(
        "anonymous_id",
        pa.string(),
        "Keyed HMAC pseudonym of the anonymous (device-scoped) visitor id.",
        privacy=Privacy.PSEUDONYMOUS,
    ),
    Column(
        "device_id",
        pa.string(),
        "Pseudonym of the device or browser profile; the unit clock skew is estimated for.",
        privacy=Privacy.PSEUDONYMOUS,
    ),
    Column(
        "client_ip",
        pa.string(),
        "Keyed HMAC pseudonym of the (optionally truncated) client IP address.",
        privacy=Privacy.PSEUDONYMOUS,
    ),
    # --- correlation ids ----------------------------------------------------------------------
    Column("trace_id", pa.string(), "W3C trace id, 32 lowercase hex digits.", unit="hex"),
    Column("span_id", pa.string(), "W3C span (parent-id) of this record, 16 lowercase hex digits.", unit="hex"),
    Column("parent_span_id", pa.string(), "Span id of the caller, 16 lowercase hex digits.", unit="hex"),
    Column("request_id", pa.string(), "Request id from X-Request-ID / X-Correlation-ID / nginx $request_id."),
    Column("trace_sampled", pa.bool_(), "The sampled flag of the trace context (W3C trace-flags bit 0)."),
    # --- context -------------------------------------------------------------------------------
    Column("environment", pa.string(), "Deployment environment: production, staging, ..."),
    Column("service", pa.string(), "Service that produced a server record, or the web app name for client records."),
    Column("host", pa.string(), "Host, pod or instance that wrote the record."),
    Column("release", pa.string(), "Release or app version that produced the record."),
    Column("feature_flags", STRING_MAP, "Feature-flag states in force for this record (flag -> variant)."),
    Column("segment", pa.string(), "User segment (plan, cohort) from identify traits or a mapping file."),
    Column("region", pa.string(), "Coarse geographic region of the client (e.g. eu-west); never finer than a country."),
    # --- HTTP ----------------------------------------------------------------------------------
    Column("http_method", pa.string(), "HTTP request method.", allowed=HTTP_METHODS),
    Column(
        "url",
        pa.string(),
        "Request URL or path, with secrets and personal data scrubbed from path and query.",
        privacy=Privacy.PERSONAL,
    ),
    Column("route", pa.string(), "Route template of the request path, e.g. /product/{id}."),
    Column(
        "http_status",
        pa.int16(),
        "HTTP response status code (0 when the request never got a response).",
        minimum=0,
        maximum=599,
    ),
    Column("request_bytes", pa.int64(), "Bytes in the request body.", unit="bytes", minimum=0, maximum=1e10),
    Column("response_bytes", pa.int64(), "Bytes in the response body.", unit="bytes", minimum=0, maximum=1e10),
    Column(
        "upstream_ms",
        pa.float64(),
        "Time the gateway waited for its upstream (nginx $upstream_response_time).",
        unit="ms",
        minimum=0,
        maximum=_HOUR_MS,
    ),
    # --- client context ------------------------------------------------------------------------
    Column("page", pa.string(), "Route template of the page the client was on.", privacy=Privacy.NONE),
    Column("referrer", pa.string(), "Referring page, scrubbed like url.", privacy=Privacy.PERSONAL),
    Column("user_agent", pa.string(), "Raw User-Agent header (parsed into browser, os, device_type)."),
    Column("browser", pa.string(), "Browser family parsed from the user agent."),
    Column("browser_version", pa.string(), "Browser major version."),
    Column("os", pa.string(), "Operating system family."),
    Column("device_type", pa.string(), "Device class.", allowed=DEVICE_TYPES),
    Column(
        "network_type", pa.string(), "Network Information API effective type: slow-2g, 2g, 3g, 4g, or wifi/ethernet."
    ),
    Column(
        "network_rtt_ms",
        pa.float64(),
        "Round-trip estimate from the Network Information API.",
        unit="ms",
        minimum=0,
        maximum=60_000,
    ),
    Column("visibility", pa.string(), "Document visibility when the record was made.", allowed=VISIBILITY_STATES),
    # --- what happened ---------------------------------------------------------------------------
    Column(
        "name",
        pa.string(),
        "Event name: span name, track event, vital name (LCP...), action target descriptor, logger.",
    ),
    Column("value", pa.float64(), "Numeric value of a measurement (vital value, CLS score...).", unit="per name"),
    Column("level", pa.string(), "Log severity, normalised.", allowed=LOG_LEVELS),
    Column("message", pa.string(), "Log message or description, scrubbed of personal data.", privacy=Privacy.PERSONAL),
    Column("span_kind", pa.string(), "OpenTelemetry span kind.", allowed=SPAN_KINDS),
    Column("span_status", pa.string(), "OpenTelemetry span status.", allowed=SPAN_STATUSES),
    Column("error_type", pa.string(), "Error class or exception type."),
    Column("error_message", pa.string(), "Error message, scrubbed of personal data.", privacy=Privacy.PERSONAL),
    Column(
        "error_fingerprint",
        pa.string(),
        "Hash of the normalised stack (frames without line numbers and ids); groups the same error.",
        unit="hex",
    ),
    Column(
        "attributes",
        STRING_MAP,
        "Everything else the source carried, as text (OTLP attributes, navigation timings, track properties); values scrubbed of personal data, identifier attributes pseudonymized.",
        privacy=Privacy.PERSONAL,
    ),
    # --- lineage ---------------------------------------------------------------------------------
    Column(
        "source",
        pa.string(),
        "Name of the source module that parsed the record (nginx, json_log, otlp_traces, client_events, ...).",
        required=True,
    ),
    Column("origin", pa.string(), "Where the record came from: file path, or endpoint for HTTP ingest.", required=True),
    Column(
        "position",
        pa.int64(),
        "Line number in the file (1-based), or request sequence number for HTTP ingest.",
        minimum=0,
    ),
    Column(
        "position_index",
        pa.int32(),
        "Index of the record inside a multi-record line or body (batch, OTLP request).",
        minimum=0,
    ),
    Column(
        "ingest_batch_id",
        pa.string(),
        "Id of the ingest run that stored the record (see ingest_batches).",
        required=True,
    ),
    Column(
        "schema_version", pa.int16(), "Store schema version the record was written under.", minimum=1, required=True
    ),
    # --- clock skew (schema version 2) -------------------------------------------------------------
    Column(
        "client_ts",
        TIMESTAMP,
        "Client timestamp parsed to UTC but not corrected: what the device clock said.",
        unit="µs UTC",
    ),
    Column(
        "clock_offset_ms",
        pa.float64(),
        "Estimated offset of the device clock (device minus server); ts = client_ts - offset.",
        unit="ms",
        minimum=-_DAY_MS,
        maximum=_DAY_MS,
    ),
)

QUARANTINE: tuple[Column, ...] = (
    Column("quarantine_id", pa.string(), "Stable id of the quarantined record (hash of its position).", required=True),
    Column("received_at", TIMESTAMP, "When the record was rejected.", unit="µs UTC", required=True),
    Column("source", pa.string(), "Source that tried to parse it (or 'detect' when no source matched).", required=True),
    Column("origin", pa.string(), "File path or endpoint it came from.", required=True),
    Column("position", pa.int64(), "Line number (1-based) or request sequence number.", minimum=0),
    Column("position_index", pa.int32(), "Index inside a multi-record line or body.", minimum=0),
    Column(
        "reason",
        pa.string(),
        "Why it was rejected, in words a person can act on (scrubbed: it may quote the input).",
        privacy=Privacy.PERSONAL,
        required=True,
    ),
    Column(
        "raw",
        pa.string(),
        "The raw text (truncated, invalid bytes escaped), scrubbed of personal data, identifiers pseudonymized.",
        privacy=Privacy.PERSONAL,
    ),
    Column("raw_bytes", pa.int64(), "Size of the original raw record before truncation.", unit="bytes", minimum=0),
    Column("ingest_batch_id", pa.string(), "Ingest run that rejected it.", required=True),
    Column(
        "reingested_at", TIMESTAMP, "When a later `seamline quarantine reingest` stored it successfully.", unit="µs UTC"
    ),
)

INGEST_BATCHES: tuple[Column, ...] = (
    Column("ingest_batch_id", pa.string(), "Id of one ingest run over one origin.", required=True),
    Column("source", pa.string(), "Source used for the origin.", required=True),
    Column("origin", pa.string(), "File path or endpoint.", required=True),
    Column("started_at", TIMESTAMP, "When the run started.", unit="µs UTC", required=True),
    Column("finished_at", TIMESTAMP, "When the run finished (null while running or after a crash).", unit="µs UTC"),
    Column("records_read", pa.int64(), "Raw records (lines, bodies) read.", minimum=0),
    Column("rows_stored", pa.int64(), "Rows written to events.", minimum=0),
    Column("rows_quarantined", pa.int64(), "Rows written to quarantine.", minimum=0),
    Column("status", pa.string(), "running, done or failed.", allowed=("running", "done", "failed")),
)

INGEST_OFFSETS: tuple[Column, ...] = (
    Column("origin", pa.string(), "Absolute file path.", required=True),
    Column(
        "fingerprint",
        pa.string(),
        "Hash of the file's first bytes; a different value means the file was replaced or rotated.",
        required=True,
    ),
    Column(
        "offset_bytes",
        pa.int64(),
        "Bytes of the (decompressed) file already ingested; a grown file resumes here.",
        unit="bytes",
        minimum=0,
    ),
    Column("lines", pa.int64(), "Lines already ingested, so positions continue after a resume.", minimum=0),
    Column("updated_at", TIMESTAMP, "Last checkpoint.", unit="µs UTC"),
)

# One column per line reads as a table: the formatter leaves these alone.
# fmt: off
SCHEMA_MIGRATIONS: tuple[Column, ...] = (
    Column("version", pa.int32(), "Migration number applied.", minimum=1, required=True),
    Column("name", pa.string(), "What the migration does.", required=True),
    Column("applied_at", TIMESTAMP, "When it was applied.", unit="µs UTC", required=True),
    Column("applied_by", pa.string(), "Local OS user (or token) that applied it; empty for steps applied before version 7."),
    Column("dictionary_hash", pa.string(), "Structural hash of the data dictionary of the code that applied it (`dictionary.structure_hash`)."),
    Column("seamline_version", pa.string(), "Version of the Seamline package that applied it."),
)

LINK_METHODS = ("traceparent", "server_timing", "trace_id", "request_id", "scored")
TRANSACTION_KINDS = ("navigation", "action")

LINKS: tuple[Column, ...] = (
    Column("from_event_id", pa.string(), "Client record (client_request or page_view) that the link starts from.", required=True),
    Column("to_event_id", pa.string(), "Server record that handled it: the gateway's access-log line or the first server span.", required=True),
    Column("method", pa.string(), "How the pair was found: an id both carry, or a scored match.", allowed=LINK_METHODS, required=True),
    Column("confidence", pa.float64(), "Probability that the link is right: 1 for exact ids, calibrated posterior for scored matches.", minimum=0, maximum=1, required=True),
    Column("features", pa.string(), "JSON of the features and their contributions that produced a scored link (null for exact links)."),
    Column("correlation_run_id", pa.string(), "Correlation run that made the link.", required=True),
)

TRANSACTIONS: tuple[Column, ...] = (
    Column("transaction_id", pa.string(), "Id of the end-to-end transaction: the event id of its root (the click or the navigation).", required=True),
    Column("kind", pa.string(), "navigation (a page view with its document load and fetches) or action (a click or submit and what it caused).", allowed=TRANSACTION_KINDS, required=True),
    Column("root_event_id", pa.string(), "The page_view or client_action that started it.", required=True),
    Column("page_view_id", pa.string(), "For an action, the page view it happened on."),
    Column("session_id", pa.string(), "Browser session.", privacy=Privacy.PSEUDONYMOUS),
    Column("user_id", pa.string(), "User pseudonym (the last one the session identified as).", privacy=Privacy.PSEUDONYMOUS),
    Column("anonymous_id", pa.string(), "Anonymous visitor pseudonym.", privacy=Privacy.PSEUDONYMOUS),
    Column("device_id", pa.string(), "Device pseudonym.", privacy=Privacy.PSEUDONYMOUS),
    Column("flow", pa.string(), "User journey the action belongs to (the part of the action name before the first dot), e.g. checkout."),
    Column("name", pa.string(), "Action name or target descriptor, or the page route for a navigation."),
    Column("page", pa.string(), "Route template of the page."),
    Column("environment", pa.string(), "Environment of the root event."),
    Column("release", pa.string(), "Frontend release of the root event."),
    Column("region", pa.string(), "Region of the client."),
    Column("browser", pa.string(), "Browser family of the client."),
    Column("feature_flags", STRING_MAP, "Feature flags in force for the root event."),
    Column("start_ts", TIMESTAMP, "When the transaction started (the root event), server clock.", unit="µs UTC", required=True),
    Column("end_ts", TIMESTAMP, "When its last member ended, server clock.", unit="µs UTC"),
    Column("duration_ms", pa.float64(), "From the root event to the end of its last member.", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("client_requests", pa.int32(), "Client requests (fetch, XHR, document) in the transaction.", minimum=0),
    Column("server_records", pa.int32(), "Server records (requests, spans, logs) joined to it.", minimum=0),
    Column("errors", pa.int32(), "Client errors plus server responses >= 500 and error spans in the transaction.", minimum=0),
    Column("max_status", pa.int16(), "Highest HTTP status among its requests (0 when a request never got an answer).", minimum=0, maximum=599),
    Column("links_exact", pa.int32(), "Client requests linked to the server by shared ids.", minimum=0),
    Column("links_scored", pa.int32(), "Client requests linked by a scored match.", minimum=0),
    Column("requests_unlinked", pa.int32(), "Client requests with no server counterpart found.", minimum=0),
    Column("correlation_run_id", pa.string(), "Correlation run that built it.", required=True),
)

EVENT_TRANSACTIONS: tuple[Column, ...] = (
    Column("event_id", pa.string(), "A member record.", required=True),
    Column("transaction_id", pa.string(), "The transaction it belongs to.", required=True),
    Column("via", pa.string(), "How it joined: root, action_id, page, traceparent, server_timing, trace_id, request_id, scored.", required=True),
    Column("confidence", pa.float64(), "Confidence of the weakest link on its path to the root.", minimum=0, maximum=1, required=True),
    Column("correlation_run_id", pa.string(), "Correlation run that assigned it.", required=True),
)

CLOCK_OFFSETS: tuple[Column, ...] = (
    Column("session_id", pa.string(), "Session the estimate applies to.", privacy=Privacy.PSEUDONYMOUS, required=True),
    Column("device_id", pa.string(), "Device of the session.", privacy=Privacy.PSEUDONYMOUS),
    Column("method", pa.string(), "ntp (linked request pairs), alignment (request sequences, no ids), device (from the device's other sessions) or sent_received (batch timestamps only).", allowed=("ntp", "alignment", "device", "sent_received"), required=True),
    Column("offset_ms", pa.float64(), "Device clock minus server clock at reference_ts.", unit="ms", minimum=-_DAY_MS, maximum=_DAY_MS, required=True),
    Column("drift_ms_per_min", pa.float64(), "Change of the offset per minute within the session.", unit="ms/min", minimum=-1000, maximum=1000),
    Column("reference_ts", TIMESTAMP, "Server time at which offset_ms holds.", unit="µs UTC"),
    Column("pairs", pa.int32(), "Linked request pairs (or aligned requests) behind the estimate.", minimum=0),
    Column("spread_ms", pa.float64(), "Robust spread (MAD) of the per-pair offsets around the fit.", unit="ms", minimum=0),
    Column("correlation_run_id", pa.string(), "Correlation run that estimated it.", required=True),
)

UNLINKED_REASONS = ("no_id", "no_candidate", "ambiguous", "below_threshold", "no_response", "outside_window")

UNLINKED_REQUESTS: tuple[Column, ...] = (
    Column("event_id", pa.string(), "A client request (or page view) no server record was linked to.", required=True),
    Column("reason", pa.string(), "Why: no_id (carried no id and scoring was not possible), no_candidate (no server record fits), ambiguous (several fit equally), below_threshold (best match too unsure), no_response (status 0: it never reached a server), outside_window (its server side may arrive later).", allowed=UNLINKED_REASONS, required=True),
    Column("best_confidence", pa.float64(), "Confidence of the best candidate that was not taken.", minimum=0, maximum=1),
    Column("candidates", pa.int32(), "Server records considered for it.", minimum=0),
    Column("correlation_run_id", pa.string(), "Correlation run that gave up on it.", required=True),
)

CORRELATION_RUNS: tuple[Column, ...] = (
    Column("correlation_run_id", pa.string(), "Id of one correlation run.", required=True),
    Column("started_at", TIMESTAMP, "When it started.", unit="µs UTC", required=True),
    Column("finished_at", TIMESTAMP, "When it finished.", unit="µs UTC"),
    Column("window_start", TIMESTAMP, "Start of the event-time window it (re)built.", unit="µs UTC"),
    Column("window_end", TIMESTAMP, "End of the event-time window it (re)built.", unit="µs UTC"),
    Column("events_considered", pa.int64(), "Events in the window.", minimum=0),
    Column("links_exact", pa.int64(), "Exact links made.", minimum=0),
    Column("links_scored", pa.int64(), "Scored links made.", minimum=0),
    Column("transactions", pa.int64(), "Transactions built.", minimum=0),
    Column("seconds", pa.float64(), "Wall time of the run.", unit="s", minimum=0),
    Column("last_rowid", pa.int64(), "Highest events rowid the run saw; the next run starts from rows added after it.", minimum=0),
    Column("status", pa.string(), "running, done or failed.", allowed=("running", "done", "failed")),
    Column("phase_seconds", pa.string(), "JSON object: seconds spent in each phase of the run (clear, window, exact, skew, scored and its steps, transactions), to find where the time goes."),
)

# --- dashboards (schema version 4) ---------------------------------------------------------------
# Facts are derived from events and correlation by `seamline.views.facts.refresh_facts`.


def _fact_dimensions() -> tuple[Column, ...]:
    return (
        Column("flow", pa.string(), "User journey of the transaction (checkout, search...), when it belongs to one."),
        Column("page", pa.string(), "Route template of the page the transaction happened on."),
        Column("session_id", pa.string(), "Browser session of the transaction.", privacy=Privacy.PSEUDONYMOUS),
        Column("user_key", pa.string(), "The user pseudonym, or else the anonymous visitor pseudonym: who was affected.", privacy=Privacy.PSEUDONYMOUS),
        Column("environment", pa.string(), "Environment of the transaction's root event."),
        Column("release", pa.string(), "Frontend release of the transaction's root event."),
        Column("backend_release", pa.string(), "Release of the first service that served the transaction (its earliest server span or request log)."),
        Column("region", pa.string(), "Region of the client."),
        Column("browser", pa.string(), "Browser family of the client."),
        Column("segment", pa.string(), "User segment the root event carried (plan, cohort)."),
    )


FACT_LAYERS = ("client", "document", "gateway", "service", "dependency")

TRANSACTION_FACTS: tuple[Column, ...] = (
    Column("transaction_id", pa.string(), "The transaction these facts describe.", required=True),
    Column("kind", pa.string(), "navigation or action.", allowed=TRANSACTION_KINDS, required=True),
    Column("name", pa.string(), "Action name (flow.step) or the page route of a navigation."),
    *_fact_dimensions(),
    Column("feature_flags", STRING_MAP, "Feature flags in force for the transaction's root event (request_facts filter on flags through it)."),
    Column("start_ts", TIMESTAMP, "When the transaction started (its root event), server clock.", unit="µs UTC", required=True),
    Column("e2e_ms", pa.float64(), "End-to-end latency: page load of a navigation; click to the end of its last request for an action (null for an action without requests).", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("client_ms", pa.float64(), "Segment of e2e_ms spent in the browser beyond its critical request (rendering, scripts, other resources).", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("network_ms", pa.float64(), "Segment of e2e_ms on the network: the critical request's client duration minus its server entry's duration.", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("server_ms", pa.float64(), "Segment of e2e_ms in the gateway and services: the server entry's duration minus dependency_ms.", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("dependency_ms", pa.float64(), "Segment of e2e_ms in database and third-party calls of the critical request's trace.", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("unattributed_ms", pa.float64(), "Time of a critical request that has no linked server entry, so it cannot be split.", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("lcp_ms", pa.float64(), "Largest Contentful Paint of a navigation's page load (its web vital), for page health without reading events.", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("critical_event_id", pa.string(), "The request on the critical path: the document of a navigation, the last-ending request of an action."),
    Column("requests", pa.int32(), "Client requests in the transaction (a navigation's document counts as one).", minimum=0),
    Column("status_0", pa.int32(), "Client requests that never got a response (status 0).", minimum=0),
    Column("status_4xx", pa.int32(), "Client requests answered 4xx.", minimum=0),
    Column("status_5xx", pa.int32(), "Client requests answered 5xx.", minimum=0),
    Column("js_errors", pa.int32(), "Uncaught JS errors and unhandled rejections in the transaction.", minimum=0),
    Column("server_errors", pa.int32(), "Server records (access lines, request logs, server spans) with status >= 500 or an error status.", minimum=0),
    Column("timeouts", pa.int32(), "Records that timed out: status 408/504 or a timeout error at any layer.", minimum=0),
    Column("correlation_run_id", pa.string(), "Correlation run of the transaction these facts were built from.", required=True),
    Column("transaction_row", pa.string(), "The transaction's row of `transactions` as a JSON object, in its column order (times as epoch microseconds): a waterfall's header without a second lookup.", privacy=Privacy.PSEUDONYMOUS),
)

REQUEST_FACTS: tuple[Column, ...] = (
    Column("transaction_id", pa.string(), "Transaction the request belongs to.", required=True),
    Column("event_id", pa.string(), "The request's record in events.", required=True),
    Column("ts", TIMESTAMP, "When the request started, server clock.", unit="µs UTC", required=True),
    Column("layer", pa.string(), "Where it was seen: client (fetch, XHR), document (a page load's document request, timed by its TTFB), gateway (access log), service (server span or request log), dependency (database or third-party call).", allowed=FACT_LAYERS, required=True),
    Column("service", pa.string(), "Service that handled it (client: the web app; dependency: the calling service)."),
    Column("route", pa.string(), "Route template; for a document, the page route; for a dependency, the database system or the remote host."),
    Column("http_method", pa.string(), "HTTP method, when there is one.", allowed=HTTP_METHODS),
    Column("http_status", pa.int16(), "HTTP status (0 when the client got no response).", minimum=0, maximum=599),
    Column("duration_ms", pa.float64(), "How long the request took at this layer.", unit="ms", minimum=0, maximum=_HOUR_MS),
    Column("failed", pa.bool_(), "Status 0 or >= 500, or an error span status.", required=True),
    Column("timeout", pa.bool_(), "Status 408/504 or a timeout error.", required=True),
    Column("linkage", pa.string(), "For a client request or document: how correlation found its server side (exact ids, a scored match, or not at all).", allowed=("exact", "scored", "unlinked")),
    Column("unlinked_reason", pa.string(), "For an unlinked client request or document: why correlation gave up (see unlinked_requests)."),
    *_fact_dimensions(),
    Column("correlation_run_id", pa.string(), "Correlation run of the transaction these facts were built from.", required=True),
)

# One row per member of each transaction, written with the facts, ordered by the transaction's start.
WATERFALL_FIELDS = (
    "kind", "ts", "duration_ms", "service", "span_kind", "span_status", "name", "http_method", "route", "url",
    "http_status", "level", "message", "error_type", "error_message", "source", "origin", "position",
    "position_index", "client_ts", "clock_offset_ms", "trace_id", "span_id", "request_id", "db_system", "via",
    "confidence", "link_method", "link_confidence", "server_ms",
)

WATERFALL_ROWS: tuple[Column, ...] = (
    Column("transaction_id", pa.string(), "The transaction the row belongs to.", required=True),
    Column("start_ts", TIMESTAMP, "The transaction's start (the sort key: one transaction's rows lie together).", unit="µs UTC", required=True),
    Column("session_id", pa.string(), "The transaction's browser session (the session timeline reads its members here).", privacy=Privacy.PSEUDONYMOUS),
    Column("event_id", pa.string(), "The member record.", required=True),
    Column("fields", pa.string(), "JSON object of what the member's waterfall row shows: " + ", ".join(WATERFALL_FIELDS) + ". Event fields as in events (ts and client_ts as epoch microseconds); db_system is its `db.system` attribute; via and confidence as in event_transactions; link_method, link_confidence and server_ms describe a client request's best link and its server record's duration.", privacy=Privacy.PERSONAL, required=True),
    Column("correlation_run_id", pa.string(), "Correlation run of the transaction.", required=True),
)

SAVED_VIEWS: tuple[Column, ...] = (
    Column("view_id", pa.string(), "Id of the saved view (random).", required=True),
    Column("name", pa.string(), "Name people see in the list of saved views.", required=True),
    Column("team", pa.string(), "Team that owns and may edit the view.", required=True),
    Column("page", pa.string(), "UI page the view opens (overview, flow, heatmap, impact, ...).", required=True),
    Column("query", pa.string(), "URL query string of the page: its filters and parameters.", required=True),
    Column("description", pa.string(), "What the view is for, in the team's words."),
    Column("based_on", pa.string(), "Name of the shared view it was customised from, if any."),
    Column("created_at", TIMESTAMP, "When it was saved first.", unit="µs UTC", required=True),
    Column("updated_at", TIMESTAMP, "When it was last edited.", unit="µs UTC", required=True),
)

SEGMENTS = ("client", "network", "gateway", "service", "database")
SEVERITIES = ("info", "warning", "critical")
ALERT_STATES = ("pending", "firing", "resolved", "cancelled")
ROLES = ("ingest", "viewer", "analyst", "admin")

ANOMALIES: tuple[Column, ...] = (
    Column("anomaly_id", pa.string(), "Id of the anomaly episode (stable for a metric, scope and start).", required=True),
    Column("metric", pa.string(), "Metric that left its baseline (see `seamline detect --help`).", required=True),
    Column("scope", pa.string(), "Where it was measured, as JSON (flow, route, service, page, region ...; {} = everything).", required=True),
    Column("start_ts", TIMESTAMP, "First bucket judged anomalous.", unit="µs UTC", required=True),
    Column("end_ts", TIMESTAMP, "End of the last anomalous bucket; empty while the episode is open.", unit="µs UTC"),
    Column("detected_at", TIMESTAMP, "When the streaming evaluation could first have raised it (end of the deciding bucket).", unit="µs UTC", required=True),
    Column("observed", pa.float64(), "Metric value at its worst in the episode.", unit="metric unit"),
    Column("expected", pa.float64(), "Baseline value for the same time.", unit="metric unit"),
    Column("score", pa.float64(), "Robust deviation of observed from expected, in baseline spreads.", minimum=0),
    Column("volume", pa.int64(), "Transactions or requests behind the observation.", minimum=0),
    Column("classification", pa.string(), "systemic: backend and frontend signals moved together on the same flow; isolated: one side only.", allowed=("systemic", "isolated")),
    Column("segment", pa.string(), "Segment of the end-to-end path that changed most.", allowed=SEGMENTS),
    Column("service", pa.string(), "Named service when the segment is a service or its database."),
    Column("cohorts", pa.string(), "Cohorts over-represented among affected traffic, as JSON [{dimension, value, lift, share}]."),
    Column("signals", pa.string(), "Other metrics that moved in the same window, as JSON."),
    Column("detect_run_id", pa.string(), "Detection run that wrote the row.", required=True),
)

ALERTS: tuple[Column, ...] = (
    Column("alert_id", pa.string(), "Id of the alert (one per firing episode of a rule and scope).", required=True),
    Column("rule", pa.string(), "Name of the alert rule in the rules file.", required=True),
    Column("fingerprint", pa.string(), "De-duplication key: rule and scope.", required=True),
    Column("severity", pa.string(), "Severity the rule gives it.", allowed=SEVERITIES, required=True),
    Column("state", pa.string(), "pending while the condition holds for less than the rule's `for`; firing after; resolved once it has been clear for `resolve_after`; cancelled when it cleared before firing.", allowed=ALERT_STATES, required=True),
    Column("metric", pa.string(), "Metric the rule watches.", required=True),
    Column("scope", pa.string(), "Scope the rule watches, as JSON.", required=True),
    Column("value", pa.float64(), "Metric value when last evaluated.", unit="metric unit"),
    Column("threshold", pa.float64(), "Value the condition compared against (static, baseline-derived or burn rate).", unit="metric unit"),
    Column("summary", pa.string(), "One line for the responder.", required=True),
    Column("started_at", TIMESTAMP, "When the condition started to hold.", unit="µs UTC", required=True),
    Column("last_seen_at", TIMESTAMP, "Last evaluation at which it still held.", unit="µs UTC", required=True),
    Column("resolved_at", TIMESTAMP, "When it resolved; empty while firing.", unit="µs UTC"),
    Column("anomaly_id", pa.string(), "Anomaly that explains it, when detection found one."),
    Column("playbook", pa.string(), "Investigation playbook the alert opens."),
    Column("condition", pa.string(), "Kind of condition that raised it.", allowed=("threshold", "deviation", "burn_rate", "anomaly"), required=True),
    Column("fired_at", TIMESTAMP, "When it went from pending to firing (notifiers ran); empty if it never fired.", unit="µs UTC"),
    Column("segment", pa.string(), "Segment of the end-to-end path detection blames, for anomaly alerts.", allowed=SEGMENTS),
    Column("details", pa.string(), "The figures of the last evaluation as JSON (window, volume, baseline, burn rates ...)."),
)

ALERT_NOTIFICATIONS: tuple[Column, ...] = (
    Column("alert_id", pa.string(), "Alert the notification was about.", required=True),
    Column("notifier", pa.string(), "Notifier name from the rules file (webhook, log, command ...).", required=True),
    Column("sent_at", TIMESTAMP, "When the attempt was made.", unit="µs UTC", required=True),
    Column("attempt", pa.int32(), "Attempt number (retries with backoff count up from 1).", minimum=1, required=True),
    Column("ok", pa.bool_(), "Whether the notifier accepted it.", required=True),
    Column("detail", pa.string(), "HTTP status, exit code or error text."),
    Column("event", pa.string(), "Transition announced: firing, resolved, or test (`seamline alerts test --notify`).", allowed=("firing", "resolved", "test"), required=True),
)

ANNOTATIONS: tuple[Column, ...] = (
    Column("annotation_id", pa.string(), "Id of the annotation (random).", required=True),
    Column("kind", pa.string(), "What it is tagged to.", allowed=("product_area", "feature", "experiment", "release", "incident", "note"), required=True),
    Column("target", pa.string(), "Name of the product area, feature, experiment or release.", required=True),
    Column("title", pa.string(), "One line shown on charts.", required=True),
    Column("body", pa.string(), "The finding in full (Markdown)."),
    Column("start_ts", TIMESTAMP, "Time the finding is about (start).", unit="µs UTC", required=True),
    Column("end_ts", TIMESTAMP, "End of the period, for a window.", unit="µs UTC"),
    Column("scope", pa.string(), "Flow, route, service or page it concerns, as JSON."),
    Column("author", pa.string(), "Who wrote it (token name or local user)."),
    Column("alert_id", pa.string(), "Alert the finding came out of, if any."),
    Column("created_at", TIMESTAMP, "When it was written.", unit="µs UTC", required=True),
)

API_TOKENS: tuple[Column, ...] = (
    Column("token_id", pa.string(), "Public id of the token (shown in lists and the audit log).", required=True),
    Column("name", pa.string(), "Name given when the token was created.", required=True),
    Column("token_hash", pa.string(), "SHA-256 of the secret; the secret itself is shown once and never stored.", privacy=Privacy.SECRET, required=True),
    Column("role", pa.string(), "What the token may do.", allowed=ROLES, required=True),
    Column("project", pa.string(), "Project the token is limited to (for now an `environment` value); empty = all."),
    Column("created_at", TIMESTAMP, "When it was created.", unit="µs UTC", required=True),
    Column("expires_at", TIMESTAMP, "When it stops working; empty = never.", unit="µs UTC"),
    Column("revoked_at", TIMESTAMP, "When it was revoked.", unit="µs UTC"),
    Column("last_used_at", TIMESTAMP, "Last request that presented it.", unit="µs UTC"),
)

AUDIT_LOG: tuple[Column, ...] = (
    Column("seq", pa.int64(), "Position in the log (append-only, increasing).", minimum=1, required=True),
    Column("ts", TIMESTAMP, "When it happened.", unit="µs UTC", required=True),
    Column("actor", pa.string(), "Token id or local OS user that acted.", privacy=Privacy.PSEUDONYMOUS, required=True),
    Column("role", pa.string(), "Role the actor held.", allowed=ROLES),
    Column("action", pa.string(), "What was done: query, export, denied, login, token.create, token.revoke, audit.read, command (a CLI change), retention, forget ...", required=True),
    Column("target", pa.string(), "What it was done to (route, table, token id ...)."),
    Column("detail", pa.string(), "Parameters as JSON, with secrets removed."),
    Column("origin", pa.string(), "http (with the client address prefix) or cli.", required=True),
    Column("ok", pa.bool_(), "Whether it was allowed and succeeded.", required=True),
)

# --- schema governance (schema version 7) ------------------------------------------------------
FIELD_OBSERVATIONS: tuple[Column, ...] = (
    Column("source", pa.string(), "Source that sent the field.", required=True),
    Column("field", pa.string(), "A stored column, or attributes.<key> for a field kept in the attributes map.", required=True),
    Column("value_type", pa.string(), "Type of the values: the column's type, or for an attribute the type its text reads as.", allowed=("integer", "number", "boolean", "json", "string", "timestamp", "map", "other"), required=True),
    Column("first_seen", TIMESTAMP, "When ingest first stored a row with it (receive time).", unit="µs UTC", required=True),
    Column("last_seen", TIMESTAMP, "When ingest last stored a row with it.", unit="µs UTC", required=True),
    Column("first_ingest_batch_id", pa.string(), "Ingest run that first brought it."),
    Column("rows", pa.int64(), "Rows stored with a value in it, all runs together.", minimum=0, required=True),
    Column("accepted_at", TIMESTAMP, "When someone accepted it into the baseline (`seamline schema drift --accept`).", unit="µs UTC"),
    Column("accepted_by", pa.string(), "Who accepted it."),
)

# fmt: on

TABLES: dict[str, tuple[Column, ...]] = {
    "events": EVENTS,
    "quarantine": QUARANTINE,
    "ingest_batches": INGEST_BATCHES,
    "ingest_offsets": INGEST_OFFSETS,
    "schema_migrations": SCHEMA_MIGRATIONS,
    "links": LINKS,
    "transactions": TRANSACTIONS,
    "event_transactions": EVENT_TRANSACTIONS,
    "clock_offsets": CLOCK_OFFSETS,
    "unlinked_requests": UNLINKED_REQUESTS,
    "correlation_runs": CORRELATION_RUNS,
    "transaction_facts": TRANSACTION_FACTS,
    "request_facts": REQUEST_FACTS,
    "waterfall_rows": WATERFALL_ROWS,
    "saved_views": SAVED_VIEWS,
    "anomalies": ANOMALIES,
    "alerts": ALERTS,
    "alert_notifications": ALERT_NOTIFICATIONS,
    "annotations": ANNOTATIONS,
    "api_tokens": API_TOKENS,
    "audit_log": AUDIT_LOG,
    "field_observations": FIELD_OBSERVATIONS,
}


def column(table: str, name: str) -> Column:
    """Look up one column; raises KeyError naming the table when it is not documented."""
    for col in TABLES[table]:
        if col.name == name:
            return col
    raise KeyError(f"column {table}.{name} has no entry in the data dictionary")


def structure_hash() -> str:
    """12 hex digits over every table's column names, types, ranges, privacy classes and requiredness.

    Meanings are left out: rewording a column's description does not change the schema.
    """
    import hashlib

    parts = [
        f"{t}.{c.name}:{c.type}:{c.minimum}:{c.maximum}:{','.join(c.allowed)}:{c.privacy}:{c.required}"
        for t, cols in TABLES.items()
        for c in cols
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def to_markdown() -> str:
    """Render the whole dictionary as the Markdown of docs/dictionary.md."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from `src/seamline/dictionary.py` by `seamline dictionary --format markdown`.",
        "Do not edit by hand: change the code and regenerate.",
        "",
        "Privacy classes: **none** (operational), **pseudonymous** (keyed HMAC or random id),",
        "**personal** (scrubbed before storage), **secret** (never stored raw).",
        "",
        "## Record kinds",
        "",
        "| kind | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {m} |" for k, m in KIND_MEANINGS.items()]
    for table, cols in TABLES.items():
        lines += [
            "",
            f"## `{table}`",
            "",
            "| column | type | unit | expected range | privacy | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for c in cols:
            req = " (required)" if c.required else ""
            lines.append(f"| `{c.name}` | {c.type} | {c.unit} | {c.expected_range} | {c.privacy} | {c.meaning}{req} |")
    return "\n".join(lines) + "\n"
