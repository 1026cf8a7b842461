"""Detection: metrics, baselines, streaming anomaly episodes, attribution, storage, CLI, and the week schedule."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ingest_simulated
from seamline.app import App
from seamline.cli import app as cli
from seamline.correlate import correlate
from seamline.detect import (
    METRICS,
    Anomaly,
    DetectConfig,
    DetectError,
    Episode,
    attribute,
    baseline,
    find_anomalies,
    find_episodes,
    load_anomalies,
    measure,
    store_anomalies,
)
from seamline.detect.evaluate import evaluate, load_incidents
from seamline.settings import Settings
from seamline.simulate import DEFAULT_START, simulate
from seamline.simulate.incidents import build_schedule
from seamline.views.facts import refresh_facts

HOURS = 6
START = DEFAULT_START
END = START + timedelta(hours=HOURS)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Six simulated hours at a busy shop's rate (the five incidents, shortened), ingested, correlated, with facts."""
    root = tmp_path_factory.mktemp("detect")
    sim, home = root / "sim", root / "home"
    simulate(sim, seed=3, duration_s=HOURS * 3600, events=150_000)
    home.mkdir()
    with App(Settings({"home": home})) as application:
        ingest_simulated(application, sim)
        correlate(application.store)
        refresh_facts(application.store)
    yield sim, home


@pytest.fixture(scope="module")
def ro(world: tuple[Path, Path]) -> Iterator[App]:
    """A read-only app on the shared detection store."""
    with App(Settings({"home": world[1]}), read_only=True) as application:
        yield application


@pytest.fixture(scope="module")
def found(ro: App) -> list[Anomaly]:
    """The anomalies of the whole span, detected once for the tests that read them."""
    return find_anomalies(ro.store, START, END)


def test_measure_counts_the_scope_rows(ro: App) -> None:
    """A scoped measurement stands on fewer rows than the whole shop's, and rates stay within 0..1."""
    everything = measure(ro.store, "error_rate", {}, START, END)
    checkout = measure(ro.store, "error_rate", {"flow": "checkout"}, START, END)
    assert 0 < checkout.volume < everything.volume
    assert everything.value is not None and 0.0 <= everything.value <= 1.0
    route = measure(ro.store, "server_p90_ms", {"route": "POST /api/checkout"}, START, END)
    assert route.volume > 0 and route.value is not None and route.value > 0


def test_bad_metric_scope_and_window_are_refused(ro: App) -> None:
    """Unknown metrics and scope keys, malformed flags and reversed windows get a clear DetectError."""
    with pytest.raises(DetectError, match="unknown metric"):
        measure(ro.store, "nope", {}, START, END)
    with pytest.raises(DetectError, match="unknown scope key"):
        measure(ro.store, "error_rate", {"colour": "red"}, START, END)
    with pytest.raises(DetectError, match="name=state"):
        measure(ro.store, "error_rate", {"flag": "new_checkout"}, START, END)
    with pytest.raises(DetectError, match="before it starts"):
        measure(ro.store, "error_rate", {}, END, START)


def test_baseline_learns_from_earlier_data_only(ro: App) -> None:
    """Early in the span there is no history (no expected value); later the trailing baseline is used."""
    early = baseline(ro.store, "e2e_p90_ms", {}, START + timedelta(minutes=10))
    assert early.expected is None and early.method is None
    later = baseline(ro.store, "e2e_p90_ms", {}, START + timedelta(hours=1, minutes=20))
    assert later.method == "trailing" and later.expected is not None and later.spread and later.spread > 0
    assert later.points >= 30


def test_detection_finds_the_injected_incidents(found: list[Anomaly], world: tuple[Path, Path]) -> None:
    """Most of the five injected incidents are found with few false alerts, and most name the right segment."""
    anomalies = found
    figures = evaluate(anomalies, load_incidents(world[0]), START, END)
    assert figures["recall"] >= 0.8, figures["per_incident"]
    assert figures["precision"] >= 0.6, figures["false_alerts"]
    assert figures["segment_accuracy"] >= 0.6, figures["per_incident"]
    for a in anomalies:
        assert a.start <= a.detected_at and (a.end is None or a.detected_at <= a.end + timedelta(minutes=1))
        assert a.classification in ("systemic", "isolated") and a.signals


