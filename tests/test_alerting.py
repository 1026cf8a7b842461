"""Alerting: the rules file, notifiers against real endpoints and programs, and the engine's state
machine over a real store holding a small simulated, correlated shop."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from typer.testing import CliRunner

from _server import Server, free_port
from _views_data import build_home
from seamline.alerting import AlertEngine, RulesError, default_rules_text, list_alerts, load_rules, parse_rules
from seamline.alerting._links import choose_playbook, investigation_path
from seamline.alerting.notifiers import CommandNotifier, LogNotifier, WebhookNotifier
from seamline.alerting.rules import parse_duration
from seamline.app import App
from seamline.settings import Settings

# --- rules file ---------------------------------------------------------------------------------


def test_packaged_defaults_parse_and_name_known_metrics() -> None:
    """The shipped rules file is valid and its rules use metrics detection knows."""
    from seamline.detect import METRICS

    rules = parse_rules(default_rules_text(), "defaults")
    assert {r.condition.type for r in rules.rules} >= {"anomaly", "burn_rate", "threshold"}
    assert all(r.metric == "*" or r.metric in METRICS for r in rules.rules)
    anomaly = next(r for r in rules.rules if r.condition.type == "anomaly")
    assert anomaly.for_s == 0  # anomaly rules fire at once: detection already waited


def test_rules_errors_name_line_and_field() -> None:
    """Every problem is reported at once with its line number and field path."""
    text = """\
notifiers:
  hook:
    type: webhook
    url: ftp://nope
rules:
  - name: slow
    metric: e2e_p90_ms
    condition:
      type: threshold
      op: "=="
      value: 10
    severity: huge
    notifiers: [hook, missing]
  - name: burn
    metric: e2e_p90_ms
    condition: {type: burn_rate, objective: 0.99, long_window: 1h, short_window: 5m}
  - name: typo
    metric: no_such_metric
    condition: {type: deviation}
    for: soon
    scope: {flow: checkout, colour: blue}
  - name: swapped
    metric: error_rate
    condition: {type: burn_rate, long_window: 5m, short_window: 1h}
