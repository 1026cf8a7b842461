"""The scrubbing rules: built-in defaults, the YAML rules file, and the checks run on candidates.

A rule is a pattern and a replacement. Its pattern must be valid both for RE2 (pyarrow runs
it over whole columns in C++) and for Python's `re` (used for `check` rules and quarantine
text), so rules avoid look-arounds and back-references. Rules with a `check` only replace a
match the check accepts: card numbers must pass Luhn and carry a card network prefix, IBANs
mod-97, IPv6 candidates must parse — so an order id or a clock time is not eaten.

Text rules rewrite strings; key rules replace the whole value of a map entry (attributes)
whose key matches. Rules run in the order listed: credentials in URLs before emails (so
`user:pw@host` is not read as an address), JWTs before generic API keys, cards before phones.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REDACTED = "<redacted>"

# Query-string / key=value parameter names whose value is a secret: a name that ends with one
# of these words (access_token, client_secret, X-Amz-Signature, auth_code) matches.
SECRET_PARAMS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "pass",
    "token",
    "secret",
    "session",
    "sessionid",
    "sessid",
    "sid",
    "api_key",
    "apikey",
    "api-key",
    "key",
    "auth",
    "authorization",
    "code",
    "signature",
    "sig",
    "otp",
    "jwt",
    "credential",
    "credentials",
)

# Operational (privacy `none`) columns that are still free text a client or service writes, so
# personal data lands there by accident: a phone number in a page path, an email in a bot's
# user agent, a URL with a token in a span name. Scrubbed by default; `columns: skip` undoes it.
DEFAULT_EXTRA_COLUMNS: tuple[str, ...] = ("page", "name", "user_agent")

# Query parameters whose value identifies a person rather than being secret (the whole name
# must match: `user=`, `uid=`, `customer_id=`, not `user_agent=`).
PERSONAL_PARAMS: tuple[str, ...] = (
    "user",
    "username",
    "user_name",
    "userid",
    "user_id",
    "uid",
    "login",
    "customer",
    "customer_id",
    "customerid",
    "account_id",
    "accountid",
    "phone",
    "email",
    "mail",
)

# Attribute keys (the last word of the key) whose values are identifiers; pseudonymize hashes
# them like the matching column, so scrubbing leaves them for it. Maps a key word to a purpose.
IDENTIFIER_KEYS: dict[str, str] = {
    "user_id": "user_id",
    "userid": "user_id",
    "enduser.id": "user_id",
    "user.id": "user_id",
    "customer_id": "user_id",
    "customerid": "user_id",
    "account_id": "user_id",
    "accountid": "user_id",
    "anonymous_id": "anonymous_id",
    "anonymousid": "anonymous_id",
    "device_id": "device_id",
    "deviceid": "device_id",
    "client_ip": "ip",
    "client.ip": "ip",
    "client.address": "ip",
    "remote_addr": "ip",
    "remote_ip": "ip",
    "ip": "ip",
}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w).replace("\\_", "_") for w in sorted(set(words), key=len, reverse=True))


@dataclass(frozen=True, slots=True)
class Rule:
    """One scrubbing rule: what to find, what to put instead, where."""

    name: str
    pattern: str
    replace: str
    kind: str = "text"  # text: rewrite matches inside strings; key: replace a map value whose key matches
    check: str = ""  # "", luhn, mod97, ipv6, phone: a match is replaced only when the check accepts it
    columns: tuple[str, ...] = ()  # empty: every scrubbed column
    description: str = ""
    origin: str = "built-in"

    def applies_to(self, column: str) -> bool:
        """True when the rule runs on `column`."""
        return not self.columns or column in self.columns

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (what `seamline pii rules` prints)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "pattern": self.pattern,
            "replace": self.replace,
            "check": self.check,
            "columns": ",".join(self.columns) or "*",
            "origin": self.origin,
            "description": self.description,
        }


def _param_name(names: Iterable[str]) -> str:
    # A long word may end a longer name (access_token, client_secret); a short one (sid, pwd,
    # key, code) must be the whole name or follow a separator, or `anonymousId` would match sid.
    words = set(names)
    long = [w for w in words if len(w) >= 5]
    short = [w for w in words if len(w) < 5]
    parts = []
    if long:
        parts.append(rf"[\w.\-]*(?:{_alternation(long)})")
    if short:
        parts.append(rf"(?:[\w.\-]*[_.\-])?(?:{_alternation(short)})")
    return "(?:" + "|".join(parts) + ")"


def _param_rule(names: Iterable[str]) -> Rule:
    return Rule(
        "secret_param",
        rf"(?i)\b({_param_name(names)}\s*=\s*[\"']?)[^&\s;#\"',<)]+",
        r"\1" + REDACTED,
        description="value of a URL/query/form parameter (or name=value) whose name ends with a secret word",
    )


def _personal_param_rule(names: Iterable[str]) -> Rule:
    return Rule(
        "personal_param",
        rf"(?i)([?&;]|\b)((?:{_alternation(names)})=)[^&\s;#\"',<)]+",
        r"\1\2" + REDACTED,
        description="value of a URL/query parameter that names a person (user, uid, login, customer...)",
    )


def _json_secret_rule(names: Iterable[str]) -> Rule:
    return Rule(
        "secret_field",
        rf"(?i)(\"{_param_name(names)}\"\s*:\s*)\"[^\"<]*\"",
        r'\1"' + REDACTED + '"',
        description='value of a JSON field whose name ends with a secret word ("password": "...")',
    )


def default_rules(params: Iterable[str] = SECRET_PARAMS) -> list[Rule]:
    """The built-in rules, in the order they run."""
    octet = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    return [
        Rule(
            "private_key",
            r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?-----END[A-Z ]*PRIVATE KEY-----",
            "<private-key>",
            description="PEM private key block",
        ),
        Rule(
            "url_credentials",
            r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@:]+:[^\s/?#@]+@",
            r"\1" + REDACTED + "@",
            description="user:password@ in a URL",
        ),
        Rule(
            "auth_header",
            r"(?i)\b((?:proxy-)?authorization|set-cookie|cookie|x-api-key|x-auth-token|x-csrf-token|api-key)"
            r"([\"']?\s*[:=]\s*[\"']?)[^\"'\r\n<][^\"'\r\n]*",
            r"\1\2" + REDACTED,
            description="Authorization, Cookie and API-key header values",
        ),
        Rule(
            "bearer",
            r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*",
            r"\1 " + REDACTED,
            description="Bearer token in text",
        ),
        _param_rule(params),
        _personal_param_rule(PERSONAL_PARAMS),
        _json_secret_rule(params),
        Rule(
            "personal_field",
            r"(?i)(\"(?:[\w.\-]*[_.\-])?(?:e_?mail|phone|mobile|name|first_?name|last_?name|full_?name"
            r"|address|street|postal_?code|zip_?code|birthday|birth_?date|dob)\"\s*:\s*)\"[^\"<]*\"",
            r'\1"' + REDACTED + '"',
            columns=("raw",),
            description="personal JSON fields (name, email, phone, address) in a quarantined record's raw text",
        ),
        Rule(
            "secret_assignment",
            r"(?i)\b((?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token)\s*[:]\s*)[^\s,;&\"'<]+",
            r"\1" + REDACTED,
            description="password: ... in a log message",
        ),
        Rule(
            "jwt",
            r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
            "<jwt>",
            description="JSON Web Token (three base64url parts, header starting eyJ)",
        ),
        Rule(
            "api_key",
            r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"
            r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
            r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
            r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
            r"|\bglpat-[A-Za-z0-9_\-]{20,}"
            r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"
            r"|\bAIza[0-9A-Za-z_\-]{35}"
            r"|\bsk-[A-Za-z0-9_\-]{20,}"
            r"|\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"
            r"|\bnpm_[A-Za-z0-9]{36}",
            "<api-key>",
            description="API keys by their well-known prefixes (Stripe, AWS, GitHub, GitLab, Slack, Google, ...)",
        ),
        Rule(
            "email",
            r"(?i)[a-z0-9._%+\-]+(?:@|%40)[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}",
            "<email>",
            description="email address (also URL-encoded)",
        ),
        Rule(
            "card",
            r"\b(?:\d[ \-]?){12,18}\d\b",
            "<card>",
            check="luhn",
            description="payment card number: 13-19 digits, Luhn-valid, with a card network prefix",
        ),
        Rule(
            "iban",
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
            "<iban>",
            check="mod97",
            description="IBAN whose mod-97 check digits are right",
        ),
        Rule(
            "ipv4",
            rf"(^|[^\w./]|//){octet}\.{octet}\.{octet}\.{octet}\b",
            r"\1<ip>",
            description="IPv4 address in text (not a version like Chrome/131.0.0.0)",
        ),
        Rule(
            "ipv6",
            r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}",
            "<ip>",
            check="ipv6",
            description="IPv6 address in text (candidates must parse as an address)",
        ),
        Rule(
            "phone",
            r"(?:\+|%2B|\b00)[1-9]\d{0,2}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4}\b"
            r"|\(\d{3}\)\s?\d{3}[ .\-]\d{4}\b|\b\d{3}[.\-]\d{3}[.\-]\d{4}\b",
            "<phone>",
            check="phone",
            description="phone number: international (+ or 00) or North-American shape, 8-15 digits",
        ),
        Rule(
            "secret_key",
            r"(?i)(?:^|[._\-])(?:password|passwd|pwd|secret|token|api_?key|authorization|cookie|set-cookie"
            r"|session_?id|sid|credentials?|ssn|cvv|cvc|card_?number|iban)$",
            REDACTED,
            kind="key",
            description="attribute whose key names a secret (http.request.header.authorization, prop.password)",
        ),
        Rule(
            "personal_key",
            r"(?i)(?:^|[._\-])(?:e_?mail|phone|mobile|first_?name|last_?name|full_?name|given_?name|family_?name"
            r"|address|street|postal_?code|zip_?code|birthday|birth_?date|date_?of_?birth|dob)$",
            REDACTED,
            kind="key",
            description="attribute whose key names personal data (trait.email, prop.phone, address)",
        ),
    ]


# --- checks on candidate matches --------------------------------------------------------------

_CARD_PREFIXES = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6011|64[4-9]|65|62|35)")


def luhn_ok(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(m: re.Match[str]) -> bool:
    digits = re.sub(r"[ \-]", "", m.group(0))
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIXES.match(digits)) and luhn_ok(digits)


def iban_ok(text: str) -> bool:
    """True when an IBAN (spaces allowed) has valid mod-97 check digits."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _is_iban(m: re.Match[str]) -> bool:
    return iban_ok(m.group(0))


