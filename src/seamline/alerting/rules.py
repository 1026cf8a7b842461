"""Alert rules: the YAML rules file, parsed and validated into frozen dataclasses.

A rules file has three sections: `notifiers` (named destinations), `defaults` (fields every
rule inherits) and `rules`. Every error names the file, the line and the field, and all
errors are reported at once, so one edit-and-check round fixes a whole file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from seamline.alerting._yaml import Loader, Map, Problems
from seamline.dictionary import SEVERITIES

CONDITION_TYPES = ("threshold", "deviation", "burn_rate", "anomaly")
OPERATORS = (">", ">=", "<", "<=")
NOTIFIER_TYPES = ("webhook", "log", "command")
DIRECTIONS = ("up", "down", "both")
BUILTIN_NOTIFIER = "log"  # always defined: a line on stdout per transition
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}

_RULE_FIELDS = {
    "name",
    "description",
    "metric",
    "scope",
    "condition",
    "window",
    "min_events",
    "for",
    "cooldown",
    "resolve_after",
    "severity",
    "notifiers",
    "playbook",
    "enabled",
}
_DEFAULT_FIELDS = {"window", "min_events", "for", "cooldown", "resolve_after", "severity", "notifiers"}
_CONDITION_FIELDS = {
    "threshold": {"type", "op", "value"},
    "deviation": {"type", "spreads", "direction", "min_change"},
    "burn_rate": {"type", "objective", "long_window", "short_window", "factor"},
    "anomaly": {"type", "metrics", "min_score", "classification", "segments"},
}
_NOTIFIER_FIELDS = {
    "webhook": {"type", "url", "timeout", "retries", "backoff", "headers"},
    "log": {"type", "file", "format"},
    "command": {"type", "argv", "timeout", "env", "cwd"},
}
_BASE_DEFAULTS: dict[str, Any] = {
    "window": "5m",
    "min_events": 20,
    "for": "2m",
    "cooldown": "30m",
    "resolve_after": "5m",
    "severity": "warning",
    "notifiers": [BUILTIN_NOTIFIER],
}


class RulesError(ValueError):
    """The rules file cannot be used; the message lists every problem with its line and field."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s) in the alert rules\n" + "\n".join(problems))


@dataclass(frozen=True, slots=True)
class Condition:
    """When a rule's figures count as bad; fields apply per `type`."""

    type: str
    op: str = ">"
    value: float = 0.0
    spreads: float = 4.0  # deviation: how many robust spreads from the baseline
    direction: str = "up"
    min_change: float = 0.2  # deviation: also at least this relative change, so a tiny spread cannot alert
    objective: float = 0.99  # burn rate: share of good events promised (the SLO)
    long_window_s: float = 3600.0
    short_window_s: float = 300.0
    factor: float = 14.4  # burn rate both windows must reach (14.4 spends 2% of a 30-day budget in an hour)
    metrics: tuple[str, ...] = ()  # anomaly: only these metrics (empty = any)
    min_score: float = 0.0
    classification: str | None = None
    segments: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The fields that matter for this type, JSON-ready."""
        keep = {
            "threshold": ("op", "value"),
            "deviation": ("spreads", "direction", "min_change"),
            "burn_rate": ("objective", "long_window_s", "short_window_s", "factor"),
            "anomaly": ("metrics", "min_score", "classification", "segments"),
        }[self.type]
        return {"type": self.type, **{k: getattr(self, k) for k in keep}}


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule, with the defaults already applied."""

    name: str
    metric: str
    scope: dict[str, str]
    condition: Condition
    window_s: float = 300.0
    min_events: int = 20
    for_s: float = 120.0
    cooldown_s: float = 1800.0
    resolve_after_s: float = 300.0
    severity: str = "warning"
    notifiers: tuple[str, ...] = (BUILTIN_NOTIFIER,)
    playbook: str | None = None
    description: str = ""
    enabled: bool = True
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (durations in seconds)."""
        return {
            "name": self.name,
            "description": self.description,
            "metric": self.metric,
            "scope": self.scope,
            "condition": self.condition.as_dict(),
            "window_s": self.window_s,
            "min_events": self.min_events,
            "for_s": self.for_s,
            "cooldown_s": self.cooldown_s,
            "resolve_after_s": self.resolve_after_s,
            "severity": self.severity,
            "notifiers": list(self.notifiers),
            "playbook": self.playbook,
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """A named destination from the `notifiers` section."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything one rules file declares."""

    rules: tuple[Rule, ...]
    notifiers: dict[str, NotifierConfig]
    path: str

    def rule(self, name: str) -> Rule:
        """One rule by name; KeyError lists the names there are."""
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(f"no rule {name!r} in {self.path}; rules: {', '.join(r.name for r in self.rules) or 'none'}")