"""
    with pytest.raises(RulesError) as err:
        parse_rules(text, "alerts.yaml")
    message = str(err.value)
    assert "line 4: notifiers.hook.url" in message
    assert "line 10: rules[0] (slow).condition.op" in message
    assert "line 12: rules[0] (slow).severity" in message
    assert "no notifier 'missing'" in message
    assert "line 15: rules[1] (burn).metric: a burn-rate condition needs a rate metric" in message
    assert "line 24: rules[3] (swapped).condition.short_window: must be shorter than long_window" in message
    assert "line 18: rules[2] (typo).metric: unknown metric 'no_such_metric'" in message
    assert "line 20: rules[2] (typo).for: not a duration" in message
    assert "line 21: rules[2] (typo).scope: unknown dimension 'colour'" in message


def test_rules_file_that_is_not_yaml_points_at_the_line(tmp_path: Path) -> None:
    """Broken YAML is reported with its line, not a traceback."""
    path = tmp_path / "alerts.yaml"
    path.write_text("rules:\n  - name: a\n    scope: {flow: [\n")
    with pytest.raises(RulesError, match=r"line \d+: not valid YAML"):
        load_rules(path)


def test_durations() -> None:
    """Durations read as seconds from numbers and unit suffixes, and refuse nonsense."""
    assert parse_duration("90s") == 90
    assert parse_duration("5m") == 300
    assert parse_duration("1.5h") == 5400
    assert parse_duration(45) == 45
    with pytest.raises(ValueError):
        parse_duration("five minutes")
    with pytest.raises(ValueError):
        parse_duration(-1)


def test_playbook_choice_follows_segment_metric_and_release_cohort() -> None:
    """The playbook comes from the blamed segment, the kind of metric and an over-indexing release."""
    assert choose_playbook("e2e_p90_ms", "database") == "dependency-failure"
    assert choose_playbook("js_error_rate", "client") == "frontend-regression"
    assert choose_playbook("error_rate", "service") == "error-escalation"
    assert choose_playbook("server_p90_ms", "service") == "latency-spike"
    cohort = {"dimension": "release", "value": "web@1", "lift": 5.0, "share": 0.9}
    assert choose_playbook("error_rate", "client", [cohort]) == "release-regression"
    link = investigation_path(
        "latency-spike", {"flow": "checkout"}, datetime.fromisoformat("2026-11-02T01:00:00+00:00")
    )
    assert link == "/investigate/latency-spike?flow=checkout&at=2026-11-02T01%3A00%3A00Z"
    at = datetime.fromisoformat("2026-11-02T01:00:00+00:00")
    full = investigation_path("latency-spike", {}, at, at + timedelta(minutes=20), "abc")
    assert full == "/investigate/latency-spike?at=2026-11-02T01%3A00%3A00Z&until=2026-11-02T01%3A20%3A00Z&alert=abc"


# --- notifiers against real endpoints -----------------------------------------------------------
class _Hook(BaseHTTPRequestHandler):
    """Answers 503 to the first `fail_first` posts, then 200; keeps every body."""

    received: ClassVar[list[dict[str, Any]]] = []
    fail_first = 2
    status_after = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(json.loads(body))
        status = 503 if len(type(self).received) <= type(self).fail_first else type(self).status_after
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    """A real HTTP server on a free loopback port, with its own handler class per test."""
    handler = type("Hook", (_Hook,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_webhook_retries_with_exponential_backoff(hook: tuple[str, type[_Hook]]) -> None:
    """Two 503s then a 200: three attempts, waits doubling, the JSON payload delivered intact."""
    url, handler = hook
    waits: list[float] = []
    notifier = WebhookNotifier("hook", url, timeout=2, retries=3, backoff=0.01, sleep=waits.append)
    attempts = notifier.send({"event": "firing", "rule": "slow", "value": 1.5})
    assert [a.ok for a in attempts] == [False, False, True]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[0].detail.startswith("HTTP 503") and attempts[-1].detail == "HTTP 200"
    assert waits == [0.01, 0.02]
    assert handler.received[-1] == {"event": "firing", "rule": "slow", "value": 1.5}


def test_webhook_gives_up_after_retries_and_on_client_errors(hook: tuple[str, type[_Hook]]) -> None:
    """Retries stop at the limit; a 400 is not retried at all; a closed port is an error, not a crash."""
    url, handler = hook
    handler.fail_first = 10
    attempts = WebhookNotifier("hook", url, retries=1, backoff=0, sleep=lambda s: None).send({"x": 1})
    assert [a.ok for a in attempts] == [False, False]
    handler.fail_first, handler.status_after = 0, 400
    attempts = WebhookNotifier("hook", url, retries=3, backoff=0, sleep=lambda s: None).send({"x": 1})
    assert len(attempts) == 1 and attempts[0].detail.startswith("HTTP 400")
    dead = WebhookNotifier("dead", "http://127.0.0.1:9/", timeout=1, retries=0).send({"x": 1})
    assert len(dead) == 1 and not dead[0].ok


def test_command_hook_gets_json_on_stdin_and_alert_variables(tmp_path: Path) -> None:
    """The command reads the alert JSON on stdin and SEAMLINE_ALERT_* variables; its exit status decides."""
    out = tmp_path / "seen.json"
    script = (
        "import json, os, sys; payload = json.load(sys.stdin); "
        "env = {k: v for k, v in os.environ.items() if k.startswith('SEAMLINE_ALERT_')}; "
        f"open({str(out)!r}, 'w').write(json.dumps({{'payload': payload, 'env': env}})); print('scaled up'); "
        "sys.exit(0 if payload['severity'] == 'critical' else 3)"
    )
    notifier = CommandNotifier("scale", [sys.executable, "-c", script], timeout=20)
    payload = {"alert_id": "a1", "rule": "slow", "severity": "critical", "scope": {"flow": "checkout"}, "value": 2.5}
    [attempt] = notifier.send(payload)
    assert attempt.ok and attempt.detail == "exit 0 scaled up"
    seen = json.loads(out.read_text())
    assert seen["payload"]["rule"] == "slow"
    assert seen["env"]["SEAMLINE_ALERT_SEVERITY"] == "critical"
    assert seen["env"]["SEAMLINE_ALERT_SCOPE_FLOW"] == "checkout"
    assert seen["env"]["SEAMLINE_ALERT_VALUE"] == "2.5"
    [failed] = notifier.send({**payload, "severity": "warning"})
    assert not failed.ok and failed.detail.startswith("exit 3")
    [slow] = CommandNotifier("slow", [sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5).send(payload)
    assert not slow.ok and "timed out" in slow.detail


def test_log_notifier_appends_json_lines(tmp_path: Path) -> None:
    """The file form is one JSON object per event, appended."""
    path = tmp_path / "logs" / "alerts.log"
    notifier = LogNotifier("file", path)
    notifier.send({"event": "firing", "rule": "a"})
    notifier.send({"event": "resolved", "rule": "a"})
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["firing", "resolved"]


# --- the engine over a real store ---------------------------------------------------------------
@pytest.fixture(scope="module")
def shop(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the small simulated shop ingested, correlated and with facts (copied per test)."""
    home = tmp_path_factory.mktemp("alerts-shop")
    build_home(simulated, home)
    return home


