"""Pieces every `seamline` command module shares: option aliases, failing with a message, opening the app.

One copy here keeps the option help texts and the error format identical across commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seamline._output import err_console
from seamline.app import App, home_settings

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (default ./.seamline, or $SEAMLINE_HOME).", show_default=False),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output format: table, json or csv.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")]


def _fail(message: str, code: int = 1) -> None:
    """Print `error: message` on stderr and exit with `code` (2 for bad input, 1 for failures)."""
    err_console.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code)


def _app(home: Path | None, read_only: bool = False) -> App:
    """The application over `home`; a bad setting there is the user's input, so exit 2."""
    try:
        return App(home_settings(home), read_only=read_only)
    except ValueError as exc:
        _fail(str(exc), 2)
        raise  # unreachable; keeps type checkers calm


def _check_format(fmt: str, allowed: tuple[str, ...] = ("table", "json", "csv")) -> None:
    if fmt not in allowed:
        _fail(f"--format must be one of {', '.join(allowed)}, not {fmt!r}", 2)


def _parse_duration(text: str) -> float:
    """Seconds in `90s`, `30m`, `6h`, `1d`, `1w` or a bare number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        _fail(f"cannot read duration {text!r}; use e.g. 90s, 30m, 6h, 1d, 1w", 2)
        raise