def _is_ipv6(m: re.Match[str]) -> bool:
    text, start, end = m.string, m.start(), m.end()
    # Boundaries by hand (RE2 has no look-arounds): `Cache::add` or `12:30:45` are not addresses.
    if start and (text[start - 1].isalnum() or text[start - 1] in "_:."):
        return False
    if end < len(text) and (text[end].isalnum() or text[end] in "_"):
        return False
    candidate = m.group(0)
    if candidate.count(":") < 2 or ("::" not in candidate and candidate.count(":") != 7):
        return False
    try:
        return ipaddress.ip_address(candidate).version == 6
    except ValueError:
        return False


def _is_phone(m: re.Match[str]) -> bool:
    text = m.group(0).replace("%2B", "+")
    digits = sum(ch.isdigit() for ch in text)
    return 8 <= digits <= 15


CHECKS: dict[str, Callable[[re.Match[str]], bool]] = {
    "luhn": _is_card,
    "mod97": _is_iban,
    "ipv6": _is_ipv6,
    "phone": _is_phone,
}


# --- the rule set -------------------------------------------------------------------------------


@dataclass
class RuleSet:
    """The active rules and which columns they run on, compiled once per process."""

    rules: list[Rule]
    extra_columns: tuple[str, ...] = DEFAULT_EXTRA_COLUMNS
    skip_columns: tuple[str, ...] = ()
    origin: str = "built-in"
    _compiled: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False)

    def python(self, rule: Rule) -> re.Pattern[str]:
        """The rule's pattern compiled for Python's `re`."""
        pattern = self._compiled.get(rule.name)
        if pattern is None:
            pattern = self._compiled[rule.name] = re.compile(rule.pattern)
        return pattern

    def text_rules(self, column: str) -> list[Rule]:
        """Text rules that run on `column`, in order."""
        return [r for r in self.rules if r.kind == "text" and r.applies_to(column)]

    def key_rules(self, column: str) -> list[Rule]:
        """Key rules that run on the map column `column`, in order."""
        return [r for r in self.rules if r.kind == "key" and r.applies_to(column)]

    def scrub_text(self, text: str, column: str = "message") -> str:
        """One string through the text rules, in Python (for small inputs: quarantine text, tests)."""
        for rule in self.text_rules(column):
            text = substitute(self.python(rule), rule, text)
        return text


