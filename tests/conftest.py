"""Shared fixtures: an isolated home directory, an app on it, and the toy source."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from seamline.app import App
from seamline.settings import Settings
from seamline.simulate import raw_inputs
from seamline.sources import REGISTRY

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh Seamline home directory."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def app(home: Path) -> Iterator[App]:
    """An App on a fresh home, closed after the test."""
    application = App(Settings({"home": home}))
    yield application
    application.close()


@pytest.fixture
def toy_source(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the test-only `toy` source for the duration of a test."""
    monkeypatch.setitem(REGISTRY, "toy", "_toy_source")
    return "toy"


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated shop (two hours, fixed seed) written once per test session."""
    from seamline.simulate import simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(out, seed=5, duration_s=2 * 3600)
    return out


def ingest_simulated(app: App, sim: Path) -> None:
    """Ingest every raw file the simulator wrote, as `make demo` does."""
    for path, options in raw_inputs(sim):
        app.ingestor.ingest_file(path, options=options)
