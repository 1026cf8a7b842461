"""Run configuration and the state every session shares (generators, schedule, outputs, tallies)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import orjson

from seamline.simulate import model
from seamline.simulate.ids import Ids
from seamline.simulate.incidents import Schedule, iso_ms
from seamline.simulate.writers import Sink

if TYPE_CHECKING:
    from seamline.simulate.server import Backend
    from seamline.simulate.session import Session

DEFAULT_EVENTS_PER_DAY = 200_000
_CALIBRATED_SHARE = 0.12
EVENT_TYPES = ("page_view", "action", "request", "resource", "error", "vital", "visibility", "track", "identify")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Knobs of one run. `simulate()` fills the first four; the rest are the shop's habits."""

    seed: int
    events: int  # target output records (client events + access lines + log lines + spans)
    duration_s: float
    start_ms: float
    # Share of the client requests reaching a server that carry no propagated ids (0 .. ~0.3).
    # It is realised through the legacy widgets' firing chances below.
    legacy_share: float = 0.12
    # Share of devices whose SDK never propagates ids (an old SDK build, a header-stripping
    # proxy): none of their fetch/XHR carries a traceparent. Page loads still come back with
    # Server-Timing, which the server sends. Adds to the legacy share above.
    idless_device_share: float = 0.0
    # Cap on a device clock's offset (ms); offsets drawn beyond it are redrawn uniformly within
    # it. None keeps the full mix of clocks.py (including whole hours off).
    max_clock_offset_ms: float | None = None
    returning_share: float = 0.35  # sessions from a device seen before (same clock, maybe signed in)
    device_pool: int = 4_000  # devices remembered for returning visits (bounds memory)
    client_lines_per_file: int = 25_000
    otlp_lines_per_file: int = 1_000

    @property
    def _widget_scale(self) -> float:
        # Legacy calls L against propagated ones P give a share L / (P + L), so the firing
        # chances scale with share / (1 - share); 0.25 and 0.30 were measured to give 12%.
        s = min(max(self.legacy_share, 0.0), 0.95)
        return (s / (1.0 - s)) / (_CALIBRATED_SHARE / (1.0 - _CALIBRATED_SHARE))

    @property
    def reco_probability(self) -> float:
        """Chance a home or product page load calls the uninstrumented recommendations box."""
        return min(1.0, 0.25 * self._widget_scale)

    @property
    def stock_probability(self) -> float:
        """Chance a product page load sends the legacy stock XHR (no traceparent) through the gateway."""
        return min(1.0, 0.30 * self._widget_scale)


class SessionOver(Exception):
    """The simulated span ended (or the record budget is spent); a session stops at its next navigation."""


class World:
    """Shared by all sessions of a run."""

    def __init__(
        self,
        cfg: SimConfig,
        rng: random.Random,
        ids: Ids,
        schedule: Schedule,
        backend: Backend,
        sink: Sink,
        end_ms: float,
        clock_truth: IO[bytes],
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.ids = ids
        self.schedule = schedule
        self.backend = backend
        self.sink = sink
        self.end_ms = end_ms
        self.event_types: dict[str, int] = dict.fromkeys(EVENT_TYPES, 0)
        self.lost_requests = 0
        self.sessions = 0
        self.bad_web_releases = frozenset(i.scope["release"] for i in schedule.of_kind.get("frontend_js_error", ()))
        self._apps: dict[str, dict[str, str]] = {}
        self._clock_truth = clock_truth

    def slow_network(self, region: str, t: float) -> bool:
        """Whether a regional network slowdown hits `region` at a true instant."""
        inc = self.schedule.active("regional_network_slowdown", t)
        return inc is not None and inc.scope["region"] == region

    def app_context(self, release: str) -> dict[str, str]:
        """The shared `context.app` object for a frontend release."""
        app = self._apps.get(release)
        if app is None:
            app = self._apps[release] = {"name": model.APP_NAME, "release": release, "environment": model.ENVIRONMENT}
        return app

    def truth_clock(self, s: Session) -> None:
        """Record a session's true device clock in truth/clock_offsets.ndjson."""
        self.sessions += 1
        d = s.d
        row: dict[str, Any] = {
            "anonymous_id": d.anonymous_id,
            "session_id": s.sid,
            "session_start": iso_ms(s.t0),
            "session_start_ms": round(s.t0, 3),
            "offset_ms": round(d.offset_ms, 3),
            "drift_ms_per_min": round(d.drift, 3),
            "browser": d.browser.family,
            "region": d.region.name,
        }
        self._clock_truth.write(orjson.dumps(row) + b"\n")
