"""CLI enforcement: every command of the `seamline` Typer app is wrapped once, centrally.

`GuardedGroup` is the root command class. When Typer builds the command tree, it walks every
leaf (including groups other modules register later) and wraps its callback: before the
command runs, the guard opens the store read-only, and — once access control is configured —
requires a token (`--token` or SEAMLINE_TOKEN) whose role holds what `roles.cli_cap` says the
command needs. Data-reading commands are audited (spooled when the store is read-only).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.globals import get_current_context  # Typer vendors Click; its context is what runs us
from typer.core import TyperGroup

from seamline.access import audit
from seamline.access.roles import Cap, allows, cli_cap, minimum_role
from seamline.access.tokens import AuthError, Principal, auth_configured, authenticate
from seamline.settings import Settings

ENV = "SEAMLINE_TOKEN"
_current: ContextVar[Principal | None] = ContextVar("seamline_principal", default=None)
_EXPORT_FORMATS = ("csv", "json")


class AccessDenied(typer.Exit):
    """The command needs a (better) token; exit code 3 tells scripts it is about access."""

    def __init__(self, message: str) -> None:
        from seamline._output import err_console

        err_console.print(f"[bold red]error:[/bold red] {message}")
        super().__init__(3)
        self.message = message


def current_principal() -> Principal | None:
    """Who the running command acts as (None outside a guarded command)."""
    return _current.get()


_TOKEN_OPTION: list[Any] = []


def _token_option() -> Any:
    """One `--token` option object (built by Typer itself, so it fits Typer's vendored Click)."""
    if not _TOKEN_OPTION:
        probe = typer.Typer()

        @probe.command()
        def _probe(
            token: Annotated[
                str | None,
                typer.Option(
                    "--token", envvar=ENV, help=f"API token to act with once access control is on (or ${ENV})."
                ),
            ] = None,
        ) -> None:
            """Not run: only its --token option is borrowed."""

        _TOKEN_OPTION.append(typer.main.get_command(probe).params[0])
    return _TOKEN_OPTION[0]


def _settings(home: Any) -> Settings:
    values: dict[str, Any] = {}
    if home is not None:
        values["home"] = home
    return Settings(values)


@contextmanager
def _peek_store(settings: Settings) -> Iterator[Any]:
    """The store read-only for the check, closed again before the command opens it its own way."""
    from seamline.store import open_store

    if not Path(settings.database_path).exists():
        yield None
        return
    store = open_store(settings, read_only=True, upgrade=False)  # as the command opens it (encryption key too)
    try:
        yield store
    finally:
        store.close()


def _has_tables(store: Any) -> bool:
    return bool(store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'api_tokens'"))


def check(path: str, args: dict[str, Any], secret: str | None) -> Principal:
    """Decide whether this command may run; returns who it acts as, or raises AccessDenied."""
    cap = cli_cap(path, args)
    local = Principal(actor=audit.local_actor(), role=None)
    if cap is Cap.PUBLIC:
        return _principal_if_given(args, secret) or local
    try:
        settings = _settings(args.get("home"))
    except ValueError:
        return local  # the command reports its own settings error
    try:
        peek = _peek_store(settings)
        store = peek.__enter__()
    except Exception as exc:
        # Fail closed: a store we cannot read might have tokens. (A missing store is no error: see above.)
        raise AccessDenied(f"cannot check access before `seamline {path}`: {exc}") from exc
    try:
        if store is None or not _has_tables(store) or not auth_configured(store):
            return local
        if not secret:
            _deny(
                store,
                path,
                cap,
                f"`seamline {path}` needs a token with the {minimum_role(cap)} role; pass --token or set {ENV}",
            )
        try:
            principal = authenticate(store, secret or "")
        except AuthError as exc:
            _deny(store, path, cap, f"the token was refused: {exc.reason}")
            raise
        if not allows(principal.role, cap):
            _deny(
                store,
                path,
                cap,
                f"a {principal.role} token cannot run `seamline {path}`; it needs the {minimum_role(cap)} role",
                principal,
            )
        if principal.project and path == "views show":
            from seamline.views import VIEWS

            view = VIEWS.get(str(args.get("name", "")))
            if view is not None and not view.filtered and view.takes_store:
                _deny(
                    store,
                    path,
                    cap,
                    f"view {view.name!r} cannot be limited to project {principal.project!r}",
                    principal,
                )
        elif principal.project and cap in (Cap.ROWS, Cap.EDIT, Cap.ADMIN):
            _deny(
                store,
                path,
                cap,
                f"a token scoped to project {principal.project!r} cannot run `seamline {path}`",
                principal,
            )
        if cap in (Cap.AGGREGATES, Cap.ROWS):
            fmt = args.get("fmt") or args.get("format")
            action = "export" if fmt in _EXPORT_FORMATS or args.get("out") else "query"
            audit.record(
                store,
                actor=principal.actor,
                role=principal.role,
                action=action,
                target=path,
                detail=_detail(args),
                origin="cli",
                ok=True,
            )
        return principal
    finally:
        peek.__exit__(None, None, None)


def _principal_if_given(args: dict[str, Any], secret: str | None) -> Principal | None:
    if not secret:
        return None
    try:
        with _peek_store(_settings(args.get("home"))) as store:
            return authenticate(store, secret) if store is not None and _has_tables(store) else None
    except Exception:
        return None


def _detail(args: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in args.items() if v not in (None, [], False)}


def _deny(store: Any, path: str, cap: Cap, message: str, principal: Principal | None = None) -> None:
    audit.record(
        store,
        actor=principal.actor if principal else audit.local_actor(),
        role=principal.role if principal else None,
        action="denied",
        target=path,
        detail={"needs": cap.value, "reason": message},
        origin="cli",
        ok=False,
    )
    raise AccessDenied(message)


# These write their own, more precise entries.
_SELF_AUDITED = frozenset({"tokens create", "tokens revoke", "tokens list", "audit"})


def _spool_change(path: str, args: dict[str, Any], principal: Principal, ok: bool) -> None:
    """Audit a command that changes things (settings, keys, schema, retention, erasure ...) after it ran.

    Only the names of the options given are kept, never their values: `forget --user ID` must
    not leave the very id it erased in the log. The entry goes through the spool because the
    command may have just closed the store it wrote to.
    """
    try:
        settings = _settings(args.get("home"))
        if not settings.database_path.exists():
            return
        given = sorted(k for k, v in args.items() if v not in (None, [], False) and k != "home")
        params = (
            datetime.now(UTC),
            principal.actor,
            principal.role,
            "command",
            path,
            json.dumps({"options": given}),
            "cli",
            ok,
        )
        audit.spool_entry(settings.database_path, params)
    except Exception:  # auditing must not turn a finished command into a failure
        return


def _guard(command: Any, path: str) -> None:
    callback = command.callback
    if callback is None or getattr(callback, "__seamline_guarded__", False):
        return
    own_token = any(p.name == "token" for p in command.params)
    if not own_token:
        command.params.append(_token_option())

    @functools.wraps(callback)
    def guarded(*a: Any, **kwargs: Any) -> Any:
        secret = None if own_token else kwargs.pop("token", None)
        root = get_current_context().find_root()
        secret = secret or root.params.get("token") or os.environ.get(ENV) or None
        principal = check(path, kwargs, secret)
        if principal.project and path == "views show":
            kwargs["param"] = [p for p in kwargs.get("param", []) if not p.startswith("environment=")] + [
                f"environment={principal.project}"
            ]
        reset = _current.set(principal)
        ok = False
        try:
            result = callback(*a, **kwargs)
            ok = True
            return result
        except typer.Exit as exc:
            ok = exc.exit_code == 0
            raise
        finally:
            _current.reset(reset)
            if path not in _SELF_AUDITED and cli_cap(path, kwargs) in (Cap.EDIT, Cap.ADMIN):
                _spool_change(path, kwargs, principal, ok)

    guarded.__seamline_guarded__ = True  # type: ignore[attr-defined]
    command.callback = guarded


def _walk(group: TyperGroup, prefix: str = "") -> None:
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, TyperGroup):
            _walk(command, path + " ")
        else:
            _guard(command, path)


def command_paths(group: TyperGroup, prefix: str = "") -> list[str]:
    """Every leaf command path of a command group (for the test that walks them all)."""
    found: list[str] = []
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += command_paths(command, f"{prefix}{name} ")
        else:
            found.append(f"{prefix}{name}")
    return found


class GuardedGroup(TyperGroup):
    """The root command: adds a global --token and guards every leaf command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_token_option())
        _walk(self)

    def invoke(self, ctx: Any) -> Any:
        """Commands registered after construction are guarded too, just before dispatch."""
        _walk(self)
        return super().invoke(ctx)


def guarded_typer(**kwargs: Any) -> typer.Typer:
    """A Typer app whose commands are all guarded (for command groups outside cli.py's app)."""
    return typer.Typer(cls=GuardedGroup, **kwargs)
