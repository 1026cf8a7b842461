"""Scrub personal data and secrets out of free-text columns before anything is stored.

The data dictionary decides where: every `personal` column of a table is scrubbed by the
text rules (and, for map columns such as `attributes`, by the key rules too); every `secret`
column is replaced wholesale. The rules (`_pii_rules`) come built in and can be changed by the
YAML file the `pii_rules_file` setting names.

Most values hold nothing to scrub, so one RE2 pass (pyarrow, in C++) over a column with the
union of its rules finds the few rows that may; only those rows go through the rules one by
one, and only the candidates of checked rules (Luhn, mod-97, IPv6, phone) reach Python.
Identifier-valued attributes (`enduser.id`, `client.address`...) are left for `pseudonymize`,
which hashes them like the matching column so they still link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from seamline.dictionary import TABLES, Privacy
from seamline.transforms._context import Context
from seamline.transforms._pii_rules import (
    IDENTIFIER_KEYS,
    REDACTED,
    Rule,
    RuleSet,
    load_rules,
    python_replacement,
    substitute,
)

_MEMO = "pii"
_DEDUPE_MIN_ROWS = 4096
_ID_KEY_PATTERN = r"(?i)(?:^|[.])(?:" + "|".join(re.escape(k) for k in IDENTIFIER_KEYS) + r")$"
_ID_KEY_RE = re.compile(_ID_KEY_PATTERN)

# Identifiers written out in a rejected record's text (JSON keys, key=value pairs); quarantine
# keeps their pseudonyms so a reingested record still links.
_RAW_ID = re.compile(
    r"(?i)([\"']?\b(user_?id|userid|anonymous_?id|anonymousid|previous_?id|previousid|device_?id|deviceid"
    r"|enduser\.id|user\.id|client_?ip|remote_?addr|ip)[\"']?\s*[:=]\s*[\"']?)([^\"',\s}&<\]]+)"
)
_RAW_ID_PURPOSE = {"anonymous": "anonymous_id", "previous": "user_id", "device": "device_id", "ip": "ip"}
_REMOTE_USER = re.compile(r"^(\S+ \S+ )([^\s\[\-][^\s\[]*)( \[)")


def identifier_purpose(key: str) -> str | None:
    """The pseudonym purpose of an attribute key that holds an identifier, else None."""
    m = _ID_KEY_RE.search(key)
    if m is None:
        return None
    word = m.group(0).lstrip(".").lower()
    return IDENTIFIER_KEYS.get(word) or IDENTIFIER_KEYS.get(word.replace("-", "_"))


def rules_path(ctx: Context) -> Path | None:
    """The configured rules file (relative paths: the working directory, else the home), or None."""
    text = str(ctx.settings.pii_rules_file or "")
    if not text:
        return None
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return ctx.settings.resolve_in_home(path)


def active_rules(ctx: Context) -> RuleSet:
    """The rule set for this context, loaded once (a bad rules file raises RulesError)."""
    memo = ctx.memo(_MEMO)
    rules = memo.get("rules")
    if rules is None:
        rules = memo["rules"] = load_rules(rules_path(ctx))
    return rules


def scrubbed_columns(table: str, rules: RuleSet) -> dict[str, Privacy]:
    """Columns of `table` that are scrubbed, with their privacy class (from the dictionary)."""
    out: dict[str, Privacy] = {}
    for col in TABLES[table]:
        wanted = col.privacy in (Privacy.PERSONAL, Privacy.SECRET) or col.name in rules.extra_columns
        if wanted and col.name not in rules.skip_columns:
            out[col.name] = col.privacy
    return out


def _union(rules: list[Rule]) -> str:
    return "|".join(f"(?:{r.pattern})" for r in rules)


def scrub_strings(values: pa.Array, rules: list[Rule], ruleset: RuleSet) -> pa.Array:
    """Apply text rules to a string array; rows with no candidate are not touched."""
    if not rules or values.null_count == len(values):
        return values
    if len(values) >= _DEDUPE_MIN_ROWS:
        # User agents, referrers, routes and attribute values repeat: scrub each distinct value once.
        encoded = pc.dictionary_encode(values)
        if len(encoded.dictionary) * 2 <= len(values):
            distinct = scrub_strings(encoded.dictionary, rules, ruleset)
            return values if distinct is encoded.dictionary else pc.take(distinct, encoded.indices)
    mask = pc.fill_null(pc.match_substring_regex(values, _union(rules)), False)
    hits = pc.sum(mask).as_py() or 0
    if hits == 0:
        return values
    sub = values.filter(mask)
    for rule in rules:
        if rule.check:
            sub = _python_rule(sub, rule, ruleset)
        else:
            sub = pc.replace_substring_regex(sub, rule.pattern, rule.replace)
    return pc.replace_with_mask(values, mask, sub.cast(values.type))


def _python_rule(values: pa.Array, rule: Rule, ruleset: RuleSet) -> pa.Array:
    # Only rows holding a candidate leave C++; the check decides per match.
    candidates = pc.fill_null(pc.match_substring_regex(values, rule.pattern), False)
    if not pc.any(candidates).as_py():
        return values
    pattern = ruleset.python(rule)
    picked = values.filter(candidates)
    done = pa.array([substitute(pattern, rule, v) for v in picked.to_pylist()], type=pa.string())
    return pc.replace_with_mask(values, candidates, done.cast(values.type))


def _scrub_map(column: pa.MapArray, name: str, ruleset: RuleSet) -> pa.MapArray:
    keys, items = column.keys, column.items
    if len(items) == 0:
        return column
    scrubbed = scrub_strings(items, ruleset.text_rules(name), ruleset)
    for rule in ruleset.key_rules(name):
        hit = pc.fill_null(pc.match_substring_regex(keys, rule.pattern), False)
        scrubbed = pc.if_else(hit, pa.scalar(rule.replace, items.type), scrubbed)
    is_id = pc.fill_null(pc.match_substring_regex(keys, _ID_KEY_PATTERN), False)
    if pc.any(is_id).as_py():
        scrubbed = pc.if_else(is_id, items, scrubbed)  # pseudonymize hashes these next
    if scrubbed is items:
        return column
    return pa.MapArray.from_arrays(column.offsets, keys, scrubbed, type=column.type, mask=column.is_null())


def scrub_column(column: pa.Array, name: str, privacy: Privacy, ruleset: RuleSet) -> pa.Array:
    """One column scrubbed according to its privacy class and type."""
    if column.null_count == len(column):
        return column
    if privacy is Privacy.SECRET:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            return pc.if_else(column.is_null(), pa.scalar(None, column.type), pa.scalar(REDACTED, column.type))
        return pa.nulls(len(column), column.type)
    if isinstance(column, pa.MapArray):
        return _scrub_map(column, name, ruleset)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return scrub_strings(column, ruleset.text_rules(name), ruleset)
    return column


def scrub_batch(batch: pa.RecordBatch, table: str, ruleset: RuleSet) -> pa.RecordBatch:
    """Every scrubbed column of a batch of `table` through the rules."""
    if batch.num_rows == 0:
        return batch
    columns = list(batch.columns)
    changed = False
    for name, privacy in scrubbed_columns(table, ruleset).items():
        i = batch.schema.get_field_index(name)
        if i < 0:
            continue
        new = scrub_column(batch.column(i), name, privacy, ruleset)
        if new is not columns[i]:
            columns[i], changed = new, True
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema) if changed else batch


def scrub_pii(batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:
    """Scrub the events batch's personal columns (runs before pseudonymize, after route templating)."""
    return scrub_batch(batch, "events", active_rules(ctx))


