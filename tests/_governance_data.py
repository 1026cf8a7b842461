"""One correlated simulated shop for the governance tests (retention, erasure, quality), built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from _views_data import build_home

# pytest makes one fixture definition per module that imports the fixture, so the session-wide
# sharing is done here: every module gets the same built home.
_BUILT: dict[Path, Path] = {}


@pytest.fixture(scope="session", name="governed_template")
def governed_template_fixture(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated shop ingested, correlated and with facts; tests work on copies (`copy_home`)."""
    if simulated not in _BUILT:
        home = tmp_path_factory.mktemp("governance-template")
        build_home(simulated, home)
        _BUILT[simulated] = home
    return _BUILT[simulated]


def copy_home(template: Path, target: Path) -> Path:
    """A private copy of a home directory (database and keyring)."""
    shutil.copytree(template, target)
    return target
