"""Notifiers: where an alert's transitions go — a webhook, a log line, or a command.

Every notifier has the same shape: `send(payload) -> list[Attempt]`, one Attempt per try,
so the engine records each try in `alert_notifications` whatever the notifier. `NOTIFIERS`
maps the `type` of a rules-file entry to its class (one registry, like the sources).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from seamline._output import to_json
from seamline.alerting.rules import NotifierConfig

_USER_AGENT = "seamline-alerts/0.1"
_DETAIL_CHARS = 300


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one notifier."""

    notifier: str
    attempt: int
    ok: bool
    detail: str
    sent_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "notifier": self.notifier,
            "attempt": self.attempt,
            "ok": self.ok,
            "detail": self.detail,
            "sent_at": self.sent_at,
        }


class Notifier(Protocol):
    """What the engine calls for each firing, resolved or test event."""

    name: str

    def send(self, payload: dict[str, Any]) -> list[Attempt]:
        """Deliver the alert payload; never raises, returns the attempts made."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


class WebhookNotifier:
    """POST the alert as JSON; retry 5xx, 408, 429 and network errors with exponential backoff."""

    def __init__(
        self,
        name: str,
        url: str,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 1.0,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.headers = {"content-type": "application/json", "user-agent": _USER_AGENT, **(headers or {})}
        self._sleep = sleep

    def send(self, payload: dict[str, Any]) -> list[Attempt]:
        """Try up to 1 + retries times, waiting backoff, 2*backoff, 4*backoff ... between tries."""
        body = to_json(payload, indent=False).encode()
        attempts: list[Attempt] = []
        for n in range(1, self.retries + 2):
            sent_at = _now()
            retry = True
            try:
                request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    attempts.append(Attempt(self.name, n, True, f"HTTP {response.status}", sent_at))
                    return attempts
            except urllib.error.HTTPError as exc:
                # A 4xx other than timeout/rate-limit will not get better by asking again.
                retry = exc.code >= 500 or exc.code in (408, 429)
                attempts.append(Attempt(self.name, n, False, f"HTTP {exc.code} {_short(exc.reason or '')}", sent_at))
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                reason = getattr(exc, "reason", exc)
                attempts.append(Attempt(self.name, n, False, _short(f"{type(exc).__name__}: {reason}"), sent_at))
            if not retry or n > self.retries:
                break
            self._sleep(self.backoff * 2 ** (n - 1))
        return attempts


class LogNotifier:
    """A line per event on stdout (or a stream), and optionally appended to a file as JSON lines."""

    def __init__(self, name: str, file: Path | None = None, format: str = "text", stream: TextIO | None = None) -> None:
        self.name = name
        self.file = file
        self.format = format
        self.stream = stream

    def _line(self, payload: dict[str, Any]) -> str:
        if self.format == "json":
            return to_json(payload, indent=False)
        when = payload.get("at") or payload.get("started_at")
        if isinstance(when, datetime):
            when = when.isoformat(timespec="seconds").replace("+00:00", "Z")
        link = f" -> {payload['investigation']}" if payload.get("investigation") else ""
        return (
            f"[{when}] {payload.get('event', '').upper()} {payload.get('severity', '')} "
            f"{payload.get('rule')} {payload.get('summary', '')}{link}"
        )

    def send(self, payload: dict[str, Any]) -> list[Attempt]:
        """Write the line; a file gets the JSON form whatever the format, so it can be parsed later."""
        sent_at = _now()
        try:
            if self.file is None:
                stream = self.stream or sys.stdout
                stream.write(self._line(payload) + "\n")
                stream.flush()
                where = "stdout" if stream is sys.stdout else getattr(stream, "name", "stream")
            else:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                with self.file.open("a", encoding="utf-8") as fh:
                    fh.write(to_json(payload, indent=False) + "\n")
                where = str(self.file)
        except OSError as exc:
            return [Attempt(self.name, 1, False, _short(f"{type(exc).__name__}: {exc}"), sent_at)]
        return [Attempt(self.name, 1, True, f"written to {where}", sent_at)]


def alert_env(payload: dict[str, Any]) -> dict[str, str]:
    """SEAMLINE_ALERT_* variables describing the alert, for command hooks."""
    env = {
        "SEAMLINE_ALERT_ID": str(payload.get("alert_id") or ""),
        "SEAMLINE_ALERT_EVENT": str(payload.get("event") or ""),
        "SEAMLINE_ALERT_STATE": str(payload.get("state") or ""),
        "SEAMLINE_ALERT_RULE": str(payload.get("rule") or ""),
        "SEAMLINE_ALERT_SEVERITY": str(payload.get("severity") or ""),
        "SEAMLINE_ALERT_METRIC": str(payload.get("metric") or ""),
        "SEAMLINE_ALERT_VALUE": "" if payload.get("value") is None else f"{payload['value']:.6g}",
        "SEAMLINE_ALERT_THRESHOLD": "" if payload.get("threshold") is None else f"{payload['threshold']:.6g}",
        "SEAMLINE_ALERT_SCOPE": json.dumps(payload.get("scope") or {}, sort_keys=True),
        "SEAMLINE_ALERT_SEGMENT": str(payload.get("segment") or ""),
        "SEAMLINE_ALERT_PLAYBOOK": str(payload.get("playbook") or ""),
        "SEAMLINE_ALERT_URL": str(payload.get("investigation") or ""),
        "SEAMLINE_ALERT_SUMMARY": str(payload.get("summary") or ""),
    }
    for key, value in (payload.get("scope") or {}).items():
        env["SEAMLINE_ALERT_SCOPE_" + "".join(c if c.isalnum() else "_" for c in key).upper()] = str(value)
    return env


class CommandNotifier:
    """Run a program with the alert JSON on stdin and SEAMLINE_ALERT_* variables (health checks, scaling)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        timeout: float = 30.0,
        env: dict[str, Any] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.timeout = timeout
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.cwd = cwd

    def send(self, payload: dict[str, Any]) -> list[Attempt]:
        """One run; exit status 0 is success, the last line of its output is kept as the detail."""
        sent_at = _now()
        env = {**os.environ, **self.env, **alert_env(payload)}
        try:
            done = subprocess.run(
                self.argv,
                input=to_json(payload, indent=False).encode(),
                capture_output=True,
                timeout=self.timeout,
                env=env,
                cwd=self.cwd,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [Attempt(self.name, 1, False, f"timed out after {self.timeout:g} s", sent_at)]
        except OSError as exc:
            return [Attempt(self.name, 1, False, _short(f"cannot run {self.argv[0]}: {exc}"), sent_at)]
        out = (done.stdout or done.stderr or b"").decode(errors="replace").strip().splitlines()
        last = out[-1] if out else ""
        return [Attempt(self.name, 1, done.returncode == 0, _short(f"exit {done.returncode} {last}".strip()), sent_at)]


def _webhook(cfg: NotifierConfig, home: Path, stream: TextIO | None) -> Notifier:
    o = cfg.options
    return WebhookNotifier(
        cfg.name, o["url"], o.get("timeout", 5.0), o.get("retries", 3), o.get("backoff", 1.0), o.get("headers")
    )


def _log(cfg: NotifierConfig, home: Path, stream: TextIO | None) -> Notifier:
    file = cfg.options.get("file")
    path = None if not file else (Path(file) if Path(file).is_absolute() else home / file)
    return LogNotifier(cfg.name, path, cfg.options.get("format", "text"), stream)


def _command(cfg: NotifierConfig, home: Path, stream: TextIO | None) -> Notifier:
    o = cfg.options
    cwd = Path(o["cwd"]) if o.get("cwd") else home
    return CommandNotifier(cfg.name, list(o["argv"]), o.get("timeout", 30.0), o.get("env"), cwd)


NOTIFIERS: dict[str, Callable[[NotifierConfig, Path, TextIO | None], Notifier]] = {
    "webhook": _webhook,
    "log": _log,
    "command": _command,
}


def build_notifiers(
    configs: dict[str, NotifierConfig], home: Path, stream: TextIO | None = None
) -> dict[str, Notifier]:
    """Notifier objects for a rule set's `notifiers` section (relative files and cwd are inside home)."""
    return {name: NOTIFIERS[cfg.type](cfg, home, stream) for name, cfg in configs.items()}
