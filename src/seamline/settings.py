"""Settings, declared once: name, default, environment variable, help.

The same table feeds the CLI (`seamline settings`), the docs and validation. A value comes
from an explicit override (CLI flag), else the environment variable, else the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Setting:
    """One tunable: where it is read from and what it means."""

    name: str
    default: Any
    help: str
    type: type = str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return "SEAMLINE_" + self.name.upper()

    def parse(self, text: str) -> Any:
        """Convert text from the environment or the CLI; raises ValueError with the name."""
        try:
            if self.type is bool:
                lowered = text.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            return self.type(text)
        except ValueError as exc:
            raise ValueError(f"setting {self.name} ({self.env}): cannot read {text!r} as {self.type.__name__}") from exc


SETTINGS: tuple[Setting, ...] = (
    Setting("home", ".seamline", "Data directory holding the database, keys and write-ahead files.", Path),
    Setting("database", "seamline.duckdb", "Database file name inside the home directory."),
    Setting("environment", "production", "Environment stamped on records that do not name one."),
    Setting("memory_limit", "4GB", "Most memory the embedded database may use before it spills to disk."),
    Setting(
        "ingest_memory_limit",
        "256MB",
        "Memory limit of the embedded database while a file is ingested or followed (caps its written-block cache).",
    ),
    Setting(
        "batch_rows",
        122_880,
        "Rows per transaction of file ingest; DuckDB's row-group size (or a multiple) inserts fastest.",
        int,
    ),
    Setting("writer_queue_batches", 8, "Batches the writer queue holds before producers wait (bounds memory).", int),
    Setting("max_line_bytes", 1_048_576, "A line longer than this is quarantined instead of parsed.", int),
    Setting("quarantine_raw_bytes", 4096, "How much of a rejected record's raw text is kept in quarantine.", int),
    Setting(
        "max_future_minutes", 24 * 60, "Timestamps further than this ahead of the receive time are quarantined.", int
    ),
    Setting("max_past_days", 400, "Timestamps older than this before the receive time are quarantined.", int),
    Setting(
        "pseudonym_key_file",
        "pseudonym.key",
        "File (inside home unless absolute) with the HMAC key for pseudonyms.",
        Path,
    ),
    Setting(
        "store_raw_identifiers", False, "Store raw user ids and IPs instead of pseudonyms (not recommended).", bool
    ),
    Setting("ip_prefix_v4", 24, "Bits of an IPv4 address kept before it is pseudonymized.", int),
    Setting("ip_prefix_v6", 48, "Bits of an IPv6 address kept before it is pseudonymized.", int),
    Setting(
        "pseudonym_key_retention_days",
        400,
        "Days a retired pseudonym key keeps linking after `seamline keys rotate` (set to your longest retention).",
        int,
    ),
    Setting(
        "pii_rules_file",
        "",
        "YAML file that changes the built-in PII scrubbing rules (see `seamline pii rules`); empty = built-ins.",
    ),
    Setting("host", "127.0.0.1", "Address `seamline serve` binds to.", str),
    Setting("port", 8470, "Port `seamline serve` listens on.", int),
    Setting("max_body_bytes", 5_242_880, "Largest HTTP ingest body accepted (after decompression).", int),
    Setting(
        "body_timeout_seconds",
        30.0,
        "Longest time a client may take to send a request body; a slower one gets 408 (0 = no limit).",
        float,
    ),
    Setting("correlation_late_minutes", 30.0, "How late a record may arrive and still meet its partners.", float),
    Setting("correlate_interval_seconds", 30.0, "How often `seamline serve` correlates new data (0 = never).", float),
    Setting(
        "alert_rules_file",
        "alerts.yaml",
        "Alert rules (YAML; inside home unless absolute); the packaged defaults apply while it is missing.",
        Path,
    ),
    Setting("alert_interval_seconds", 60.0, "How often `seamline serve` evaluates the alert rules (0 = never).", float),
    Setting(
        "playbooks_dir",
        "playbooks",
        "Folder of your own playbook templates (*.yaml; inside home unless absolute); same name overrides a built-in.",
        Path,
    ),
    Setting("match_threshold", 0.9, "Lowest confidence a scored (id-less) match needs to become a link.", float),
    Setting(
        "ingest_token",
        "",
        "Legacy shared ingest secret: accepted on the ingest routes only, like an ingest-role API token "
        "(prefer `seamline tokens create --role ingest`).",
    ),
    # --- access control and TLS (seamline.access) ---
    Setting("tls_cert", "", "PEM certificate (chain) `seamline serve` presents over HTTPS; needs tls_key too."),
    Setting("tls_key", "", "PEM private key of tls_cert; empty with tls_cert empty = plain HTTP."),
    # --- retention, erasure, encryption at rest (seamline.governance) ---
    Setting(
        "retention_client_events_days",
        30,
        "Days client events (page views, clicks, fetches, errors, vitals...) are kept (0 = forever).",
        int,
    ),
    Setting(
        "retention_server_requests_days",
        30,
        "Days server request records (access logs, request logs) are kept (0 = forever).",
        int,
    ),
    Setting("retention_spans_days", 14, "Days OpenTelemetry spans are kept (0 = forever).", int),
    Setting("retention_logs_days", 14, "Days server log lines are kept (0 = forever).", int),
    Setting("retention_quarantine_days", 14, "Days quarantined records are kept (0 = forever).", int),
    Setting(
        "retention_correlation_days",
        30,
        "Days links, transactions and clock offsets are kept; they also go with their events (0 = forever).",
        int,
    ),
    Setting(
        "retention_facts_days",
        30,
        "Days dashboard facts are kept; they also go with their transactions (0 = forever).",
        int,
    ),
    Setting(
        "retention_detection_days",
        90,
        "Days anomalies, resolved alerts and their notifications are kept (0 = forever).",
        int,
    ),
    Setting("retention_audit_days", 365, "Days audit log entries are kept (0 = forever).", int),
    Setting(
        "retention_interval_hours",
        0.0,
        "How often `seamline serve` applies retention, e.g. 24 (0 = never, the default: loaded history is "
        "not deleted behind your back; the first run is a minute after start).",
        float,
    ),
    Setting(
        "encryption_key_file",
        "",
        "File (inside home unless absolute) with the database encryption key; SEAMLINE_ENCRYPTION_KEY "
        "overrides it; empty = not encrypted.",
    ),
    Setting(
        "encryption_builtin_crypto",
        False,
        "Allow DuckDB's built-in crypto to write an encrypted database when the httpfs extension (OpenSSL) "
        "cannot be loaded (weaker nonces, see docs/security.md).",
        bool,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings:
    """Resolved settings: overrides, then environment, then defaults."""

    def __init__(self, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._values: dict[str, Any] = {}
        self._origin: dict[str, str] = {}
        for s in SETTINGS:
            if overrides and overrides.get(s.name) is not None:
                value = overrides[s.name]
                self._values[s.name] = s.parse(value) if isinstance(value, str) and s.type is not str else value
                self._origin[s.name] = "override"
            elif s.env in env:
                self._values[s.name] = s.parse(env[s.env])
                self._origin[s.name] = "env " + s.env
            else:
                self._values[s.name] = s.type(s.default) if s.type is Path else s.default
                self._origin[s.name] = "default"
        unknown = set(overrides or {}).difference(_BY_NAME)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def home_dir(self) -> Path:
        """The data directory, created on first use."""
        path = Path(self._values["home"]).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def database_path(self) -> Path:
        """Path of the DuckDB file."""
        return self.home_dir / self._values["database"]

    def resolve_in_home(self, path: Path) -> Path:
        """A relative path is taken inside the home directory."""
        return path if path.is_absolute() else self.home_dir / path

    def describe(self) -> list[dict[str, Any]]:
        """Every setting with its value, where the value came from, env var and help."""
        return [
            {
                "name": s.name,
                "value": str(self._values[s.name]),
                "from": self._origin[s.name],
                "env": s.env,
                "default": str(s.default),
                "help": s.help,
            }
            for s in SETTINGS
        ]
