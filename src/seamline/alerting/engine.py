"""The alert engine: evaluate rules at an instant (or replay a span minute by minute), move each
alert through pending -> firing -> resolved, store the history and notify.

One alert per fingerprint (rule + scope) is open at a time; that is the de-duplication. A
condition that holds opens a `pending` alert, which fires once it has held for the rule's
`for`; a pending alert whose condition clears is `cancelled` (nobody was told). A firing
alert resolves after the condition has been clear for `resolve_after`. After an episode
closes, the same fingerprint stays quiet for `cooldown`. Evaluations at or before what an
alert has already seen are skipped, so replaying a span twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

from seamline.alerting._links import choose_playbook, investigation_path
from seamline.alerting.conditions import ANOMALY_LOOKBACK, AnomalyFeed, Evaluation, evaluate
from seamline.alerting.notifiers import Attempt, Notifier, build_notifiers
from seamline.alerting.rules import Rule, RuleSet, fingerprint, scope_key
from seamline.store.base import Statement, Store, StoreError

T = TypeVar("T")
OPEN_STATES = ("pending", "firing")
_COLUMNS = (
    "alert_id",
    "rule",
    "fingerprint",
    "severity",
    "state",
    "metric",
    "scope",
    "value",
    "threshold",
    "summary",
    "started_at",
    "last_seen_at",
    "resolved_at",
    "anomaly_id",
    "playbook",
    "condition",
    "fired_at",
    "segment",
    "details",
)


@dataclass(slots=True)
class Alert:
    """One episode of one rule on one scope, as stored in `alerts`."""

    alert_id: str
    rule: str
    fingerprint: str
    severity: str
    state: str
    metric: str
    scope: dict[str, str]
    value: float | None
    threshold: float | None
    summary: str
    started_at: datetime
    last_seen_at: datetime
    condition: str
    resolved_at: datetime | None = None
    anomaly_id: str | None = None
    playbook: str | None = None
    fired_at: datetime | None = None
    segment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def investigation(self) -> str | None:
        """UI path of the investigation report for this alert."""
        at = _when(self.details.get("anomaly_start")) or self.started_at
        # Once resolved, the incident window ends where the condition last held (known then, not before).
        until = self.last_seen_at if self.resolved_at else None
        return investigation_path(self.playbook, self.scope, at, until, self.alert_id)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form with the investigation link."""
        out = {c: getattr(self, c) for c in _COLUMNS}
        out["investigation"] = self.investigation
        return out

    def payload(self, event: str, at: datetime) -> dict[str, Any]:
        """What notifiers receive."""
        return {"event": event, "at": at, **self.as_dict()}

    def row(self) -> list[Any]:
        """Values in `_COLUMNS` order for the store (scope and details as JSON text)."""
        values = [getattr(self, c) for c in _COLUMNS]
        values[_COLUMNS.index("scope")] = scope_key(self.scope)
        values[_COLUMNS.index("details")] = json.dumps(self.details, default=str, sort_keys=True)
        return values

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        """Back from a stored row."""
        data = {c: row[c] for c in _COLUMNS}
        data["scope"] = json.loads(row["scope"] or "{}")
        data["details"] = json.loads(row["details"] or "{}")
        return cls(**data)


@dataclass(slots=True)
class CheckReport:
    """What one check or replay did."""

    since: datetime
    until: datetime
    steps: int = 0
    evaluations: int = 0
    transitions: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    open: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "since": self.since,
            "until": self.until,
            "steps": self.steps,
            "evaluations": self.evaluations,
            "transitions": self.transitions,
            "notifications": self.notifications,
            "open": self.open,
        }


def alert_id(fp: str, started_at: datetime) -> str:
    """Stable id of an episode: the same replay gives the same ids."""
    return hashlib.blake2b(f"{fp}|{started_at.isoformat()}".encode(), digest_size=8).hexdigest()