def test_detection_uses_no_data_after_each_bucket(ro: App) -> None:
    """Cutting the data at an instant changes no episode already detected before it (streaming honesty)."""
    cfg = DetectConfig(attribute=False)
    full = find_episodes(ro.store, START, END, cfg)
    assert full
    cut = sorted(e.detected_min for e in full)[len(full) // 2] + 1
    early = find_episodes(ro.store, START, datetime.fromtimestamp(cut * 60, UTC), cfg)

    def key(e: Episode) -> tuple[object, ...]:
        return (e.metric, tuple(sorted(e.scope.items())), e.start_min, e.detected_min, round(e.expected, 6))

    assert {key(e) for e in full if e.detected_min < cut} <= {key(e) for e in early}


def test_attribution_names_the_database_for_the_lock_timeouts(ro: App, world: tuple[Path, Path]) -> None:
    """During the products-table timeouts the catalog's database is named and the hour before is the reference."""
    inc = next(i for i in load_incidents(world[0]) if i["kind"] == "dependency_timeout")
    attr = attribute(ro.store, {"route": "GET /api/products/{id}"}, inc["start"], inc["end"])
    assert (attr.segment, attr.service) == ("database", "catalog"), attr.reason
    assert any(e["measure"] == "server_fail" and e["change"] > 0 for e in attr.evidence)


def test_anomalies_are_stored_and_replaced(found: list[Anomaly], world: tuple[Path, Path], tmp_path: Path) -> None:
    """Storing twice for the same window replaces the rows instead of duplicating them."""
    anomalies = found
    home = tmp_path / "home"
    shutil.copytree(world[1], home)  # the shared store stays open read-only in this module
    with App(Settings({"home": home})) as application:
        store_anomalies(application.store, anomalies, START, END)
        store_anomalies(application.store, anomalies, START, END)
        stored = load_anomalies(application.store, START, END)
    assert sorted(r["anomaly_id"] for r in stored) == sorted(a.anomaly_id for a in anomalies)
    assert all(isinstance(r["scope"], dict) for r in stored)


def test_cli_prints_json_and_still_sniffs_files(world: tuple[Path, Path]) -> None:
    """`seamline detect --json` prints the anomalies; `seamline detect FILE` keeps sniffing the format."""
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["detect", "--home", str(world[1]), "--since", "3h", "--json", "--no-store"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["stored"] is False and data["anomalies"]
    assert {"segment", "cohorts", "signals"} <= set(data["anomalies"][0])
    sniffed = runner.invoke(cli, ["detect", str(world[0] / "gateway" / "access.log")])
    assert sniffed.exit_code == 0 and "nginx" in sniffed.output
    bad = runner.invoke(cli, ["detect", "--home", str(world[1]), "--since", "yesterday-ish"])
    assert bad.exit_code == 2 and "cannot read time" in bad.output


def test_week_schedule_has_quiet_days_and_every_segment() -> None:
    """A week gets at least 8 incidents of 6+ kinds over all five segments, with day 0 and another day clean."""
    start = START.timestamp() * 1000.0
    week = build_schedule(start, 7 * 86_400_000.0, 2026, 11)
    assert len(week.incidents) >= 8 and len({i.kind for i in week.incidents}) >= 6
    assert {i.root_cause for i in week.incidents} == {"client", "network", "gateway", "service", "database"}
    busy = {int((i.start_ms - start) // 86_400_000) for i in week.incidents}
    assert 0 not in busy and len(set(range(7)) - busy) >= 2
    day = build_schedule(start, 86_400_000.0, 2026, 11)
    assert [i.kind for i in day.incidents] == [
        "frontend_js_error",
        "backend_latency_regression",
        "regional_network_slowdown",
        "flag_error_spike",
        "dependency_timeout",
    ]
    assert week.active("regional_network_slowdown", week.of_kind["regional_network_slowdown"][1].start_ms + 1)


def test_every_metric_is_measurable(ro: App) -> None:
    """Each registered metric returns a value on a busy hour, in its declared unit's range."""
    for name, metric in METRICS.items():
        m = measure(ro.store, name, {}, START + timedelta(hours=2), START + timedelta(hours=3))
        assert m.volume > 0 and m.value is not None, name
        if metric.kind == "rate":
            assert 0.0 <= m.value <= 1.0


def test_timezone_naive_windows_are_refused(ro: App) -> None:
    """A naive datetime is a mistake worth a message, not a silent local-time guess."""
    with pytest.raises(DetectError, match="time zone"):
        find_anomalies(ro.store, datetime(2026, 11, 2), datetime(2026, 11, 2, 6, tzinfo=UTC))
