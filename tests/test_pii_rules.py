"""Scrubbing rules one by one, the rules file, the keyring, and the `pii` / `keys` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from seamline.dictionary import Privacy
from seamline.keys import ENV_VAR, KeyringError, load_keyring
from seamline.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, rows_to_batch
from seamline.settings import Settings
from seamline.transforms import Context
from seamline.transforms._pii_rules import RulesError, iban_ok, load_rules, luhn_ok
from seamline.transforms.pseudonymize import pseudonym, pseudonymize, truncate_ip
from seamline.transforms.scrub_pii import scrub_column, scrub_quarantine, scrub_text


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A context with a fixed key and the built-in rules."""
    return Context(settings=Settings({"home": tmp_path}, environ={}), pseudonym_key=b"k" * 32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+x@example.co.uk now", "mail <email> now"),
        ("/reset?to=jane%40example.com", "/reset?to=<email>"),
        ("paid 4111 1111 1111 1111 ok", "paid <card> ok"),
        ("paid 4111-1111-1111-1111", "paid <card>"),
        ("order 1234567812345678 shipped", "order 1234567812345678 shipped"),  # Luhn-valid, no card prefix
        ("order 4111111111111112 shipped", "order 4111111111111112 shipped"),  # card prefix, Luhn fails
        ("iban DE89 3704 0044 0532 0130 00.", "iban <iban>."),
        ("ref DE89370400440532013001", "ref DE89370400440532013001"),  # mod-97 fails
        ("from 192.168.1.20:443", "from <ip>:443"),
        ("Chrome/131.0.0.0 Safari", "Chrome/131.0.0.0 Safari"),
        ("peer 2001:db8::1 at 12:30:45 in Cache::add", "peer <ip> at 12:30:45 in Cache::add"),
        ("mac 00:1a:2b:3c:4d:5e", "mac 00:1a:2b:3c:4d:5e"),
        ("call +44 20 7946 0958 or (555) 123-4567", "call <phone> or <phone>"),
        ("took +12 ms, 2026-11-29", "took +12 ms, 2026-11-29"),
        ("tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-x", "tok <jwt>"),
        ("keys sk_live_abcdefghij12345 AKIAIOSFODNN7EXAMPLE ghp_" + "a" * 36, "keys <api-key> <api-key> <api-key>"),
        ("/cb?code=9f2&state=xyz&password=hunter2", "/cb?code=<redacted>&state=xyz&password=<redacted>"),
        (
            "/a?access_token=x1&anonymousId=7&monkey=1&Sid=3",
            "/a?access_token=<redacted>&anonymousId=7&monkey=1&Sid=<redacted>",
        ),
        ("/u?user=jane&user_agent=x&uid=9", "/u?user=<redacted>&user_agent=x&uid=<redacted>"),
        ("Authorization: Basic amFuZTpwdw==", "Authorization: <redacted>"),
        ("Cookie: sid=abc; theme=dark", "Cookie: <redacted>"),
        ("sent Bearer abcdefghijklmnop123", "sent Bearer <redacted>"),
        (
            '{"password": "hunter2", "pwd":"x", "name": "shop"}',
            '{"password": "<redacted>", "pwd":"<redacted>", "name": "shop"}',
        ),
        ("db password: hunter2, retry", "db password: <redacted>, retry"),
        ("postgres://app:s3cret@db:5432/x", "postgres://<redacted>@db:5432/x"),
        ("nothing to see here", "nothing to see here"),
    ],
)
def test_each_rule_replaces_what_it_should_and_nothing_else(ctx: Context, text: str, expected: str) -> None:
    """Each default rule rewrites its kind of value readably and leaves look-alikes (order ids, times) alone."""
    assert scrub_text(text, ctx) == expected


def test_checks() -> None:
    """Luhn and mod-97 accept valid numbers and reject a one-digit change."""
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")


def test_attribute_maps_scrub_values_redact_named_keys_and_keep_ids_for_pseudonyms(ctx: Context) -> None:
    """In a map, values are scrubbed, secret/personal keys redacted, identifier keys hashed like the columns."""
    col = pa.array(
        [[("prop.email", "j@x.io"), ("note", "mail j@x.io"), ("plan", "pro"), ("enduser.id", "u-1")], None, []],
        type=pa.map_(pa.string(), pa.string()),
    )
    out = scrub_column(col, "attributes", Privacy.PERSONAL, load_rules(None))
    assert out.to_pylist() == [
        [("prop.email", "<redacted>"), ("note", "mail <email>"), ("plan", "pro"), ("enduser.id", "u-1")],
        None,
        [],
    ]
    full = pa.RecordBatch.from_pylist([{"attributes": out.to_pylist()[0]}], schema=EVENTS_SCHEMA)
    hashed = pseudonymize(full, ctx).column(full.schema.get_field_index("attributes")).to_pylist()[0]
    assert dict(hashed)["enduser.id"] == pseudonym(ctx.pseudonym_key, "u-1", "user_id")