def _when(value: Any) -> datetime | None:
    """A time from the details JSON (text after a round trip through the store)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class AlertEngine:
    """Evaluates a rule set against a store; `write` runs store jobs (the writer thread under serve)."""

    def __init__(
        self,
        store: Store,
        ruleset: RuleSet,
        *,
        home: Path,
        notify: bool = True,
        stream: TextIO | None = None,
        write: Callable[[Callable[[Store], Any]], Any] | None = None,
        notifiers: dict[str, Notifier] | None = None,
    ) -> None:
        self.store = store
        self.ruleset = ruleset
        self.notify = notify
        self.notifiers = notifiers if notifiers is not None else build_notifiers(ruleset.notifiers, home, stream)
        self._write = write or (lambda job: job(store))
        self._rules = {r.name: r for r in ruleset.rules if r.enabled}
        self._open: dict[str, Alert] = {}
        self._closed_at: dict[str, datetime] = {}
        self._load()

    def _load(self) -> None:
        have = {name for name, _ in self.store.table_columns("alerts")}  # type: ignore[attr-defined]
        missing = [c for c in _COLUMNS if c not in have]
        if missing:
            # A store made by an unreleased draft of schema 5: rebuilding the detection tables fixes it.
            raise StoreError(
                f"the alerts table lacks {', '.join(missing)} (made by an earlier draft of schema 5): start from a "
                "fresh home (`make clean` for the demo), or `seamline schema downgrade --to 4 --force` then "
                "`seamline schema upgrade` (this also drops every table of schema 5 and later)"
            )
        rows = self.store.query(
            "SELECT * FROM alerts WHERE state IN ('pending', 'firing') ORDER BY started_at"
        ).to_pylist()
        for row in rows:
            alert = Alert.from_row(row)
            self._open[alert.fingerprint] = alert
        for row in self.store.query(
            "SELECT fingerprint, max(resolved_at) AS closed FROM alerts WHERE resolved_at IS NOT NULL GROUP BY 1"
        ).to_pylist():
            self._closed_at[row["fingerprint"]] = _utc(row["closed"])

    # --- public -------------------------------------------------------------------------------
    def check(self, at: datetime) -> CheckReport:
        """Evaluate every enabled rule once at `at`."""
        at = _utc(at)
        report = CheckReport(at, at)
        self._step(at, None, report)
        report.open = [a.as_dict() for a in self._open.values()]
        return report

    def replay(
        self,
        since: datetime,
        until: datetime,
        step_s: float = 60.0,
        progress: Callable[[int, int], None] | None = None,
        feed: AnomalyFeed | None = None,
    ) -> CheckReport:
        """Evaluate every step from `since` to `until` as if the engine had run then (anomalies stream in).

        Anomalies are detected once over the span unless `feed` supplies them."""
        since, until = _utc(since), _utc(until)
        if until < since:
            raise ValueError("--until is before --since")
        if step_s < 1:
            raise ValueError("the step must be at least one second")
        report = CheckReport(since, until)
        if feed is None and any(r.condition.type == "anomaly" for r in self._rules.values()):
            feed = AnomalyFeed.over(self.store, since - ANOMALY_LOOKBACK, until)
        total = int((until - since).total_seconds() // step_s) + 1
        for i in range(total):
            self._step(since + timedelta(seconds=i * step_s), feed, report)
            if progress is not None:
                progress(i + 1, total)
        report.open = [a.as_dict() for a in self._open.values()]
        return report

    def test(self, name: str, at: datetime, notify: bool = False) -> dict[str, Any]:
        """Evaluate one rule (enabled or not) without changing alert state; optionally send a test notification."""
        rule = self.ruleset.rule(name)
        at = _utc(at)
        evaluations = evaluate(rule, self.store, at)
        out: dict[str, Any] = {"rule": rule.as_dict(), "at": at, "evaluations": [e.as_dict() for e in evaluations]}
        if notify:
            ev = evaluations[0] if evaluations else None
            alert = self._new_alert(ev, at) if ev is not None else self._placeholder(rule, at)
            alert = replace(
                alert, alert_id=f"test-{alert.alert_id}", state="test", summary="TEST (not an alert): " + alert.summary
            )
            attempts = self._send(rule, alert, "test", at)
            out["notifications"] = [a.as_dict() for a in attempts]
        return out

    # --- one step -----------------------------------------------------------------------------
    def _step(self, at: datetime, feed: AnomalyFeed | None, report: CheckReport) -> None:
        report.steps += 1
        holding: dict[str, Evaluation] = {}
        clear: dict[str, Evaluation] = {}
        for rule in self._rules.values():
            for ev in evaluate(rule, self.store, at, feed):
                report.evaluations += 1
                (holding if ev.holds else clear)[ev.fingerprint] = ev
        changed: list[Alert] = []
        events: list[tuple[Alert, str]] = []
        for fp, ev in holding.items():
            current = self._open.get(fp)
            if current is None:
                rule = ev.rule
                closed = self._closed_at.get(fp)
                if closed is not None and at <= closed + timedelta(seconds=rule.cooldown_s):
                    continue  # cooling down, or a replay over time an earlier run already covered
                current = self._new_alert(ev, at)
                self._open[fp] = current
                changed.append(current)
                events.append((current, current.state))
                continue
            if at <= current.last_seen_at:
                continue
            self._refresh(current, ev, at)
            changed.append(current)
            if current.state == "pending" and (at - current.started_at).total_seconds() >= ev.rule.for_s:
                current.state, current.fired_at = "firing", at
                events.append((current, "firing"))
        for fp, current in list(self._open.items()):
            if fp in holding or at <= current.last_seen_at or current.rule not in self._rules:
                continue
            rule = self._rules[current.rule]
            if not self._has_data(current, clear.get(fp), at):
                continue  # no data is not good news: a stopped pipeline must not resolve what it stopped seeing
            if fp in clear:  # the figures of this evaluation, though the alert last held earlier
                ev = clear[fp]
                current.value, current.threshold, current.summary = ev.value, ev.threshold, ev.summary
                current.details = {**ev.details, "volume": ev.volume}
                changed.append(current)
            clear_for = (at - current.last_seen_at).total_seconds()
            if current.state == "pending":
                current.state, current.resolved_at = "cancelled", at
            elif clear_for >= rule.resolve_after_s:
                current.state, current.resolved_at = "resolved", at
            else:
                continue
            changed.append(current)
            events.append((current, current.state))
            del self._open[fp]
            self._closed_at[fp] = at
        if not changed:
            return
        sql = f"INSERT OR REPLACE INTO alerts ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        ops = [Statement(sql, tuple(a.row())) for a in {id(a): a for a in changed}.values()]
        self._write(lambda store: store.apply(ops))
        for alert, event in events:
            report.transitions.append({"at": at, "event": event, **alert.as_dict()})
            if event in ("firing", "resolved") and self.notify:
                for attempt in self._send(self._rules[alert.rule], alert, event, at):
                    report.notifications.append({"alert_id": alert.alert_id, "event": event, **attempt.as_dict()})

    def _has_data(self, alert: Alert, ev: Evaluation | None, at: datetime) -> bool:
        """Whether the alert's scope had any events lately, so a clear condition means better, not silent."""
        if ev is not None:
            return ev.volume > 0
        from seamline.detect import DetectError, measure

        window = timedelta(seconds=self._rules[alert.rule].window_s)
        try:
            return int(measure(self.store, alert.metric, alert.scope, at - window, at).volume or 0) > 0
        except DetectError:
            return True  # a scope detection cannot measure on its own: fall back to the condition alone

    def _new_alert(self, ev: Evaluation, at: datetime) -> Alert:
        rule = ev.rule
        firing = rule.for_s <= 0
        cohorts = getattr(ev.anomaly, "cohorts", None)
        alert = Alert(
            alert_id=alert_id(ev.fingerprint, at),
            rule=rule.name,
            fingerprint=ev.fingerprint,
            severity=rule.severity,
            state="firing" if firing else "pending",
            metric=ev.metric or rule.metric,
            scope=dict(ev.scope),
            value=ev.value,
            threshold=ev.threshold,
            summary=ev.summary,
            started_at=at,
            last_seen_at=at,
            condition=rule.condition.type,
            fired_at=at if firing else None,
        )
        self._refresh(alert, ev, at)
        alert.playbook = rule.playbook or choose_playbook(alert.metric, alert.segment, cohorts)
        return alert

    def _placeholder(self, rule: Rule, at: datetime) -> Alert:
        return Alert(
            alert_id=alert_id(fingerprint(rule.name, rule.scope), at),
            rule=rule.name,
            fingerprint=fingerprint(rule.name, rule.scope),
            severity=rule.severity,
            state="test",
            metric=rule.metric,
            scope=dict(rule.scope),
            value=None,
            threshold=None,
            summary=f"rule {rule.name} found nothing to report",
            started_at=at,
            last_seen_at=at,
            condition=rule.condition.type,
            playbook=rule.playbook,
        )

    @staticmethod
    def _refresh(alert: Alert, ev: Evaluation, at: datetime) -> None:
        alert.last_seen_at = at
        alert.value, alert.threshold, alert.summary = ev.value, ev.threshold, ev.summary
        alert.metric = ev.metric or alert.metric
        alert.details = {**ev.details, "volume": ev.volume}
        if ev.anomaly is not None:
            alert.anomaly_id = ev.anomaly.anomaly_id
            alert.segment = ev.segment or alert.segment

    def _send(self, rule: Rule, alert: Alert, event: str, at: datetime) -> list[Attempt]:
        payload = alert.payload(event, at)
        attempts: list[Attempt] = []
        for name in rule.notifiers:
            notifier = self.notifiers.get(name)
            if notifier is not None:
                attempts.extend(notifier.send(payload))
        if attempts:
            rows = [
                Statement(
                    "INSERT INTO alert_notifications (alert_id, notifier, sent_at, attempt, ok, detail, event) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (alert.alert_id, a.notifier, a.sent_at, a.attempt, a.ok, a.detail, event),
                )
                for a in attempts
            ]
            self._write(lambda store: store.apply(rows))
        return attempts


