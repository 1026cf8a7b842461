"""The public entry point: set up outputs, run the traffic, write the ground truth and summary."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from seamline.simulate import model
from seamline.simulate.ids import Ids
from seamline.simulate.incidents import build_schedule, iso_ms
from seamline.simulate.otlp import Resources
from seamline.simulate.server import Backend
from seamline.simulate.traffic import Traffic
from seamline.simulate.world import DEFAULT_EVENTS_PER_DAY, SimConfig, World
from seamline.simulate.writers import AccessLogWriter, LineWriter, OtlpWriter, RotatingWriter, Sink, Writer

DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC)
GATEWAY_LOG_FORMAT = (
    'log_format seamline \'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time $upstream_response_time $request_id '
    '"$http_traceparent"\';'
)
LEGACY_LOG_FORMAT = (
    'log_format combined \'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"\';'
)
_JSON_OPTS = orjson.OPT_INDENT_2


@dataclass(slots=True)
class SimulationSummary:
    """What a run wrote: counts per file and per kind, the span, and the injected incidents."""

    seed: int
    start: str
    end: str
    duration_s: float
    events_target: int
    records: int  # client events + access-log lines + service log lines + spans
    files: dict[str, int] = field(default_factory=dict)  # path under out_dir -> records in it
    kinds: dict[str, int] = field(default_factory=dict)
    client_event_types: dict[str, int] = field(default_factory=dict)
    sessions: int = 0
    devices: int = 0
    links: int = 0
    unpropagated_links: int = 0
    legacy_share: float = 0.0  # measured share of server-reaching client requests without ids
    legacy_share_target: float = 0.0
    lost_requests: int = 0  # client requests that never reached a server (status 0)
    first_record: str = ""
    last_record: str = ""
    incidents: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what truth/summary.json holds)."""
        return asdict(self)


def simulate(
    out_dir: Path,
    seed: int = 7,
    events: int | None = None,
    duration_s: float | None = None,
    start: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    idless_devices: float = 0.0,
) -> SimulationSummary:
    """Write a simulated day (or `duration_s`) of shop traffic with injected incidents to `out_dir`.

    `events` is the target number of output records (met within a few percent); without it the
    rate is about 200k records per simulated day. `start` defaults to 2026-11-02T00:00:00Z; a
    naive datetime is taken as UTC. `progress(n)` is called now and then with records written.
    `idless_devices` is the share of devices whose SDK never propagates ids (legacy clients).
    """
    if duration_s is None:
        duration_s = 86_400.0
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    if events is None:
        events = max(1, round(DEFAULT_EVENTS_PER_DAY * duration_s / 86_400.0))
    if events <= 0:
        raise ValueError("events must be positive")
    start = start or DEFAULT_START
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    cfg = SimConfig(
        seed=seed,
        events=events,
        duration_s=float(duration_s),
        start_ms=start.timestamp() * 1000.0,
        idless_device_share=idless_devices,
    )
    return run(cfg, Path(out_dir), progress)


def _clear_stale(out: Path) -> None:
    # Numbered files from an earlier, larger run would otherwise be read as part of this one.
    for pattern in ("client/events-*.ndjson", "otlp/traces-*.json"):
        for stale in out.glob(pattern):
            stale.unlink()


def run(cfg: SimConfig, out: Path, progress: Callable[[int], None] | None = None) -> SimulationSummary:
    """Run a configured simulation into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    _clear_stale(out)
    for sub in ("client", "gateway", "legacy", "services", "otlp", "truth"):
        (out / sub).mkdir(exist_ok=True)
    (out / "gateway" / "log_format.txt").write_text(GATEWAY_LOG_FORMAT + "\n")
    (out / "legacy" / "log_format.txt").write_text(LEGACY_LOG_FORMAT + "\n")
    start_ms = cfg.start_ms
    end_ms = start_ms + cfg.duration_s * 1000.0
    start_dt = datetime.fromtimestamp(start_ms / 1000.0, tz=UTC)
    schedule = build_schedule(start_ms, end_ms - start_ms, start_dt.year, start_dt.month)
    rng = random.Random(cfg.seed)
    ids = Ids(rng)
    res = Resources()
    with (
        (out / "truth" / "links.ndjson").open("wb", buffering=1 << 20) as links,
        (out / "truth" / "clock_offsets.ndjson").open("wb", buffering=1 << 20) as clocks,
    ):
        client = RotatingWriter(out, "client/events-{:03d}.ndjson", cfg.client_lines_per_file)
        gateway = AccessLogWriter(out, "gateway/access.log", links)
        legacy = AccessLogWriter(out, "legacy/access.log", links)
        otlp = OtlpWriter(out, "otlp/traces-{:03d}.json", cfg.otlp_lines_per_file, res)
        logs = [LineWriter(out, f"services/{name}.ndjson") for name in model.SERVICES]
        writers: list[Writer] = [client, gateway, legacy, otlp, *logs]
        sink = Sink(writers, progress)
        backend = Backend(rng, ids, schedule, sink, res)
        world = World(cfg, rng, ids, schedule, backend, sink, end_ms, clocks)
        traffic = Traffic(world, start_ms, end_ms, cfg.events)
        traffic.run()
        sink.close()
    files: dict[str, int] = {}
    for w in writers:
        files.update(w.files())
    reached = gateway.links + legacy.links
    summary = SimulationSummary(
        seed=cfg.seed,
        start=iso_ms(start_ms),
        end=iso_ms(end_ms),
        duration_s=cfg.duration_s,
        events_target=cfg.events,
        records=sink.written,
        files=files,
        kinds={
            "client_events": client.records,
            "client_batches": client.lines_total,
            "gateway_access": gateway.records,
            "legacy_access": legacy.records,
            "service_logs": sum(w.records for w in logs),
            "spans": otlp.records,
            "otlp_requests": otlp.lines_total,
        },
        client_event_types=dict(world.event_types),
        sessions=world.sessions,
        devices=traffic.devices,
        links=reached,
        unpropagated_links=gateway.unpropagated + legacy.unpropagated,
        legacy_share=round((gateway.unpropagated + legacy.unpropagated) / reached, 4) if reached else 0.0,
        legacy_share_target=cfg.legacy_share,
        lost_requests=world.lost_requests,
        first_record=iso_ms(sink.first_ms) if sink.written else "",
        last_record=iso_ms(sink.last_ms) if sink.written else "",
        incidents=[i.as_dict() for i in schedule.incidents],
    )
    truth = out / "truth"
    (truth / "incidents.json").write_bytes(orjson.dumps([i.as_dict() for i in schedule.incidents], option=_JSON_OPTS))
    (truth / "releases.json").write_bytes(orjson.dumps([r.as_dict() for r in schedule.releases], option=_JSON_OPTS))
    (truth / "flags.json").write_bytes(orjson.dumps([f.as_dict() for f in schedule.flags], option=_JSON_OPTS))
    (truth / "summary.json").write_bytes(orjson.dumps(summary.as_dict(), option=_JSON_OPTS))
    return summary


def raw_inputs(out: Path) -> list[tuple[Path, dict[str, str]]]:
    """Every raw file a simulation wrote, with the ingest options it needs, in `make demo`'s order.

    The legacy service's access log says nothing about its service, so it is named here; the
    `log_format.txt` files describe their neighbours and are not inputs themselves.
    """
    files: list[tuple[Path, dict[str, str]]] = [
        (path, {})
        for folder in ("client", "gateway", "services", "otlp")
        for path in sorted((out / folder).iterdir())
        if path.name != "log_format.txt"
    ]
    return [*files, (out / "legacy" / "access.log", {"service": "legacy"})]
