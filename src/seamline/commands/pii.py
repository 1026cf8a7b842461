"""`seamline pii` (rules, test) and `seamline keys` (list, rotate, prune): privacy from the shell.

`pii test` runs the very Arrow path ingest runs, so what it prints is what would be stored.
Keys are never printed; `keys list` shows ids, states and fingerprints.

Register in cli.py with `register(app)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from seamline._output import console, print_rows, to_json
from seamline.app import home_settings
from seamline.commands._common import HomeOption, _fail
from seamline.keys import KeyringError, key_retention_days, load_keyring
from seamline.transforms._context import Context
from seamline.transforms._pii_rules import RulesError

pii_app = typer.Typer(help="PII scrubbing: show the active rules, try a text.", no_args_is_help=True)
keys_app = typer.Typer(help="Pseudonym keys: list, rotate, drop expired retired keys.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="YAML rules file to use instead of the pii_rules_file setting.", show_default=False),
]


def register(app: typer.Typer) -> None:
    """Add `pii` and `keys` to the seamline CLI."""
    app.add_typer(pii_app, name="pii")
    app.add_typer(keys_app, name="keys")


def _context(home: Path | None, rules: Path | None) -> Context:
    # Rules need no keys; `pii test` still pseudonymizes nothing, so a throwaway key is enough.
    settings = home_settings(home, pii_rules_file=str(rules) if rules else None)
    return Context(settings=settings, pseudonym_key=b"\x00" * 32)


@pii_app.command("rules")
def pii_rules(home: HomeOption = None, rules: RulesOption = None, json_out: JsonFlag = False) -> None:
    """Print the active scrubbing rules in the order they run, and the columns they run on."""
    from seamline.transforms.scrub_pii import active_rules, scrubbed_columns

    ctx = _context(home, rules)
    try:
        ruleset = active_rules(ctx)
    except RulesError as exc:
        _fail(str(exc))
        return
    columns = {t: sorted(scrubbed_columns(t, ruleset)) for t in ("events", "quarantine")}
    rows = [r.as_dict() for r in ruleset.rules]
    if json_out:
        print(to_json({"origin": ruleset.origin, "columns": columns, "rules": rows}))
        return
    console.print(f"rules from: [bold]{ruleset.origin}[/bold]")
    for table, names in columns.items():
        console.print(f"scrubbed columns of {table}: {', '.join(names)}")
    print_rows([{k: r[k] for k in ("name", "kind", "check", "columns", "replace", "description")} for r in rows])


@pii_app.command("test")
def pii_test(
    text: Annotated[str, typer.Argument(help="The text to scrub, e.g. a log message or a URL.")],
    column: Annotated[
        str, typer.Option("--column", help="Column the text would be stored in (rules may differ per column).")
    ] = "message",
    home: HomeOption = None,
    rules: RulesOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Show what a text becomes when stored: every active rule applied, as ingest applies them."""
    from seamline.dictionary import TABLES
    from seamline.transforms.scrub_pii import scrub_text

    if column not in {c.name for c in TABLES["events"]}:
        _fail(f"unknown events column {column!r} (see `seamline dictionary`)")
    ctx = _context(home, rules)
    try:
        out = scrub_text(text, ctx, column)
    except RulesError as exc:
        _fail(str(exc))
        return
    if json_out:
        print(to_json({"column": column, "input": text, "stored": out, "changed": out != text}))
        return
    console.print(out, markup=False, highlight=False)


@keys_app.command("list")
def keys_list(home: HomeOption = None, json_out: JsonFlag = False) -> None:
    """List the pseudonym keys: id, state (active, retired and still linking, expired), fingerprint, dates."""
    settings = home_settings(home)
    try:
        ring = load_keyring(settings, create=False)
    except KeyringError as exc:
        _fail(str(exc))
        return
    now = datetime.now(UTC)
    rows = [k.describe(key_retention_days(settings), now) for k in ring.keys]
    if json_out:
        print(to_json({"origin": ring.origin, "keys": rows}))
        return
    console.print(f"keys from: [bold]{ring.origin}[/bold]")
    print_rows(rows)


@keys_app.command("rotate")
def keys_rotate(home: HomeOption = None, json_out: JsonFlag = False) -> None:
    """Make a new active key; the old one keeps linking people seen again until it expires."""
    settings = home_settings(home)
    try:
        ring = load_keyring(settings)
        old = ring.active
        new = ring.rotate()
        dropped = ring.prune(key_retention_days(settings))
    except KeyringError as exc:
        _fail(str(exc))
        return
    data = {
        "active": new.id,
        "retired": old.id,
        "links_until": (old.expires_at(key_retention_days(settings)) or datetime.max).isoformat(timespec="seconds"),
        "dropped": [k.id for k in dropped],
    }
    if json_out:
        print(to_json(data))
        return
    console.print(
        f"new active key [bold]{new.id}[/bold]; {old.id} retired, links people seen again until {data['links_until']}"
    )
    if dropped:
        console.print(f"dropped expired keys: {', '.join(data['dropped'])}")


@keys_app.command("prune")
def keys_prune(home: HomeOption = None, json_out: JsonFlag = False) -> None:
    """Drop retired keys older than pseudonym_key_retention_days (their pseudonyms can no longer be linked)."""
    settings = home_settings(home)
    try:
        dropped = load_keyring(settings, create=False).prune(key_retention_days(settings))
    except KeyringError as exc:
        _fail(str(exc))
        return
    if json_out:
        print(to_json({"dropped": [k.id for k in dropped]}))
        return
    console.print(f"dropped {len(dropped)} expired key(s){': ' + ', '.join(k.id for k in dropped) if dropped else ''}")