def python_replacement(rule: Rule) -> str:
    """The rule's RE2 rewrite string in Python's `re` template syntax."""
    return re.sub(r"\\(\d)", r"\\g<\1>", rule.replace)


def substitute(pattern: re.Pattern[str], rule: Rule, text: str) -> str:
    """Apply one rule to a string in Python, honouring its check."""
    template = python_replacement(rule)
    if not rule.check:
        return pattern.sub(template, text)
    accept = CHECKS[rule.check]
    return pattern.sub(lambda m: m.expand(template) if accept(m) else m.group(0), text)


class RulesError(ValueError):
    """The rules file cannot be used; the message says which entry and why."""


_RULE_FIELDS = {"name", "pattern", "replace", "kind", "check", "columns", "description"}


def _rule_from(entry: Any, where: str) -> Rule:
    if not isinstance(entry, Mapping):
        raise RulesError(f"{where}: a rule must be a mapping with name, pattern and replace")
    unknown = set(entry).difference(_RULE_FIELDS)
    if unknown:
        raise RulesError(f"{where}: unknown fields {sorted(unknown)} (allowed: {sorted(_RULE_FIELDS)})")
    for required in ("name", "pattern"):
        if not isinstance(entry.get(required), str) or not entry[required]:
            raise RulesError(f"{where}: '{required}' must be a non-empty string")
    kind = str(entry.get("kind", "text"))
    check = str(entry.get("check", "") or "")
    if kind not in ("text", "key"):
        raise RulesError(f"{where}: kind must be text or key, not {kind!r}")
    if check and check not in CHECKS:
        raise RulesError(f"{where}: unknown check {check!r} (known: {', '.join(CHECKS)})")
    columns = entry.get("columns") or ()
    if isinstance(columns, str):
        columns = (columns,)
    try:
        re.compile(entry["pattern"])
    except re.error as exc:
        raise RulesError(f"{where}: pattern does not compile: {exc}") from exc
    return Rule(
        name=entry["name"],
        pattern=entry["pattern"],
        replace=str(entry.get("replace", REDACTED)),
        kind=kind,
        check=check,
        columns=tuple(str(c) for c in columns),
        description=str(entry.get("description", "")),
        origin="rules file",
    )


