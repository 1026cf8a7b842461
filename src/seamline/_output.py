"""Printing rows for people (rich tables) and for scripts (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def to_json(data: Any, indent: bool = True) -> str:
    """JSON text; datetimes as ISO 8601, decimals as numbers."""
    opts = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(data, default=_default, option=opts).decode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        return to_json(value, indent=False)
    return str(value)


def print_rows(rows: Sequence[dict[str, Any]], fmt: str = "table", title: str | None = None) -> None:
    """Print dict rows as a table, JSON array or CSV."""
    if fmt == "json":
        sys.stdout.write(to_json(list(rows)) + "\n")
        return
    columns = list(rows[0].keys()) if rows else []
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*[escape(_cell(row.get(c))) for c in columns])
    console.print(table)
    if not rows:
        console.print("[dim](no rows)[/dim]")
