"""`seamline retention`, `seamline forget`, `seamline quality`, `seamline schema history|drift`, `seamline store`.

Thin over `seamline.governance`; writes (retention, erasure, accepting drift) are audited.
Register in cli.py with `register(app, schema_app)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seamline._output import console, err_console, print_rows, to_json
from seamline.app import App, home_settings
from seamline.commands._common import HomeOption, JsonFlag, _fail
from seamline.store import StoreError

retention_app = typer.Typer(help="Delete data past its time to live (per-kind TTL settings).", no_args_is_help=True)
store_app = typer.Typer(help="Operations on the database file itself (encryption at rest).", no_args_is_help=True)


def register(app: typer.Typer, schema_app: typer.Typer) -> None:
    """Add the governance commands to the seamline CLI (and `drift` to its `schema` group)."""
    app.add_typer(retention_app, name="retention")
    app.add_typer(store_app, name="store")
    app.command("forget")(forget_command)
    app.command("quality")(quality_command)
    schema_app.command("drift")(drift_command)


def _actor() -> tuple[str, str | None]:
    """Who runs this command: the token's principal when access control is on, else the OS user."""
    from seamline.access.audit import local_actor

    try:
        from seamline.access._cli import current_principal

        principal = current_principal()
    except ImportError:  # access control not installed in this build
        principal = None
    if principal is not None:
        return principal.actor, principal.role
    return local_actor(), None


def _spinner(text: str, quiet: bool) -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=err_console, transient=True, disable=quiet
    )


# --- retention -------------------------------------------------------------------------------
@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")] = False,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Delete everything older than its kind's TTL, in every table, in one transaction (audited)."""
    from seamline.governance.retention import run_audited

    actor, role = _actor()
    try:
        with App(home_settings(home)) as application, _spinner("applying retention", json_out) as progress:
            progress.add_task("retention", total=None)
            result = run_audited(application.store, application.settings, actor=actor, role=role, dry_run=dry_run)
    except StoreError as exc:
        _fail(f"{exc} (while `seamline serve` runs: POST /api/retention/apply with an admin token)")
        return
    except ValueError as exc:
        _fail(str(exc), 2)
        return
    data = result.as_dict()
    if json_out:
        print(to_json(data))
        return
    verb = "would delete" if dry_run else "deleted"
    print_rows(
        [{"table": t, "rows": n} for t, n in data["deleted"].items() if n] or [{"table": "(nothing)", "rows": 0}],
        title=f"retention {'dry run' if dry_run else 'applied'}",
    )
    console.print(
        f"{verb} {data['total']:,} rows in {data['seconds']:.2f} s; events by kind: {data['events_by_group']}"
    )


@retention_app.command("policy")
def retention_policy(json_out: JsonFlag = False, home: HomeOption = None) -> None:
    """The time to live of each kind of record and table, from the settings."""
    from seamline.governance.retention import KIND_GROUPS, TABLE_TTLS

    settings = home_settings(home)
    rows: list[dict[str, Any]] = [
        {"what": f"events: {group}", "setting": name, "days": getattr(settings, name), "kinds": ", ".join(kinds)}
        for group, (name, kinds) in KIND_GROUPS.items()
    ]
    rows += [
        {"what": ", ".join(tables), "setting": name, "days": getattr(settings, name), "kinds": ""}
        for name, tables in TABLE_TTLS.items()
    ]
    for r in rows:
        r["days"] = r["days"] or "forever"
    if json_out:
        print(to_json(rows))
        return
    print_rows(rows, title=f"retention (serve applies it every {settings.retention_interval_hours:g} h)")