def test_secret_columns_are_replaced_whole(ctx: Context) -> None:
    """A column classed secret keeps no part of its value."""
    out = scrub_column(pa.array(["abc", None]), "x", Privacy.SECRET, load_rules(None))
    assert out.to_pylist() == ["<redacted>", None]


def test_rules_file_adds_removes_and_scopes_rules(tmp_path: Path) -> None:
    """A YAML file removes a built-in, adds a per-column rule and extra secret parameter names."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        "remove: [phone]\n"
        "secret_params: [promo]\n"
        "rules:\n"
        "  - name: employee\n    pattern: 'EMP-\\d{6}'\n    replace: '<employee>'\n    columns: [message]\n"
        "columns:\n  skip: [user_agent]\n"
    )
    ctx = Context(
        settings=Settings({"home": tmp_path, "pii_rules_file": str(path)}, environ={}), pseudonym_key=b"k" * 32
    )
    assert scrub_text("EMP-123456 +44 20 7946 0958 ?promo=X1", ctx) == "<employee> +44 20 7946 0958 ?promo=<redacted>"
    assert scrub_text("EMP-123456", ctx, column="error_message") == "EMP-123456"  # scoped to message
    from seamline.transforms.scrub_pii import active_rules, scrubbed_columns

    assert "user_agent" not in scrubbed_columns("events", active_rules(ctx))
    assert scrub_text("bot j@x.io", ctx, column="user_agent") == "bot j@x.io"  # skipped, as ingest skips it


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rules: [{name: x}]", "'pattern' must be a non-empty string"),
        ("rules: [{name: x, pattern: '(', replace: y}]", "does not compile"),
        ("rules: [{name: x, pattern: a, check: nope}]", "unknown check"),
        ("remove: [nosuch]", "cannot remove unknown rules"),
        ("bogus: 1", "unknown sections"),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_bad_rules_files_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    """A rules file with a mistake is refused with a message naming the problem."""
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(RulesError, match=message):
        load_rules(path)


def test_quarantine_raw_is_scrubbed_and_ids_pseudonymized(ctx: Context) -> None:
    """A rejected record's raw text keeps its shape but no email, secret, IP or raw user id."""
    raw = '{"userId": "jane-7", "ip": "203.0.113.5", "msg": "jane@x.io password=pw1", "card": "4111111111111111"'
    row = {
        "quarantine_id": "q1",
        "received_at": 0,
        "source": "segment",
        "origin": "x",
        "reason": "invalid JSON near jane@x.io",
        "raw": raw,
        "ingest_batch_id": "b",
    }
    out = scrub_quarantine(rows_to_batch([row], QUARANTINE_SCHEMA), ctx).to_pylist()[0]
    ip = pseudonym(ctx.pseudonym_key, truncate_ip("203.0.113.5"), "ip")
    user = pseudonym(ctx.pseudonym_key, "jane-7", "user_id")
    assert out["raw"] == f'{{"userId": "{user}", "ip": "{ip}", "msg": "<email> password=<redacted>", "card": "<card>"'
    assert out["reason"] == "invalid JSON near <email>"


def test_ipv6_prefix_setting(tmp_path: Path) -> None:
    """IPv6 addresses are truncated to ip_prefix_v6 bits before hashing (48 by default)."""
    assert truncate_ip("2001:db8:85a3:1234::1") == "2001:db8:85a3::"
    assert truncate_ip("2001:db8:85a3:1234::1", v6_prefix=32) == "2001:db8::"
    assert Settings({"home": tmp_path}, environ={}).ip_prefix_v6 == 48


def test_keyring_from_environment_single_and_list(tmp_path: Path) -> None:
    """SEAMLINE_PSEUDONYM_KEY holds one key, or id=key pairs with the active key first."""
    settings = Settings({"home": tmp_path}, environ={})
    ring = load_keyring(settings, environ={ENV_VAR: "x" * 20})
    assert ring.active.material == b"x" * 20 and ring.path is None
    ring = load_keyring(settings, environ={ENV_VAR: f"new={'n' * 20},old={'o' * 20}"})
    assert ring.active.id == "new" and [k.id for k in ring.linking(1)] == ["old"]
    with pytest.raises(KeyringError, match="shorter than 16"):
        load_keyring(settings, environ={ENV_VAR: "short"})
    with pytest.raises(KeyringError, match="rotate by setting it"):
        ring.rotate()