def scope_key(scope: dict[str, str]) -> str:
    """Canonical text of a scope (sorted JSON), used in fingerprints and the store."""
    return json.dumps(dict(sorted(scope.items())), separators=(",", ":"))


def fingerprint(rule: str, scope: dict[str, str]) -> str:
    """De-duplication key: one open alert per rule and scope."""
    inner = ",".join(f"{k}={v}" for k, v in sorted(scope.items())) or "*"
    return f"{rule}[{inner}]"


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `30s`, `5m`, `1h`, `2d` or `250ms`; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 5m, 1h, 2d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def default_rules_text() -> str:
    """The commented default rules shipped with the package (what `seamline alerts init` writes)."""
    return (resources.files("seamline.alerting") / "default_alerts.yaml").read_text(encoding="utf-8")


def load_rules(path: Path | None) -> RuleSet:
    """Rules from `path`, or the packaged defaults when `path` is None or does not exist."""
    if path is None or not path.exists():
        return parse_rules(default_rules_text(), "<packaged default_alerts.yaml>")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(path), [f"cannot read: {exc}"]) from exc
    return parse_rules(text, str(path))


def _known(module: str, attr: str) -> dict[str, Any] | None:
    """A sibling registry (detect's METRICS, playbooks' PLAYBOOKS), or None while it is absent."""
    try:
        registry = getattr(__import__(module, fromlist=[attr]), attr)
    except (ImportError, AttributeError):
        return None
    return dict(registry) or None


def _scope_keys() -> tuple[str, ...] | None:
    """The scope dimensions detection can measure, or None while detection is absent."""
    try:
        from seamline.detect.metrics import SCOPE_KEYS
    except ImportError:
        return None
    return tuple(SCOPE_KEYS)


