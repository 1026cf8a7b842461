"""The alert scheduler inside `seamline serve`: evaluate the rules every `alert_interval_seconds`.

Reads run on their own cursors in a worker thread; every write (alert state, notification
attempts, a facts refresh when correlation moved on) is a job on the single writer thread,
the same way `correlate_periodically` works. The rules file is re-read when it changes; a
broken edit is logged and the last good rules keep running.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seamline.alerting.engine import AlertEngine, CheckReport
from seamline.alerting.rules import RulesError, RuleSet, load_rules
from seamline.app import App

log = logging.getLogger("seamline.alerts")


class AlertScheduler:
    """Holds the current rules and one engine (its open-alert state) across rounds."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.path: Path = app.settings.resolve_in_home(app.settings.alert_rules_file)
        self._stamp: float | None = -1.0
        self._engine: AlertEngine | None = None
        self.last: CheckReport | None = None
        self.error: str | None = None

    def _run_job(self, job: Any) -> Any:
        return self.app.writer.call(job).result()

    def _rules_changed(self) -> bool:
        stamp = self.path.stat().st_mtime if self.path.exists() else None
        changed = stamp != self._stamp
        self._stamp = stamp
        return changed

    def _engine_now(self) -> AlertEngine:
        if self._engine is None or self._rules_changed():
            try:
                rules: RuleSet = load_rules(self.path)
            except RulesError as exc:
                if self._engine is None:
                    raise
                log.warning("alert rules not reloaded, keeping the previous ones: %s", exc)
                self.error = str(exc)
                return self._engine
            # A new engine re-reads open alerts from the store, so state survives a reload.
            self._engine = AlertEngine(self.app.store, rules, home=self.app.settings.home_dir, write=self._run_job)
            self.error = None
        return self._engine

    def run_once(self, at: datetime | None = None) -> CheckReport:
        """One round: bring the facts up to date if correlation moved on, then evaluate at `at` (now)."""
        from seamline.views.facts import facts_stale, refresh_facts

        if facts_stale(self.app.store):
            self._run_job(lambda store: refresh_facts(store))
        engine = self._engine_now()
        self.last = engine.check(at or datetime.now(UTC))
        return self.last


async def alert_periodically(app: App) -> None:
    """Evaluate the alert rules every `alert_interval_seconds` (0 = never) while serving."""
    interval = app.settings.alert_interval_seconds
    if interval <= 0:
        return
    scheduler = AlertScheduler(app)
    while True:
        await asyncio.sleep(interval)
        try:
            report = await asyncio.to_thread(scheduler.run_once)
        except Exception as exc:  # keep serving; the next round retries
            scheduler.error = str(exc)
            log.warning("alert evaluation failed: %s", exc)
            continue
        for t in report.transitions:
            log.info("alert %s %s %s", t["event"], t["rule"], t["summary"])