def list_alerts(store: Store, state: str = "open", limit: int = 200) -> list[dict[str, Any]]:
    """Stored alerts, newest first: `open` (pending and firing), one state, or `all`."""
    states = {"open": OPEN_STATES, "all": None}.get(state, (state,))
    where = "" if states is None else f"WHERE state IN ({', '.join('?' * len(states))})"
    rows = store.query(
        f"SELECT * FROM alerts {where} ORDER BY coalesce(fired_at, started_at) DESC, alert_id LIMIT ?",
        [*(states or ()), limit],
    ).to_pylist()
    out = []
    for row in rows:
        alert = Alert.from_row(row)
        data = alert.as_dict()
        data["notifications"] = None
        out.append(data)
    if out:
        counts = store.query(
            "SELECT alert_id, count(*) AS attempts, count(*) FILTER (WHERE ok) AS delivered "
            f"FROM alert_notifications WHERE alert_id IN ({', '.join('?' * len(out))}) GROUP BY 1",
            [a["alert_id"] for a in out],
        ).to_pylist()
        by_id = {c["alert_id"]: {"attempts": c["attempts"], "delivered": c["delivered"]} for c in counts}
        for a in out:
            a["notifications"] = by_id.get(a["alert_id"], {"attempts": 0, "delivered": 0})
    return out
