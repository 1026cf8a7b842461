"""`seamline schema` (status, history, upgrade, downgrade): the store's schema version and its migrations.

This module owns `schema_app`; governance adds `schema drift` to it (cli.py passes it on).
Register in cli.py with `register(app)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from seamline._output import console, to_json
from seamline.app import home_settings
from seamline.commands._common import FormatOption, HomeOption, JsonFlag, _check_format, _fail
from seamline.store import DuckDBStore, StoreError

schema_app = typer.Typer(help="Show, upgrade or roll back the store's schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `schema` group to the seamline CLI."""
    app.add_typer(schema_app, name="schema")


@contextmanager
def _store_as_it_is(home: Path | None) -> Iterator[DuckDBStore]:
    """The store without upgrading it, closed afterwards; a StoreError (opening or inside) ends the command."""
    from seamline.store import open_store

    try:
        store = open_store(home_settings(home), upgrade=False)
    except StoreError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits
    try:
        yield store
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()


@schema_app.command("status")
def schema_status(home: HomeOption = None, json_out: JsonFlag = False) -> None:
    """Current schema version and pending migrations."""
    with _store_as_it_is(home) as store:
        status = store.schema_status()
    data = {
        "current": status.current,
        "head": status.head,
        "pending": [{"version": v, "name": n} for v, n in status.pending],
    }
    if json_out:
        print(to_json(data))
        return
    console.print(f"schema at version [bold]{status.current}[/bold] of {status.head}")
    for v, n in status.pending:
        console.print(f"  pending {v}: {n}")


@schema_app.command("history")
def schema_history(home: HomeOption = None, fmt: FormatOption = "table") -> None:
    """Every applied migration: when, by whom, with which data dictionary; rollbacks from the audit log."""
    from seamline.commands.governance import history_command

    _check_format(fmt)
    history_command(home, fmt)


@schema_app.command("upgrade")
def schema_upgrade(
    to: Annotated[int | None, typer.Option(help="Target version (default: latest).")] = None,
    home: HomeOption = None,
) -> None:
    """Apply pending migrations."""
    from seamline.commands.governance import audit_schema_change

    with _store_as_it_is(home) as store:
        done = store.upgrade(to)
        audit_schema_change(store, f"upgrade to {to if to is not None else 'head'}", {"applied": done})
    console.print(f"applied {done or 'nothing'}; schema at {to if to is not None else 'head'}")


@schema_app.command("downgrade")
def schema_downgrade(
    to: Annotated[int, typer.Option(help="Version to roll back to.")],
    force: Annotated[bool, typer.Option(help="Accept discarding the values the down steps drop.")] = False,
    home: HomeOption = None,
) -> None:
    """Roll the schema back; refuses to discard stored values unless --force."""
    from seamline.commands.governance import audit_schema_change

    with _store_as_it_is(home) as store:
        done = store.downgrade(to, force=force)
        audit_schema_change(store, f"downgrade to {to}", {"rolled_back": done, "forced": force})
    console.print(f"rolled back {done or 'nothing'}; schema at {to}")