def test_keyring_file_legacy_format_rotation_and_mode(tmp_path: Path) -> None:
    """A bare-key file reads as key k1; rotation writes a 0600 JSON keyring keeping k1 as a linking key."""
    (tmp_path / "pseudonym.key").write_text("a" * 64)
    settings = Settings({"home": tmp_path}, environ={})
    ring = load_keyring(settings, environ={})
    assert ring.active.id == "k1" and ring.active.material == b"a" * 64
    ring.rotate()
    again = load_keyring(settings, environ={})
    assert again.active.id == "k2" and [k.id for k in again.linking(30)] == ["k1"]
    assert os.stat(tmp_path / "pseudonym.key").st_mode & 0o777 == 0o600
    (tmp_path / "pseudonym.key").write_text('{"keys": [{"id": "k1", "secret": "s"}]}')
    with pytest.raises(KeyringError):
        load_keyring(settings, environ={})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    return subprocess.run([sys.executable, "-m", "seamline.cli", *args], capture_output=True, text=True, env=env)


def test_pii_commands(tmp_path: Path) -> None:
    """`pii test` prints what a text becomes; `pii rules --json` lists rules in order with the scrubbed columns."""
    out = _cli("pii", "test", "--home", str(tmp_path), "mail jane@x.io ?token=abc")
    assert out.returncode == 0 and out.stdout.strip() == "mail <email> ?token=<redacted>"
    data = json.loads(_cli("pii", "rules", "--home", str(tmp_path), "--json").stdout)
    names = [r["name"] for r in data["rules"]]
    assert names.index("url_credentials") < names.index("email") and "card" in names
    assert {"url", "message", "attributes"} <= set(data["columns"]["events"])
    bad = _cli("pii", "test", "--home", str(tmp_path), "--column", "nope", "x")
    assert bad.returncode == 1 and "unknown events column" in bad.stderr


def test_keys_commands(tmp_path: Path) -> None:
    """`keys rotate` makes k2 active and k1 linking; `keys list --json` shows ids and fingerprints, never keys."""
    assert _cli("keys", "list", "--home", str(tmp_path)).returncode == 1  # nothing yet: a clear error
    rotated = json.loads(_cli("keys", "rotate", "--home", str(tmp_path), "--json").stdout)
    assert rotated["active"] == "k2" and rotated["retired"] == "k1"
    listed = json.loads(_cli("keys", "list", "--home", str(tmp_path), "--json").stdout)
    assert [(k["id"], k["state"]) for k in listed["keys"]] == [("k1", "retired (links)"), ("k2", "active")]
    secrets = [k["secret"] for k in json.loads((tmp_path / "pseudonym.key").read_text())["keys"]]
    assert not any(s in json.dumps(listed) for s in secrets)


def test_running_context_picks_up_a_rotation(tmp_path: Path) -> None:
    """A long-running ingest's context reloads the keyring file after `keys rotate` from another process."""
    settings = Settings({"home": tmp_path}, environ={})
    ctx = Context.from_settings(settings)
    before = ctx.pseudonym_key
    load_keyring(settings, environ={}).rotate()
    ctx.refresh_keys()
    assert ctx.pseudonym_key == before  # checked at most every few seconds
    ctx._checked = 0.0
    ctx.refresh_keys()
    assert ctx.pseudonym_key != before and ctx.linking_keys == (before,)


def test_dictionary_privacy_classes_choose_the_columns() -> None:
    """Every personal or secret column of events and quarantine is scrubbed; pseudonymous ones are left to hashing."""
    from seamline.dictionary import TABLES
    from seamline.transforms.scrub_pii import scrubbed_columns

    rules = load_rules(None)
    for table in ("events", "quarantine"):
        chosen = scrubbed_columns(table, rules)
        for col in TABLES[table]:
            if col.privacy in (Privacy.PERSONAL, Privacy.SECRET):
                assert chosen[col.name] is col.privacy
            if col.privacy is Privacy.PSEUDONYMOUS:
                assert col.name not in chosen


def test_expired_keys_are_dropped_when_ingest_starts(tmp_path: Path) -> None:
    """A retired key older than pseudonym_key_retention_days leaves the keyring file when a context is made."""
    from datetime import UTC, datetime, timedelta

    settings = Settings({"home": tmp_path, "pseudonym_key_retention_days": 10}, environ={})
    load_keyring(settings, environ={}).rotate(now=datetime.now(UTC) - timedelta(days=11))
    ctx = Context.from_settings(settings)
    assert [k.id for k in load_keyring(settings, environ={}).keys] == ["k2"] and ctx.linking_keys == ()