@pytest.fixture
def shop_app(shop: Path, tmp_path: Path) -> Iterator[App]:
    """An App on a private copy of the shop's home."""
    home = tmp_path / "home"
    shutil.copytree(shop, home)
    application = App(Settings({"home": home}))
    yield application
    application.close()


def _span(app: App) -> tuple[datetime, datetime]:
    row = app.store.query("SELECT min(start_ts) AS lo, max(start_ts) AS hi FROM transaction_facts").to_pylist()[0]
    return row["lo"].replace(second=0, microsecond=0), row["hi"].replace(second=0, microsecond=0)


_TRAFFIC_RULE = """\
notifiers:
  file: {{type: log, file: notes.log}}
rules:
  - name: traffic
    metric: requests
    scope: {{}}
    condition: {{type: threshold, op: ">", value: {value}}}
    window: {window}
    min_events: {min_events}
    for: {for_}
    resolve_after: 2m
    cooldown: 10m
    notifiers: [file]
"""


def _traffic_rule(app: App, for_: str, window_min: int = 30) -> str:
    """The traffic rule with its limit at 70% of the last window's count: it clears while data still trickles."""
    _, hi = _span(app)
    volume = app.store.scalar(
        "SELECT count(*) FROM transaction_facts WHERE start_ts > ? AND start_ts <= ?",
        [hi - timedelta(minutes=window_min), hi],
    )
    return _TRAFFIC_RULE.format(for_=for_, window=f"{window_min}m", min_events=1, value=int(volume * 0.7))


def test_pending_then_firing_then_resolved(shop_app: App) -> None:
    """Traffic starting and fading walks one alert through pending, firing and resolved, notifying twice."""
    lo, hi = _span(shop_app)
    rules = parse_rules(_traffic_rule(shop_app, "3m"))
    limit = rules.rules[0].condition.value
    engine = AlertEngine(shop_app.store, rules, home=shop_app.settings.home_dir)
    first = engine.replay(lo - timedelta(minutes=5), lo + timedelta(minutes=40))
    events = [(t["event"], t["at"]) for t in first.transitions]
    assert [e for e, _ in events] == ["pending", "firing"]
    assert events[1][1] - events[0][1] == timedelta(minutes=3)
    started = shop_app.store.scalar(
        "SELECT count(*) FROM transaction_facts WHERE start_ts > ? AND start_ts <= ?",
        [events[0][1] - timedelta(minutes=30), events[0][1]],
    )
    assert started > limit  # it opened at the first minute the window held more than the limit
    [open_alert] = list_alerts(shop_app.store, "open")
    assert open_alert["state"] == "firing" and open_alert["fired_at"] == events[1][1]
    # After the data ends the 30-minute window drains: below the limit it clears, 2 minutes later it resolves.
    second = engine.replay(hi - timedelta(minutes=2), hi + timedelta(minutes=25))
    [resolved] = [t for t in second.transitions if t["event"] == "resolved"]
    assert 0 < resolved["value"] <= limit
    assert hi < resolved["at"] < hi + timedelta(minutes=25)
    [stored] = list_alerts(shop_app.store, "all")
    assert stored["state"] == "resolved" and stored["notifications"] == {"attempts": 2, "delivered": 2}
    lines = [json.loads(x) for x in (shop_app.settings.home_dir / "notes.log").read_text().splitlines()]
    assert [x["event"] for x in lines] == ["firing", "resolved"]
    states = shop_app.store.query("SELECT event, ok FROM alert_notifications ORDER BY sent_at").to_pylist()
    assert states == [{"event": "firing", "ok": True}, {"event": "resolved", "ok": True}]


