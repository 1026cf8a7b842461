"""Device clocks that are wrong in the ways real ones are.

Most devices sync over NTP and sit within a second or two; some never sync and are tens of
seconds to minutes off; a few have the wrong time zone or a hand-set clock and are whole
hours off. Some also drift while a session runs (cheap oscillators, throttled timers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_MINUTE_MS = 60_000.0
_HOURS_OFF = (-12, -8, -5, -3, -2, -1, 1, 2, 3, 5, 8, 12)


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """A device clock for one session: device time = true time + offset + drift since start."""

    offset_ms: float  # device minus server clock at `t0_ms`
    drift_ms_per_min: float
    t0_ms: float  # true time the session started

    def device_ms(self, true_ms: float) -> float:
        """What the device clock reads at a true (server clock) instant, to 0.1 ms like performance.now()."""
        return round(true_ms + self.offset_ms + self.drift_ms_per_min * (true_ms - self.t0_ms) / _MINUTE_MS, 1)

    def offset_at(self, true_ms: float) -> float:
        """The true offset at an instant, for ground truth."""
        return self.offset_ms + self.drift_ms_per_min * (true_ms - self.t0_ms) / _MINUTE_MS


def sample_offset(rng: random.Random) -> float:
    """A device's base offset in ms, from the mix described in the module docstring."""
    u = rng.random()
    if u < 0.80:
        return max(-2000.0, min(2000.0, rng.gauss(0.0, 650.0)))
    sign = -1.0 if rng.random() < 0.5 else 1.0
    if u < 0.88:
        return sign * rng.uniform(2_000.0, 10_000.0)
    if u < 0.975:
        return sign * 10_000.0 * (36.0 ** rng.random())  # log-uniform 10 s .. 6 min
    # a wrong zone or a hand-set clock: whole hours plus whatever minutes it was set off by
    return rng.choice(_HOURS_OFF) * 3_600_000.0 + rng.gauss(0.0, 40_000.0)


def sample_drift(rng: random.Random) -> float:
    """Drift in ms per minute: zero for most devices, tens of ms per minute for about a fifth."""
    if rng.random() < 0.8:
        return 0.0
    return max(-150.0, min(150.0, rng.gauss(0.0, 40.0)))
