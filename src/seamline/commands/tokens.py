"""`seamline tokens create|list|revoke` and `seamline audit`: access control from the command line.

Tokens are managed on the database file, so these commands need the write lock: while
`seamline serve` runs, use its admin API instead (POST/GET /api/tokens, DELETE
/api/tokens/<id>, GET /api/audit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from seamline._output import console, print_rows, to_json
from seamline.access import audit
from seamline.access._cli import AccessDenied, current_principal
from seamline.access.roles import ROLE_HELP
from seamline.access.tokens import TokenError, auth_configured, create, list_tokens, parse_expiry, revoke, validate
from seamline.app import App, home_settings
from seamline.commands._common import HomeOption, _fail
from seamline.store import StoreError

tokens_app = typer.Typer(
    help="Create, list and revoke API tokens (roles: ingest, viewer, analyst, admin).", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_LOCKED_HINT = (
    " If `seamline serve` is running it holds the database: use its admin API (/api/tokens, /api/audit) instead."
)


def register(app: typer.Typer) -> None:
    """Add `tokens` and `audit` to the main CLI."""
    app.add_typer(tokens_app, name="tokens")
    app.command("audit")(audit_command)


def _open(home: Path | None) -> App:
    try:
        application = App(home_settings(home))
        _ = application.store
    except ValueError as exc:
        _fail(str(exc), 2)
        raise
    except StoreError as exc:
        _fail(str(exc) + _LOCKED_HINT)
        raise
    return application


def _actor() -> tuple[str, str | None]:
    principal = current_principal()
    if principal is None or principal.role is None:
        return audit.local_actor(), None
    return principal.actor, principal.role


@tokens_app.command("create")
def create_command(
    name: Annotated[str, typer.Option("--name", help="What the token is for (shown in lists and the audit log).")],
    role: Annotated[str, typer.Option("--role", help="ingest, viewer, analyst or admin.")],
    project: Annotated[
        str | None, typer.Option("--project", help="Limit the token to one project (environment).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime, e.g. 12h, 30d, 2w (default never).")
    ] = None,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Create a token and print its secret once (only its SHA-256 is stored).

    The first token of a store must be an admin token and may be created by anyone with the
    files; after that, creating tokens needs an admin token (--token or SEAMLINE_TOKEN).
    """
    try:
        lifetime = parse_expiry(expires)
        validate(name=name, role=role, project=project)
    except TokenError as exc:
        _fail(str(exc), 2)
        return
    with _open(home) as application:
        store = application.store
        principal = current_principal()
        bootstrap = not auth_configured(store)
        if bootstrap and role != "admin":
            _fail("the first token must be an admin token (--role admin), or nobody could manage tokens later", 2)
        if not bootstrap and (principal is None or principal.role != "admin"):
            audit.record(
                store,
                actor=_actor()[0],
                role=_actor()[1],
                action="token.create",
                target=None,
                detail={"name": name, "role": role, "reason": "not an admin"},
                origin="cli",
                ok=False,
            )
            raise AccessDenied("creating tokens needs an admin token (--token or SEAMLINE_TOKEN)")
        try:
            info, secret = create(store, name=name, role=role, project=project, expires=lifetime)
        except TokenError as exc:
            _fail(str(exc), 2)
            return
        actor, actor_role = _actor()
        audit.record(
            store,
            actor=actor,
            role=actor_role,
            action="token.create",
            target=info.token_id,
            detail={"name": name, "role": role, "project": project, "bootstrap": bootstrap},
            origin="cli",
        )
    if json_out:
        print(to_json({**info.as_dict(), "secret": secret}))
        return
    console.print(f"Created {info.role} token [bold]{info.token_id}[/bold] ({info.name}): {ROLE_HELP[info.role]}.")
    console.print("Secret (shown only now; store it safely):")
    print(secret)


@tokens_app.command("list")
def list_command(json_out: JsonFlag = False, home: HomeOption = None) -> None:
    """Every token with its role, project and state (active, expired, revoked); never a secret."""
    with _open(home) as application:
        rows = [t.as_dict() for t in list_tokens(application.store)]
    if json_out:
        print(to_json(rows))
        return
    if not rows:
        console.print(
            "No tokens: access control is off (loopback only). `seamline tokens create --role admin` turns it on."
        )
        return
    stamps = ("created_at", "expires_at", "revoked_at", "last_used_at")
    short = [{k: (v[:16].replace("T", " ") if k in stamps and v else v) for k, v in r.items()} for r in rows]
    print_rows(short, title="tokens (times in UTC)")


@tokens_app.command("revoke")
def revoke_command(
    token_id: Annotated[str, typer.Argument(help="Token id (from `seamline tokens list`).")],
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Revoke a token at once; it stays listed (and in the audit log) as revoked."""
    with _open(home) as application:
        actor, role = _actor()
        try:
            info = revoke(application.store, token_id)
        except TokenError as exc:
            audit.record(
                application.store,
                actor=actor,
                role=role,
                action="token.revoke",
                target=token_id,
                detail={"error": str(exc)},
                origin="cli",
                ok=False,
            )
            _fail(str(exc), 2)
            return
        audit.record(
            application.store,
            actor=actor,
            role=role,
            action="token.revoke",
            target=token_id,
            detail={"name": info.name, "role": info.role},
            origin="cli",
        )
    if json_out:
        print(to_json(info.as_dict()))
        return
    console.print(f"Revoked {info.role} token {info.token_id} ({info.name}).")


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) - timedelta(seconds=float(text[:-1]) * units[text[-1]])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--since must be an ISO time or a duration like 30m, 6h, 7d, not {text!r}", 2)
        raise
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audit_command(
    since: Annotated[str | None, typer.Option("--since", help="From this ISO time, or this long ago (6h, 7d).")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor (token id or local:<user>).")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action (query, export, token.create, denied, retention, forget ...)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most entries to show.")] = 200,
    json_out: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """The audit log, newest first: who queried, exported, managed tokens, ran retention or erasure (admins)."""
    since_ts = _since(since)
    if limit < 1:
        _fail("--limit must be at least 1", 2)
    with _open(home) as application:
        store = application.store
        audit.absorb_spool(store)  # entries CLI reads spooled while the store was busy
        entries = audit.read(store, since=since_ts, actor=actor, action=action, limit=limit)
        who, role = _actor()
        audit.record(
            store,
            actor=who,
            role=role,
            action="audit.read",
            target="audit",
            detail={"since": since, "actor": actor, "action": action},
            origin="cli",
        )
    rows: list[dict[str, Any]] = [e.to_dict() for e in entries]
    if json_out:
        print(to_json(rows))
        return
    if not rows:
        console.print("No audit entries match.")
        return
    # The table is for reading at a terminal: second precision and a short detail (--json has it all).
    short = [
        {**r, "ts": r["ts"][:19].replace("T", " "), "detail": _clip(r["detail"]), "ok": "yes" if r["ok"] else "NO"}
        for r in rows
    ]
    print_rows(short, title="audit log (UTC, newest first)")


def _clip(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"