def test_pending_alert_that_clears_is_cancelled_without_notifying(shop_app: App) -> None:
    """A condition that stops before `for` elapses cancels the pending alert and tells nobody."""
    _, hi = _span(shop_app)
    rules = parse_rules(_traffic_rule(shop_app, "30m"))
    report = AlertEngine(shop_app.store, rules, home=shop_app.settings.home_dir).replay(
        hi - timedelta(minutes=3), hi + timedelta(minutes=25)
    )
    assert [t["event"] for t in report.transitions] == ["pending", "cancelled"]
    assert report.notifications == []
    assert list_alerts(shop_app.store, "cancelled")[0]["fired_at"] is None


def test_dedup_and_idempotent_replay(shop_app: App) -> None:
    """One open alert per fingerprint however often the condition holds; replaying the same span adds nothing."""
    lo, _ = _span(shop_app)
    rules = parse_rules(_TRAFFIC_RULE.format(for_="0m", window="5m", min_events=1, value=0))
    home = shop_app.settings.home_dir
    first = AlertEngine(shop_app.store, rules, home=home).replay(lo, lo + timedelta(minutes=20))
    assert first.steps == 21 and [t["event"] for t in first.transitions] == ["firing"]
    assert len(list_alerts(shop_app.store, "all")) == 1
    again = AlertEngine(shop_app.store, rules, home=home).replay(lo, lo + timedelta(minutes=20))
    assert again.transitions == [] and len(list_alerts(shop_app.store, "all")) == 1


def _anomaly(ident: str, start: datetime, minutes: int, segment: str = "service") -> Any:
    from seamline.detect import Anomaly

    return Anomaly(
        anomaly_id=ident,
        metric="e2e_p90_ms",
        scope={"flow": "checkout"},
        start=start,
        end=start + timedelta(minutes=minutes),
        detected_at=start + timedelta(minutes=1),
        observed=3000.0,
        expected=900.0,
        score=12.0,
        volume=80,
        classification="systemic",
        segment=segment,
        service="payments",
    )


def test_cooldown_holds_off_a_second_episode_and_no_data_resolves_nothing(shop_app: App) -> None:
    """A second anomaly inside the cooldown waits for it to pass; after the data ends an open alert stays open."""
    from seamline.alerting.conditions import AnomalyFeed

    lo, hi = _span(shop_app)
    t0 = lo + timedelta(minutes=30)
    rules = parse_rules(
        "rules:\n  - name: anomalies\n    condition: {type: anomaly}\n    min_events: 0\n"
        "    resolve_after: 2m\n    cooldown: 10m\n    notifiers: []\n"
    )
    feed = AnomalyFeed([_anomaly("a1", t0, 5), _anomaly("a2", t0 + timedelta(minutes=12), 8, "database")])
    engine = AlertEngine(shop_app.store, rules, home=shop_app.settings.home_dir)
    report = engine.replay(t0, t0 + timedelta(minutes=40), feed=feed)
    events = [(t["event"], round((t["at"] - t0).total_seconds() / 60)) for t in report.transitions]
    # a1 is seen from minute 1 to 4 and resolves 2 min later; a2 (seen from 13) waits out the cooldown (to 16).
    assert events == [("firing", 1), ("resolved", 6), ("firing", 17), ("resolved", 21)]
    second = list_alerts(shop_app.store, "all")[0]
    assert second["anomaly_id"] == "a2" and second["segment"] == "database"
    assert second["playbook"] == "dependency-failure" and second["fingerprint"] == "anomalies[flow=checkout]"
    # An anomaly still open when the data stops: no data is not recovery, so the alert stays firing.
    late = AnomalyFeed([_anomaly("a3", hi - timedelta(minutes=3), 60)])
    engine.replay(hi - timedelta(minutes=3), hi + timedelta(minutes=30), feed=late)
    assert [a["anomaly_id"] for a in list_alerts(shop_app.store, "open")] == ["a3"]
    later = AlertEngine(shop_app.store, rules, home=shop_app.settings.home_dir)  # state comes back from the store
    assert later.replay(hi + timedelta(hours=2), hi + timedelta(hours=2), feed=AnomalyFeed([])).open