def load_rules(path: Path | None) -> RuleSet:
    """Built-in rules, changed by the YAML rules file at `path` when one is given.

    The file may hold `defaults: false` (start from no rules), `remove: [names]`,
    `secret_params: [names]` (more parameter names whose values are secrets),
    `rules: [{name, pattern, replace, kind, check, columns, description}]` (a rule with a
    built-in's name replaces it in place; others are added before the built-in `email` rule
    so they see text before generic rules rewrite it), and `columns: {add: [...], skip: [...]}`.
    """
    if path is None:
        return RuleSet(default_rules())
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise RulesError(f"cannot read PII rules file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RulesError(f"PII rules file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise RulesError(f"PII rules file {path} must hold a mapping (defaults, remove, rules, columns)")
    known = {"defaults", "remove", "secret_params", "rules", "columns"}
    if set(data).difference(known):
        raise RulesError(f"PII rules file {path}: unknown sections {sorted(set(data) - known)}")
    params = (*SECRET_PARAMS, *[str(p) for p in data.get("secret_params") or ()])
    rules = default_rules(params) if data.get("defaults", True) else []
    remove = {str(n) for n in data.get("remove") or ()}
    missing = remove.difference(r.name for r in rules)
    if missing:
        raise RulesError(f"PII rules file {path}: cannot remove unknown rules {sorted(missing)}")
    rules = [r for r in rules if r.name not in remove]
    names = [r.name for r in rules]
    for i, entry in enumerate(data.get("rules") or ()):
        rule = _rule_from(entry, f"{path} rules[{i}]")
        if rule.name in names:
            rules[names.index(rule.name)] = rule
        else:
            at = names.index("email") if "email" in names else len(rules)
            rules.insert(at, rule)
            names.insert(at, rule.name)
    columns = data.get("columns") or {}
    if not isinstance(columns, Mapping) or set(columns).difference({"add", "skip"}):
        raise RulesError(f"PII rules file {path}: columns takes add: [...] and skip: [...]")
    return RuleSet(
        rules,
        extra_columns=(*DEFAULT_EXTRA_COLUMNS, *(str(c) for c in columns.get("add") or ())),
        skip_columns=tuple(str(c) for c in columns.get("skip") or ()),
        origin=str(path),
    )
