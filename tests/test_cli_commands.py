"""The `seamline` command tree: every family registered once, in a stable order, each command guarded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from seamline.access.roles import CLI_CAPS
from seamline.cli import app

# What `seamline --help` lists, in this order: plain commands first, then groups.
ROOT_ORDER = [
    "simulate", "ingest", "sources", "sniff", "correlate", "trace", "coverage", "skew", "summary", "query",
    "dictionary", "settings", "serve", "detect", "audit", "investigate", "review", "forget", "quality",
    "schema", "quarantine", "views", "watchlist", "tokens", "alerts", "playbooks", "annotate", "pii", "keys",
    "retention", "store",
]  # fmt: skip


def _paths(command: typer.core.TyperGroup | typer.core.TyperCommand, prefix: str = "") -> set[str]:
    children = getattr(command, "commands", None)
    if not children:
        return {prefix}
    found: set[str] = set()
    for name, child in children.items():
        found |= _paths(child, f"{prefix} {name}".strip())
    return found


def test_root_lists_commands_in_a_stable_order() -> None:
    """The root group holds exactly the expected commands and groups, in the order `--help` shows them."""
    root = typer.main.get_command(app)
    assert list(root.commands) == ROOT_ORDER


def test_every_guarded_command_path_exists() -> None:
    """Each command named in roles.CLI_CAPS is a real leaf command, so no registration was dropped."""
    leaves = _paths(typer.main.get_command(app))
    assert {"schema status", "schema drift", "quarantine reingest", "trace"} <= leaves
    assert set(CLI_CAPS) - leaves == set()


def test_detect_with_a_file_sniffs_it_when_run_as_a_module(tmp_path: Path) -> None:
    """`python -m seamline.cli detect FILE` names the file's source (detect borrows ingest's sniff)."""
    log = tmp_path / "access.log"
    log.write_text('127.0.0.1 - - [28/Nov/2026:14:00:00 +0000] "GET /cart HTTP/1.1" 200 512 "-" "curl/8.0"\n')
    result = subprocess.run(
        [sys.executable, "-m", "seamline.cli", "detect", str(log)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    output = "".join(result.stdout.split())  # rich wraps long temporary paths anywhere
    assert "access.log:nginx(confidence" in output


def test_sniff_of_a_directory_or_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """`seamline sniff` names what it cannot read and exits 2, without a traceback."""
    from typer.testing import CliRunner

    runner = CliRunner()
    for target, why in ((tmp_path, "Is a directory"), (tmp_path / "gone.log", "No such file")):
        result = runner.invoke(app, ["sniff", str(target)])
        output = " ".join(result.output.split())  # rich wraps long paths
        assert result.exit_code == 2 and why in output and "Traceback" not in output


def test_sniff_names_the_runner_up_and_the_closest_when_it_cannot_tell(tmp_path: Path) -> None:
    """The winner comes with the other candidates' scores; an unknown file names the closest ones."""
    from typer.testing import CliRunner

    runner = CliRunner()
    log = tmp_path / "access.log"
    log.write_text('127.0.0.1 - - [28/Nov/2026:14:00:00 +0000] "GET /cart HTTP/1.1" 200 512 "-" "curl/8.0"\n')
    output = " ".join(runner.invoke(app, ["sniff", str(log)]).output.split())
    assert "nginx (confidence 0.80); also possible: apache 0.70" in output
    odd = tmp_path / "odd.log"
    odd.write_text("time=2026-11-29T10:00:00Z level=info\nhello there\n")
    result = runner.invoke(app, ["sniff", str(odd)])
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "could not tell the format of odd.log (closest: logfmt 0.38" in output