def test_anomaly_rule_raises_alerts_with_segment_and_investigation(shop_app: App) -> None:
    """Replaying the packaged rules over the simulated incidents raises anomaly alerts linked to a playbook."""
    lo, hi = _span(shop_app)
    engine = AlertEngine(shop_app.store, load_rules(None), home=shop_app.settings.home_dir, notify=False)
    report = engine.replay(lo, hi + timedelta(minutes=10))
    anomaly_alerts = [a for a in list_alerts(shop_app.store, "all") if a["condition"] == "anomaly"]
    assert anomaly_alerts, report.as_dict()
    for a in anomaly_alerts:
        assert a["anomaly_id"] and a["segment"] in ("client", "network", "gateway", "service", "database")
        assert a["investigation"].startswith(f"/investigate/{a['playbook']}?") and "at=" in a["investigation"]
        assert a["fired_at"] is not None


def test_cli_check_list_test_and_init(shop: Path, tmp_path: Path) -> None:
    """The CLI replays over the data, lists what fired as JSON, tests a rule and writes the defaults."""
    from seamline.cli import app as cli

    home = tmp_path / "home"
    shutil.copytree(shop, home)
    runner = CliRunner()
    rules = tmp_path / "rules.yaml"
    rules.write_text(_TRAFFIC_RULE.format(for_="0m", window="5m", min_events=1, value=0))
    done = runner.invoke(
        cli,
        [
            "alerts",
            "check",
            "--home",
            str(home),
            "--rules",
            str(rules),
            "--since",
            "first",
            "--until",
            "last",
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["steps"] > 30 and report["transitions"][0]["event"] == "firing"
    listed = json.loads(runner.invoke(cli, ["alerts", "list", "--home", str(home), "--json"]).stdout)
    assert [a["rule"] for a in listed] == ["traffic"]
    tested = runner.invoke(
        cli, ["alerts", "test", "traffic", "--home", str(home), "--rules", str(rules), "--at", "last", "--json"]
    )
    assert tested.exit_code == 0, tested.output
    figures = json.loads(tested.stdout)["evaluations"][0]
    assert figures["holds"] and figures["volume"] > 0
    notified = runner.invoke(
        cli, ["alerts", "test", "traffic", "--notify", "--at", "last", "--home", str(home), "--rules", str(rules)]
    )
    assert notified.exit_code == 0 and "notified file" in notified.stdout
    last = json.loads((home / "notes.log").read_text().splitlines()[-1])
    assert last["event"] == "test" and last["summary"].startswith("TEST")
    assert runner.invoke(cli, ["alerts", "test", "nope", "--home", str(home), "--rules", str(rules)]).exit_code == 2
    assert runner.invoke(cli, ["alerts", "init", "--home", str(home)]).exit_code == 0
    assert (home / "alerts.yaml").read_text() == default_rules_text()
    assert runner.invoke(cli, ["alerts", "init", "--home", str(home)]).exit_code == 2  # refuses to overwrite
    bad = runner.invoke(cli, ["alerts", "check", "--home", str(home), "--at", "yesterday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
    fresh = tmp_path / "fresh"
    shutil.copytree(shop, fresh)
    args = ["alerts", "check", "--home", str(fresh), "--rules", str(rules), "--since", "first", "--until", "last"]
    human = runner.invoke(cli, args)
    assert human.exit_code == 0, human.output
    [line] = [x for x in human.stdout.splitlines() if " firing " in x]  # one line per transition, not a table
    assert line.startswith(report["transitions"][0]["at"][:10]) and "traffic" in line


def test_serve_evaluates_rules_on_its_schedule(shop: Path, tmp_path: Path) -> None:
    """`seamline serve` runs the rules every alert_interval_seconds: a traffic-stopped rule fires and is listed."""
    home = tmp_path / "home"
    shutil.copytree(shop, home)
    (home / "alerts.yaml").write_text(
        "notifiers:\n  file: {type: log, file: served.log}\n"
        "rules:\n  - name: no-traffic\n    metric: requests\n    condition: {type: threshold, op: '<', value: 1}\n"
        "    min_events: 0\n    for: 0s\n    severity: critical\n    notifiers: [file]\n"
    )
    server = Server(home, free_port(), extra_env={"SEAMLINE_ALERT_INTERVAL_SECONDS": "1"})
    try:
        deadline = time.monotonic() + 60
        alerts: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not alerts:
            time.sleep(0.5)
            alerts = httpx.get(f"{server.url}/api/alerts?state=firing", timeout=10).json()["alerts"]
    finally:
        server.stop()
    assert [a["rule"] for a in alerts] == ["no-traffic"]
    assert alerts[0]["severity"] == "critical" and alerts[0]["value"] == 0
    assert json.loads((home / "served.log").read_text().splitlines()[0])["event"] == "firing"