def parse_rules(text: str, path: str = "<rules>") -> RuleSet:
    """Parse and validate rules-file text; raises RulesError listing every problem."""
    try:
        doc = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise RulesError(path, [f"  {where}not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from exc
    problems = Problems(path)
    if doc is None:
        doc = Map()
        doc.lines = {}
    if not isinstance(doc, Map):
        raise RulesError(path, ["  the file must be a mapping with `rules:` (and optionally notifiers, defaults)"])
    for key in doc:
        if key not in ("rules", "notifiers", "defaults"):
            problems.add(doc, key, str(key), "unknown section (expected rules, notifiers, defaults)")
    notifiers = _parse_notifiers(doc.get("notifiers"), doc, problems)
    defaults = dict(_BASE_DEFAULTS)
    raw_defaults = doc.get("defaults")
    if raw_defaults is not None:
        if not isinstance(raw_defaults, Map):
            problems.add(doc, "defaults", "defaults", "must be a mapping")
        else:
            for key, value in raw_defaults.items():
                if key not in _DEFAULT_FIELDS:
                    problems.add(
                        raw_defaults, key, f"defaults.{key}", f"not a default ({', '.join(sorted(_DEFAULT_FIELDS))})"
                    )
                else:
                    defaults[key] = value
    rules: list[Rule] = []
    raw_rules = doc.get("rules")
    if raw_rules is None:
        problems.add(doc, None, "rules", "missing: the file needs a `rules:` list")
    elif not isinstance(raw_rules, list):
        problems.add(doc, "rules", "rules", "must be a list of rules")
    else:
        metrics = _known("seamline.detect", "METRICS")
        playbooks = _known("seamline.playbooks", "PLAYBOOKS")
        seen: set[str] = set()
        for i, raw in enumerate(raw_rules):
            label = f"rules[{i}]"
            if not isinstance(raw, Map):
                problems.add(doc, "rules", label, "each rule must be a mapping")
                continue
            rule = _parse_rule(raw, label, defaults, notifiers, metrics, playbooks, problems)
            if rule is None:
                continue
            if rule.name in seen:
                problems.add(raw, "name", f"{label}.name", f"duplicate rule name {rule.name!r}")
            seen.add(rule.name)
            rules.append(rule)
    if problems.items:
        raise RulesError(path, problems.items)
    return RuleSet(tuple(rules), notifiers, path)


def _parse_notifiers(raw: Any, doc: Map, problems: Problems) -> dict[str, NotifierConfig]:
    out = {BUILTIN_NOTIFIER: NotifierConfig(BUILTIN_NOTIFIER, "log", {})}
    if raw is None:
        return out
    if not isinstance(raw, Map):
        problems.add(doc, "notifiers", "notifiers", "must be a mapping of name -> settings")
        return out
    for name, spec in raw.items():
        label = f"notifiers.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            problems.add(raw, name, label, "name must be letters, digits, '.', '_' or '-'")
            continue
        if not isinstance(spec, Map):
            problems.add(raw, name, label, "must be a mapping with a `type`")
            continue
        kind = spec.get("type")
        if kind not in NOTIFIER_TYPES:
            problems.add(spec, "type", f"{label}.type", f"must be one of {', '.join(NOTIFIER_TYPES)}, not {kind!r}")
            continue
        for key in spec:
            if key not in _NOTIFIER_FIELDS[kind]:
                problems.add(spec, key, f"{label}.{key}", f"unknown for a {kind} notifier")
        options = {k: v for k, v in spec.items() if k != "type"}
        for key in ("timeout", "backoff"):
            if key in options:
                try:
                    options[key] = parse_duration(options[key])
                except ValueError as exc:
                    problems.add(spec, key, f"{label}.{key}", str(exc))
        if kind == "webhook":
            url = options.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                problems.add(
                    spec, "url" if "url" in spec else None, f"{label}.url", "an http:// or https:// URL is required"
                )
            retries = options.get("retries", 3)
            if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
                problems.add(spec, "retries", f"{label}.retries", "must be a whole number from 0 to 10")
            headers = options.get("headers", {})
            if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
                problems.add(spec, "headers", f"{label}.headers", "must map header names to text")
        elif kind == "command":
            argv = options.get("argv")
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str | int | float) for a in argv):
                problems.add(
                    spec,
                    "argv" if "argv" in spec else None,
                    f"{label}.argv",
                    "a non-empty list of arguments is required",
                )
            env = options.get("env", {})
            if not isinstance(env, dict):
                problems.add(spec, "env", f"{label}.env", "must map variable names to values")
        elif kind == "log":
            if options.get("format", "text") not in ("text", "json"):
                problems.add(spec, "format", f"{label}.format", "must be text or json")
            if "file" in options and not isinstance(options["file"], str):
                problems.add(spec, "file", f"{label}.file", "must be a path")
        out[name] = NotifierConfig(name, kind, options)
    return out