# --- erasure ---------------------------------------------------------------------------------
def forget_command(
    user: Annotated[
        str | None, typer.Option("--user", help="The user's id (or anonymous id) as the app knows it.")
    ] = None,
    pseudonym: Annotated[
        str | None, typer.Option("--pseudonym", help="The user's pseudonym as stored (p_ + 24 hex digits).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Erase every record of one user from every table (audited by pseudonym, never the raw id)."""
    from seamline.governance.erasure import ErasureError, forget_audited

    if (user is None) == (pseudonym is None):
        _fail("give exactly one of --user and --pseudonym", 2)
    if not yes and not typer.confirm("Erase every record of this user? This cannot be undone", default=False):
        _fail("nothing erased", 1)
    actor, role = _actor()
    try:
        with App(home_settings(home)) as application, _spinner("erasing", json_out) as progress:
            progress.add_task("forget", total=None)
            result = forget_audited(
                application.store, application.settings, actor=actor, role=role, user=user, pseudonym=pseudonym
            )
    except ErasureError as exc:
        _fail(str(exc), 2)
        return
    except StoreError as exc:
        _fail(f"{exc} (while `seamline serve` runs: POST /api/forget with an admin token)")
        return
    except ValueError as exc:  # e.g. no keyring yet: nothing was ever ingested here
        _fail(str(exc))
        return
    data = result.as_dict()
    if json_out:
        print(to_json(data))
        return
    ids = data["identifiers"]
    console.print(
        f"erased [bold]{data['pseudonym']}[/bold]: {ids.get('session', 0)} sessions, {ids.get('device', 0)} devices, "
        f"{data['total']:,} rows in {data['seconds']:.2f} s"
    )
    if data["deleted"]:
        print_rows([{"table": t, "rows": n} for t, n in data["deleted"].items()])
    else:
        console.print("no stored record matched (the erasure is still in the audit log)")


# --- data quality ----------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def quality_command(
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Window start: ISO time or a span back from the latest data (6h, 7d).")
    ] = None,
    all_fields: Annotated[bool, typer.Option("--all", help="List every field, not only flagged ones.")] = False,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Per source and field: null rates, distinct values, out-of-range rates, drift; skew and coverage trends."""
    from seamline.governance.quality import quality_report

    try:
        with App(home_settings(home), read_only=True) as application, _spinner("measuring", json_out) as progress:
            progress.add_task("quality", total=None)
            data = quality_report(application.store, source=source, since=since)
    except ValueError as exc:
        _fail(str(exc), 2)
        return
    except StoreError as exc:
        _fail(str(exc))
        return
    if json_out:
        print(to_json(data))
        return
    w, b = data["window"], data["baseline"]
    console.print(f"window {w['start']} .. {w['end']}, against the baseline {b['start']} .. {b['end']}")
    print_rows(data["sources"], title="rows per source")
    shown = data["fields"] if all_fields else data["flagged"]
    print_rows(
        [
            {
                "source": f["source"],
                "field": f["field"],
                "nulls": _pct(f["null_rate"]),
                "baseline nulls": _pct(f["baseline_null_rate"]),
                "distinct": f["cardinality"] if f["cardinality"] is not None else "",
                "out of range": _pct(f["out_of_range_rate"]),
                "drift": f["drift"],
            }
            for f in shown
        ]
        or [{"field": "(no field moved against the baseline; --all lists them all)"}],
        title="fields" if all_fields else "fields that moved against the baseline",
    )
    print_rows(data["clock_skew_trend"], title="client clock skew over time")
    print_rows(data["join_coverage_trend"], title="join coverage over time")
    drift = data["schema_drift"]
    if drift["changes"] or drift["wrong_type_quarantine"]:
        console.print(
            f"[yellow]schema drift:[/yellow] {len(drift['changes'])} new fields or type changes, "
            f"{sum(w['records'] for w in drift['wrong_type_quarantine'])} records quarantined for a wrong type "
            "(see `seamline schema drift`)"
        )


# --- schema drift ----------------------------------------------------------------------------
def drift_command(
    since: Annotated[
        str | None,
        typer.Option(help="Baseline end: ISO time or span back from now (7d); default: each source's first hour."),
    ] = None,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    accept: Annotated[bool, typer.Option("--accept", help="Accept the reported changes into the baseline.")] = False,
    field: Annotated[str | None, typer.Option(help="With --accept: only this field.")] = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """New fields and value-type changes in incoming data since the baseline, per source."""
    from datetime import UTC, datetime

    from seamline.governance.quality import parse_since
    from seamline.governance.schema_drift import accept as accept_changes
    from seamline.governance.schema_drift import drift_report

    try:
        cut = parse_since(since, datetime.now(UTC))
        with App(home_settings(home), read_only=not accept) as application:
            store = application.store
            if accept:
                from seamline.access.audit import record

                actor, role = _actor()
                n = accept_changes(store, actor, since=cut, source=source, field=field)
                detail = {"accepted": n, "source": source, "field": field}
                record(store, actor=actor, role=role, action="schema", target="drift accept", detail=detail)
                console.print(f"accepted {n} change(s) into the baseline")
                return
            data = drift_report(store, since=cut, source=source)
    except ValueError as exc:
        _fail(str(exc), 2)
        return
    except StoreError as exc:
        _fail(str(exc))
        return
    if json_out:
        print(to_json(data))
        return
    console.print(f"{data['sources']} sources, {data['fields_tracked']} fields tracked")
    print_rows(
        [
            {
                "source": c["source"],
                "field": c["field"],
                "change": c["change"],
                "type": c["value_type"],
                "was": ", ".join(c["previous_types"]),
                "first seen": c["first_seen"],
                "rows": c["rows"],
            }
            for c in data["changes"]
        ]
        or [{"change": "(no new fields or type changes since the baseline)"}],
        title="schema drift",
    )
    if data["wrong_type_quarantine"]:
        print_rows(data["wrong_type_quarantine"], title="quarantined for a wrong type")


def history_command(home: Path | None, fmt: str) -> None:
    """`seamline schema history` (called from cli.py)."""
    from seamline.governance.history import schema_history

    try:
        with App(home_settings(home), read_only=True) as application:
            data = schema_history(application.store)
    except StoreError as exc:
        _fail(str(exc))
        return
    if fmt == "json":
        print(to_json(data))
        return
    print_rows(
        [
            {
                "version": r["version"],
                "name": r["name"],
                "applied_at": r["applied_at"],
                "applied_by": r["applied_by"] or "",
                "dictionary": r["dictionary_hash"] or "",
                "seamline": r["seamline_version"] or "",
            }
            for r in data["applied"]
        ],
        fmt,
        title="applied migrations",
    )
    if fmt != "table":
        return
    if data["changes"]:
        print_rows(data["changes"], title="schema changes in the audit log")
    note = "matches" if data["dictionary_matches"] else "[yellow]differs from[/yellow]"
    console.print(
        f"schema {data['current']} of {data['code_head']}; this code's dictionary {data['dictionary_hash']} "
        f"{note} the one of the last migration"
    )


# --- the database file -------------------------------------------------------------------------
@store_app.command("encrypt")
def store_encrypt(
    keep_plain: Annotated[
        bool, typer.Option("--keep-plain", help="Keep the unencrypted file as <name>.plain (delete it yourself).")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Rewrite an unencrypted database encrypted with the configured key (stop `seamline serve` first)."""
    from seamline.store._encryption import encrypt_copy, encryption_key

    settings = home_settings(home)
    path = settings.database_path
    try:
        key = encryption_key(settings)
        if key is None:
            _fail("no encryption key is configured (SEAMLINE_ENCRYPTION_KEY or the encryption_key_file setting)", 2)
            return
        if not path.exists():
            _fail(f"no database at {path}", 2)
        target = path.with_name(path.name + ".encrypting")
        from seamline.store import DuckDBStore

        plain_store = DuckDBStore(path)  # folds a leftover write-ahead log into the file first
        plain_store.checkpoint()
        plain_store.close()
        encrypt_copy(path, target, key, settings.encryption_builtin_crypto)
    except StoreError as exc:
        _fail(str(exc))
        return
    plain = path.with_name(path.name + ".plain")
    os.replace(path, plain)
    os.replace(target, path)
    if not keep_plain:
        plain.unlink()
    console.print(f"{path} is now encrypted" + (f"; the plain copy is {plain}" if keep_plain else ""))


def audit_schema_change(store: Any, target: str, detail: dict[str, Any]) -> None:
    """Record a schema upgrade or rollback in the audit log (when the schema still has one)."""
    from seamline.access.audit import record

    if "audit_log" not in store.tables():
        return
    actor, role = _actor()
    record(store, actor=actor, role=role, action="schema", target=target, detail=detail)
