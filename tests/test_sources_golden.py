"""Golden-file tests: every source parses its fixtures into exactly the expected rows.

Layout: tests/fixtures/<source>/<case>.<ext> is the input, <case>.expected.json beside it the
rows (or {"rejected": reason} items) the source must yield, and an optional
<case>.options.json the parser options. Set SEAMLINE_UPDATE_GOLDEN=1 to (re)write expected
files after a deliberate change, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from seamline.sources import Rejected, framing_for, get_source
from seamline.sources._framing import FramingProblem, iter_lines, iter_whole, open_input

FIXTURES = Path(__file__).parent / "fixtures"
_SUFFIXES = (".expected.json", ".options.json")


def _cases() -> list[tuple[str, Path]]:
    cases = []
    for source_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.exists() else []:
        for path in sorted(source_dir.iterdir()):
            if path.is_file() and not path.name.endswith(_SUFFIXES) and not path.name.startswith("."):
                cases.append((source_dir.name, path))
    return cases


def _parse_file(source: str, path: Path) -> list[dict]:
    options_path = path.with_name(path.name.split(".")[0] + ".options.json")
    options = orjson.loads(options_path.read_bytes()) if options_path.exists() else {}
    module = get_source(source)
    parser = module.make_parser(options)
    framing = framing_for(module, options, path.name)
    out: list[dict] = []
    with open_input(path) as stream:
        records = iter_whole(stream, 50_000_000) if framing == "whole" else iter_lines(stream, 1_048_576)
        for record in records:
            if isinstance(record.data, FramingProblem):
                out.append({"line": record.position, "rejected": record.data.reason})
                continue
            try:
                for item in parser(record.data):
                    if isinstance(item, Rejected):
                        out.append({"line": record.position, "rejected": item.reason, "index": item.index})
                    else:
                        out.append({"line": record.position, **item})
            except Exception as exc:  # the pipeline quarantines these; golden files record the reason
                out.append({"line": record.position, "rejected": f"{type(exc).__name__}: {exc}"})
    return out


CASES = _cases()


@pytest.mark.parametrize(("source", "path"), CASES, ids=[f"{s}/{p.name}" for s, p in CASES])
def test_golden(source: str, path: Path) -> None:
    """The source yields exactly the rows recorded in the expected file."""
    got = orjson.loads(orjson.dumps(_parse_file(source, path), option=orjson.OPT_SORT_KEYS))
    expected_path = path.with_name(path.name.split(".")[0] + ".expected.json")
    if os.environ.get("SEAMLINE_UPDATE_GOLDEN") == "1":
        expected_path.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    assert expected_path.exists(), f"missing {expected_path.name}; run with SEAMLINE_UPDATE_GOLDEN=1 and review it"
    assert got == orjson.loads(expected_path.read_bytes())


def test_every_registered_source_has_golden_fixtures() -> None:
    """Each source in the registry has at least one fixture case."""
    from seamline.sources import available_sources

    covered = {s for s, _ in CASES}
    missing = [name for name in available_sources() if name not in covered]
    assert not missing, f"sources without golden fixtures: {missing}"
