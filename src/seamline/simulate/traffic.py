"""Traffic: who visits when, and the event loop that runs all sessions side by side.

Sessions arrive as a Poisson process whose rate follows each region's local day (a lunch
bump and an evening peak), so the global curve is the sum of time zones. The rate is
steered as the run goes so the total number of output records lands on the requested
count: it divides what is still missing by the records an average session produced so far
and by the traffic weight left in the span.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator

from seamline.simulate import model
from seamline.simulate.clocks import sample_drift, sample_offset
from seamline.simulate.flows import run_session
from seamline.simulate.incidents import flag_buckets
from seamline.simulate.session import Device, Session
from seamline.simulate.world import World

_MIN_MS = 60_000.0
_DAY_MIN = 1440
_PRIOR_RECORDS = 45.0  # records per session assumed before enough sessions finished
_PRIOR_WEIGHT = 8.0
# Browser mix leans by region: Android dominates in India and Brazil, iPhones in the US.
_BROWSER_LEAN = {
    "ap-south": {"android_chrome": 2.6},
    "sa-east": {"android_chrome": 1.8},
    "us-east": {"mobile_safari": 1.4},
    "us-west": {"mobile_safari": 1.4, "safari": 1.3},
}


def _activity(hour: float) -> float:
    """Relative visits by local hour: a morning rise, a lunch bump, an evening peak, quiet nights."""

    def bump(center: float, width: float, height: float) -> float:
        d = abs(hour - center)
        d = min(d, 24.0 - d)
        return height * math.exp(-((d / width) ** 2))

    return 0.06 + bump(9.0, 1.6, 0.30) + bump(13.0, 3.0, 0.55) + bump(20.5, 2.4, 0.95)


class Diurnal:
    """Arrival weight per minute over the span (mean 1 over a day) and the region mix per minute."""

    def __init__(self, start_ms: float, span_ms: float) -> None:
        regions = model.REGIONS
        self.per_minute: list[list[float]] = []
        totals: list[float] = []
        for m in range(_DAY_MIN):
            ws = [r.weight * _activity(((m / 60.0) + r.utc_offset_h) % 24.0) for r in regions]
            self.per_minute.append(ws)
            totals.append(sum(ws))
        mean = sum(totals) / _DAY_MIN
        self.total = [x / mean for x in totals]
        self.start_ms = start_ms
        self.m0 = int(start_ms // _MIN_MS) % _DAY_MIN
        n = math.ceil(span_ms / _MIN_MS) + 1
        cum = [0.0] * (n + 1)
        for i in range(n):
            cum[i + 1] = cum[i] + self.total[(self.m0 + i) % _DAY_MIN] * _MIN_MS
        self.cum = cum
        self.end_mass = self._mass(start_ms + span_ms)

    def _mass(self, t: float) -> float:
        x = (t - self.start_ms) / _MIN_MS
        i = min(max(int(x), 0), len(self.cum) - 2)
        return self.cum[i] + (x - i) * (self.cum[i + 1] - self.cum[i])

    def weight(self, t: float) -> float:
        """Relative arrival rate at a true instant."""
        return self.total[int(t // _MIN_MS) % _DAY_MIN]

    def remaining(self, t: float) -> float:
        """Arrival weight left between `t` and the end of the span (weight × ms)."""
        return max(self.end_mass - self._mass(t), 1e-9)

    def region(self, rng: random.Random, t: float) -> model.Region:
        """A region drawn by who is awake at `t`."""
        return rng.choices(model.REGIONS, self.per_minute[int(t // _MIN_MS) % _DAY_MIN])[0]


def _browser_weights() -> dict[str, list[float]]:
    out = {}
    for r in model.REGIONS:
        lean = _BROWSER_LEAN.get(r.name, {})
        out[r.name] = [b.weight * lean.get(b.family, 1.0) for b in model.BROWSERS]
    return out


class Traffic:
    """Runs arrivals and sessions in true-time order, releasing finished records to the writers."""

    def __init__(self, world: World, start_ms: float, end_ms: float, target: int) -> None:
        self.w = world
        self.rng = world.rng
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.target = target
        self.diurnal = Diurnal(start_ms, end_ms - start_ms)
        self.browser_weights = _browser_weights()
        self.pool: list[Device] = []
        self.devices = 0
        self._heap: list[tuple[float, int, Iterator[float], Session | None]] = []
        self._seq = 0
        self.active = 0
        self.active_records = 0
        self.finished = 0
        self.finished_records = 0

    def run(self) -> None:
        """Simulate the whole span."""
        heap = self._heap
        sink = self.w.sink
        self._push(self.start_ms, self._arrivals(), None)
        while heap:
            t, _, it, sess = heapq.heappop(heap)
            sink.release(t)
            before = sink.pushed
            nxt = next(it, None)
            if sess is not None:
                made = sink.pushed - before
                sess.records += made
                self.active_records += made
                if nxt is None:
                    self.active -= 1
                    self.active_records -= sess.records
                    self.finished += 1
                    self.finished_records += sess.records
            if nxt is not None:
                self._push(nxt, it, sess)

    def _push(self, t: float, it: Iterator[float], sess: Session | None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, it, sess))

    def _rate(self, t: float) -> float:
        """Sessions per ms wanted at `t` to end the span at the target record count."""
        avg = (self.finished_records + _PRIOR_RECORDS * _PRIOR_WEIGHT) / (self.finished + _PRIOR_WEIGHT)
        in_flight = max(0.0, self.active * avg - self.active_records)
        missing = self.target - self.w.sink.pushed - in_flight
        if missing <= 0:
            return 0.0
        return missing / avg / self.diurnal.remaining(t) * self.diurnal.weight(t)

    def _arrivals(self) -> Iterator[float]:
        rng = self.rng
        t = self.start_ms
        while True:
            rate = self._rate(t)
            if rate <= 0.0:
                t += _MIN_MS  # ahead of target for now: look again in a minute
            else:
                t += rng.expovariate(rate)
            if t >= self.end_ms:
                return
            yield t
            if rate > 0.0:
                sess = Session(self.w, self._device(t), t)
                self.active += 1
                self._push(t, run_session(sess), sess)

    def _device(self, t: float) -> Device:
        rng = self.rng
        cfg = self.w.cfg
        pool = self.pool
        if pool and rng.random() < cfg.returning_share:
            return rng.choice(pool)
        region = self.diurnal.region(rng, t)
        browser = rng.choices(model.BROWSERS, self.browser_weights[region.name])[0]
        mobile = browser.device != "desktop"
        weights = [n.weight_mobile if mobile else n.weight_desktop for n in model.NETWORKS]
        network = rng.choices(model.NETWORKS, weights)[0]
        anonymous_id = self.w.ids.short("a_", 64)
        access_rtt = rng.uniform(*network.rtt_ms)
        downlink = rng.uniform(*network.downlink_mbps)
        offset = sample_offset(rng)
        cap = cfg.max_clock_offset_ms
        if cap is not None and abs(offset) > cap:
            offset = rng.uniform(-cap, cap)
        device = Device(
            anonymous_id=anonymous_id,
            browser=browser,
            region=region,
            network=network,
            access_rtt=access_rtt,
            downlink=downlink,
            offset_ms=offset,
            drift=sample_drift(rng),
            cpu=rng.uniform(1.3, 3.5) if browser.device == "mobile" else rng.uniform(0.7, 1.4),
            buckets=flag_buckets(anonymous_id),
            ipv6=rng.random() < (0.35 if mobile else 0.12),
        )
        # Drawn only when asked for, so default runs keep their random stream (and their bytes).
        if cfg.idless_device_share > 0.0:
            device.propagates = rng.random() >= cfg.idless_device_share
        self.devices += 1
        if len(pool) < cfg.device_pool:
            pool.append(device)
        else:
            pool[rng.randrange(len(pool))] = device
        return device
