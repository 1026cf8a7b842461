"""Alerting: rules from a YAML file, evaluated over detection's figures, with stored state and notifiers.

`load_rules` reads and validates the rules file, `AlertEngine` evaluates it at an instant or
replays a span, `list_alerts` reads the stored history, and `alert_periodically` is the
scheduler `seamline serve` runs.
"""

from seamline.alerting.engine import Alert, AlertEngine, CheckReport, list_alerts
from seamline.alerting.rules import Condition, Rule, RulesError, RuleSet, default_rules_text, load_rules, parse_rules

__all__ = [
    "Alert",
    "AlertEngine",
    "CheckReport",
    "Condition",
    "Rule",
    "RuleSet",
    "RulesError",
    "default_rules_text",
    "list_alerts",
    "load_rules",
    "parse_rules",
]