def _raw_identifiers(text: str, ctx: Context) -> str:
    from seamline.transforms.pseudonymize import ip_pseudonym, pseudonym

    def repl(m: re.Match[str]) -> str:
        value = m.group(3)
        if value.startswith("p_") or value in ("null", "None", "-"):
            return m.group(0)
        word = m.group(2).lower()
        purpose = next((p for k, p in _RAW_ID_PURPOSE.items() if word.startswith(k)), "user_id")
        if purpose == "ip":
            return m.group(1) + ip_pseudonym(ctx, value)
        return m.group(1) + pseudonym(ctx.pseudonym_key, value, purpose)

    text = _REMOTE_USER.sub(r"\g<1><user>\g<3>", text)
    return _RAW_ID.sub(repl, text)


def scrub_quarantine(batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:
    """A quarantine batch with its raw text and reason scrubbed, identifiers pseudonymized.

    Raw identifiers (user ids, IPs in JSON keys, the access log's remote user) are replaced by
    their pseudonyms unless `store_raw_identifiers` allows raw ones; the text rules run after.
    """
    if batch.num_rows == 0:
        return batch
    if not ctx.settings.store_raw_identifiers:
        i = batch.schema.get_field_index("raw")
        raw = batch.column(i)
        if raw.null_count < len(raw):
            mask = pc.fill_null(pc.match_substring_regex(raw, _RAW_ID.pattern + r"|^\S+ \S+ [^\s\[\-]"), False)
            if pc.any(mask).as_py():
                picked = raw.filter(mask).to_pylist()
                done = pa.array([_raw_identifiers(v, ctx) for v in picked], type=raw.type)
                columns = list(batch.columns)
                columns[i] = pc.replace_with_mask(raw, mask, done)
                batch = pa.RecordBatch.from_arrays(columns, schema=batch.schema)
    return scrub_batch(batch, "quarantine", active_rules(ctx))


def scrub_text(text: str, ctx: Context, column: str = "message") -> str:
    """What one text becomes in `column` (the Arrow path, exactly as ingest runs it)."""
    ruleset = active_rules(ctx)
    privacy = scrubbed_columns("events", ruleset).get(column)
    if privacy is None:
        return text  # a column ingest does not scrub
    out = scrub_column(pa.array([text], pa.string()), column, privacy, ruleset)
    return str(out[0].as_py())


__all__ = [
    "active_rules",
    "identifier_purpose",
    "python_replacement",
    "scrub_batch",
    "scrub_pii",
    "scrub_quarantine",
    "scrub_text",
    "scrubbed_columns",
]