def _parse_rule(
    raw: Map,
    label: str,
    defaults: dict[str, Any],
    notifiers: dict[str, NotifierConfig],
    metrics: dict[str, Any] | None,
    playbooks: dict[str, Any] | None,
    problems: Problems,
) -> Rule | None:
    before = len(problems.items)
    for key in raw:
        if key not in _RULE_FIELDS:
            problems.add(raw, key, f"{label}.{key}", f"unknown field (expected {', '.join(sorted(_RULE_FIELDS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add(
            raw, "name" if "name" in raw else None, f"{label}.name", "required: letters, digits, '.', '_' or '-'"
        )
        name = f"rule-{label}"
    else:
        label = f"{label} ({name})"
    raw_cond = raw.get("condition")
    condition = _parse_condition(raw_cond, raw, f"{label}.condition", problems)
    metric = raw.get("metric", "*" if condition is not None and condition.type == "anomaly" else None)
    if not isinstance(metric, str) or not metric:
        problems.add(raw, "metric" if "metric" in raw else None, f"{label}.metric", "required (a metric name)")
        metric = ""
    elif metric != "*" and metrics is not None and metric not in metrics:
        problems.add(
            raw, "metric", f"{label}.metric", f"unknown metric {metric!r}; metrics: {', '.join(sorted(metrics))}"
        )
    if condition is not None and condition.type != "anomaly" and metric == "*":
        problems.add(raw, "metric", f"{label}.metric", "only anomaly rules may watch every metric ('*')")
    kind = getattr((metrics or {}).get(metric), "kind", "rate" if metric.endswith("_rate") else "")
    if condition is not None and condition.type == "burn_rate" and metric and kind != "rate":
        problems.add(raw, "metric", f"{label}.metric", "a burn-rate condition needs a rate metric (error_rate, ...)")
    if condition is not None and metrics is not None:
        for m in condition.metrics:
            if m not in metrics:
                problems.add(raw_cond, "metrics", f"{label}.condition.metrics", f"unknown metric {m!r}")
    scope = raw.get("scope", {})
    if not isinstance(scope, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) for k, v in scope.items()
    ):
        problems.add(raw, "scope", f"{label}.scope", "must map dimensions to values, e.g. {flow: checkout}")
        scope = {}
    keys = _scope_keys()
    for key in scope:
        if keys is not None and key not in keys:
            problems.add(raw, "scope", f"{label}.scope", f"unknown dimension {key!r}; use one of: {', '.join(keys)}")
    merged = {**defaults, **{k: v for k, v in raw.items() if k in _DEFAULT_FIELDS}}
    if condition is not None and condition.type == "anomaly":
        # Detection already holds an episode open with hysteresis; waiting again only delays the page.
        merged["for"] = raw.get("for", 0)
    durations: dict[str, float] = {}
    for key in ("window", "for", "cooldown", "resolve_after"):
        try:
            durations[key] = parse_duration(merged[key])
        except ValueError as exc:
            problems.add(raw if key in raw else None, key, f"{label}.{key}", str(exc))
            durations[key] = 0.0
    if durations["window"] < 60 and (condition is None or condition.type != "anomaly"):
        problems.add(
            raw if "window" in raw else None,
            "window",
            f"{label}.window",
            "must be at least 1m (metrics are minute buckets)",
        )
    min_events = merged["min_events"]
    if not isinstance(min_events, int) or isinstance(min_events, bool) or min_events < 0:
        problems.add(
            raw if "min_events" in raw else None, "min_events", f"{label}.min_events", "must be a whole number >= 0"
        )
        min_events = 0
    severity = merged["severity"]
    if severity not in SEVERITIES:
        problems.add(
            raw if "severity" in raw else None,
            "severity",
            f"{label}.severity",
            f"must be one of {', '.join(SEVERITIES)}",
        )
    names = merged["notifiers"]
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        problems.add(
            raw if "notifiers" in raw else None, "notifiers", f"{label}.notifiers", "must be a list of notifier names"
        )
        names = []
    for n in names:
        if n not in notifiers:
            problems.add(
                raw if "notifiers" in raw else None,
                "notifiers",
                f"{label}.notifiers",
                f"no notifier {n!r}; defined: {', '.join(notifiers)}",
            )
    playbook = raw.get("playbook")
    if playbook is not None and (
        not isinstance(playbook, str) or (playbooks is not None and playbook not in playbooks)
    ):
        known = f"; playbooks: {', '.join(sorted(playbooks))}" if playbooks else ""
        problems.add(raw, "playbook", f"{label}.playbook", f"unknown playbook {playbook!r}{known}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.add(raw, "enabled", f"{label}.enabled", "must be true or false")
    if len(problems.items) > before or condition is None:
        return None
    return Rule(
        name=name,
        metric=metric,
        scope={str(k): str(v) for k, v in scope.items()},
        condition=condition,
        window_s=durations["window"],
        min_events=min_events,
        for_s=durations["for"],
        cooldown_s=durations["cooldown"],
        resolve_after_s=durations["resolve_after"],
        severity=severity,
        notifiers=tuple(names),
        playbook=playbook,
        description=str(raw.get("description", "")),
        enabled=enabled,
        line=raw.line,
    )


def _number(spec: Map, key: str, label: str, problems: Problems, default: float, low: float, high: float) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        bounds = "" if low == float("-inf") else f" from {low:g} to {high:g}"
        problems.add(spec, key, f"{label}.{key}", f"must be a number{bounds}")
        return default
    return float(value)


def _parse_condition(raw: Any, rule: Map, label: str, problems: Problems) -> Condition | None:
    if not isinstance(raw, Map):
        problems.add(
            rule,
            "condition" if "condition" in rule else None,
            label,
            f"required: a mapping with a type ({', '.join(CONDITION_TYPES)})",
        )
        return None
    kind = raw.get("type")
    if kind not in CONDITION_TYPES:
        problems.add(raw, "type", f"{label}.type", f"must be one of {', '.join(CONDITION_TYPES)}, not {kind!r}")
        return None
    before = len(problems.items)
    for key in raw:
        if key not in _CONDITION_FIELDS[kind]:
            problems.add(
                raw,
                key,
                f"{label}.{key}",
                f"unknown for a {kind} condition ({', '.join(sorted(_CONDITION_FIELDS[kind]))})",
            )
    inf = float("inf")
    if kind == "threshold":
        op = raw.get("op", ">")
        if op not in OPERATORS:
            problems.add(raw, "op", f"{label}.op", f"must be one of {', '.join(OPERATORS)}")
        if "value" not in raw:
            problems.add(raw, None, f"{label}.value", "required: the threshold")
        value = _number(raw, "value", label, problems, 0.0, -inf, inf)
        cond = Condition("threshold", op=str(op), value=value)
    elif kind == "deviation":
        direction = raw.get("direction", "up")
        if direction not in DIRECTIONS:
            problems.add(raw, "direction", f"{label}.direction", f"must be one of {', '.join(DIRECTIONS)}")
        cond = Condition(
            "deviation",
            spreads=_number(raw, "spreads", label, problems, 4.0, 0.5, 100.0),
            direction=str(direction),
            min_change=_number(raw, "min_change", label, problems, 0.2, 0.0, 100.0),
        )
    elif kind == "burn_rate":
        windows = {}
        for key, default in (("long_window", 3600.0), ("short_window", 300.0)):
            try:
                windows[key] = parse_duration(raw.get(key, default))
            except ValueError as exc:
                problems.add(raw, key, f"{label}.{key}", str(exc))
                windows[key] = default
        if windows["short_window"] >= windows["long_window"]:
            problems.add(raw, "short_window", f"{label}.short_window", "must be shorter than long_window")
        if min(windows.values()) < 60:
            problems.add(raw, "short_window", f"{label}.short_window", "must be at least 1m")
        objective = _number(raw, "objective", label, problems, 0.99, 0.5, 0.99999)
        if objective >= 1:
            problems.add(raw, "objective", f"{label}.objective", "must be below 1 (there must be a budget to burn)")
        cond = Condition(
            "burn_rate",
            objective=objective,
            long_window_s=windows["long_window"],
            short_window_s=windows["short_window"],
            factor=_number(raw, "factor", label, problems, 14.4, 0.1, 10000.0),
        )
    else:
        metrics = raw.get("metrics", [])
        segments = raw.get("segments", [])
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            problems.add(raw, "metrics", f"{label}.metrics", "must be a list of metric names")
            metrics = []
        if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
            problems.add(raw, "segments", f"{label}.segments", "must be a list of segments")
            segments = []
        classification = raw.get("classification")
        if classification not in (None, "systemic", "isolated"):
            problems.add(raw, "classification", f"{label}.classification", "must be systemic or isolated")
        cond = Condition(
            "anomaly",
            metrics=tuple(metrics),
            min_score=_number(raw, "min_score", label, problems, 0.0, 0.0, 1e6),
            classification=classification,
            segments=tuple(segments),
        )
    return cond if len(problems.items) == before else None
