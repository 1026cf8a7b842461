"""One browser session: page loads, clicks, fetches and the SDK batching what it saw.

A session is a generator the traffic loop resumes at each navigation. Everything between
two navigations (load, vitals, the clicks on that page and the requests they cause) is
produced in one go, with true times in the future of the resume point; the reorder buffer
in `writers.Sink` puts the records in order. Times are true (server clock) milliseconds;
only what the SDK writes is converted to the device clock.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import orjson

from seamline.simulate import model
from seamline.simulate.clocks import DeviceClock
from seamline.simulate.pages import load_page, rating
from seamline.simulate.server import Backend
from seamline.simulate.services import Visitor
from seamline.simulate.world import World
from seamline.simulate.writers import CLIENT

_FLUSH_MS = 5_000.0  # SDK flush interval
_MAX_BATCH = 30  # SDK flushes at this many buffered events
_ORIGIN = model.ORIGIN


@dataclass(slots=True)
class Device:
    """A browser profile: what stays the same across one visitor's sessions."""

    anonymous_id: str
    browser: model.Browser
    region: model.Region
    network: model.Network
    access_rtt: float
    downlink: float
    offset_ms: float
    drift: float
    cpu: float  # how slow the device is at parsing and running script (1 = a good laptop)
    buckets: tuple[int, ...]
    ipv6: bool
    user_id: str | None = None
    segment: str | None = None
    cached_release: str = ""
    propagates: bool = True  # False: the SDK sends no traceparent on any request


class Session:
    """A visit to the shop by one device; `flows.run_session` drives it, the traffic loop resumes it."""

    def __init__(self, world: World, device: Device, t0: float) -> None:
        self.w = world
        self.d = device
        self.rng: random.Random = world.rng
        self.backend: Backend = world.backend
        rng = self.rng
        self.t0 = t0
        self.sid = world.ids.short("s_", 40)
        self.clock = DeviceClock(device.offset_ms, device.drift, t0)
        region = device.region
        if device.ipv6:
            ip = f"{region.ipv6_prefix}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
        else:
            ip = f"{rng.choice(region.ipv4_prefixes)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        self.visitor = Visitor(ip, device.browser.ua, device.buckets, device.user_id, f"c_{rng.getrandbits(32):08x}")
        self.proto = "HTTP/1.1" if rng.random() < 0.12 else "HTTP/2.0"
        self.sess: dict[str, str] = {"id": self.sid, "anonymousId": device.anonymous_id}
        if device.user_id:
            self.sess["userId"] = device.user_id
        self.buf: list[dict[str, Any]] = []
        self.deadline = 0.0
        self.n = 0
        self.pages = 0
        self.url = ""
        self.route = ""
        self.ctx: dict[str, Any] = {}
        self.rtt = 50.0
        self.down = 10.0
        self.interactions = 0
        self.cart_items = 0
        self.price_bug = False
        self.degraded = False
        self.records = 0  # filled in by the traffic loop; steers the rate controller
        world.truth_clock(self)

    # --- SDK: buffer and flush -----------------------------------------------------------------
    def next_id(self) -> str:
        """The next event id; ids only need to be unique within the session."""
        self.n += 1
        return f"e{self.n}"

    def emit(self, t: float, ev: dict[str, Any]) -> None:
        """Hand an event to the SDK at true time `t`; flushes by timer or size like the real SDK."""
        buf = self.buf
        if buf and t > self.deadline:
            self.flush(self.deadline)
            buf = self.buf
        if not buf:
            self.deadline = t + _FLUSH_MS
        buf.append(ev)
        self.w.event_types[ev["type"]] += 1
        if len(buf) >= _MAX_BATCH:
            self.flush(t + 0.5)

    def flush(self, send: float) -> None:
        """Send the buffer as one batch; the collector stamps `receivedAt` on arrival."""
        buf = self.buf
        if not buf:
            return
        rng = self.rng
        send += rng.uniform(0.1, 3.0)
        if rng.random() < 0.004:
            send += rng.uniform(10_000.0, 120_000.0)  # offline: the SDK retries later
        upload = (400 + 260 * len(buf)) * 0.02 / self.down  # uplinks are slower than downlinks
        latency = self.rtt * 0.5 * rng.uniform(0.9, 1.4) + upload + rng.uniform(0.5, 4.0)
        received = send + latency
        batch = {
            "v": 1,
            "sdk": model.SDK,
            "sentAt": self.clock.device_ms(send),
            "receivedAt": round(received, 1),
            "session": self.sess,
            "context": self.ctx,
            "events": buf,
        }
        self.w.sink.push(received, CLIENT, (orjson.dumps(batch) + b"\n", len(buf)), len(buf))
        self.buf = []

    # --- network and page context ---------------------------------------------------------------
    def set_conditions(self, t: float) -> None:
        """This page's round trip and downlink: the device's network, its region's distance, any incident."""
        d = self.d
        rng = self.rng
        rtt = d.access_rtt * rng.uniform(0.85, 1.25) + d.region.extra_rtt_ms
        down = d.downlink * rng.uniform(0.8, 1.1)
        if self.w.slow_network(d.region.name, t):
            rtt += rng.uniform(700.0, 1200.0)
            down *= 0.15
        self.rtt, self.down = rtt, down

    def set_context(self, t: float, url: str, referrer: str) -> None:
        """The batch `context` for a new page: release, flags and network as they are at load time."""
        d = self.d
        sched = self.w.schedule
        ctx: dict[str, Any] = {
            "app": self.w.app_context(sched.release("shop-web", t)),
            "userAgent": d.browser.ua,
            "page": {"url": url, "referrer": referrer} if referrer != "-" else {"url": url},
        }
        if d.browser.netinfo:  # Chrome rounds rtt to 25 ms and downlink to 25 kbps, capped at 10 Mbps
            ctx["network"] = {
                "effectiveType": model.effective_type(self.rtt, self.down),
                "rtt": min(3000, round(self.rtt / 25) * 25),
                "downlink": min(10.0, round(self.down * 40) / 40),
            }
        ctx["flags"] = sched.flags_for(d.buckets, t)
        ctx["region"] = d.region.name
        if d.segment:
            ctx["segment"] = d.segment
        self.ctx = ctx

    def truth(
        self,
        eid: str,
        etype: str,
        flow: str,
        action_id: str | None,
        method: str,
        url: str,
        propagation: str,
        traceparent: str | None,
    ) -> dict[str, Any]:
        """The client half of a truth link; the gateway adds the server half, the writer the line number."""
        return {
            "session_id": self.sid,
            "anonymous_id": self.d.anonymous_id,
            "event_id": eid,
            "event_type": etype,
            "flow": flow,
            "action_id": action_id,
            "method": method,
            "url": url,
            "propagation": propagation,
            "propagated": propagation != "none",
            "client_traceparent": traceparent,
        }

    # --- page loads ------------------------------------------------------------------------------
    def page(self, t: float, path: str, route: str, flow: str, referrer: str, pid: str = "", query: str = "") -> float:
        """Navigate to `path` at true time `t`; returns when the page finished loading (see pages.py)."""
        return load_page(self, t, path, route, flow, referrer, pid, query)

    def error(self, t: float, etype: str, message: str, source: str, fn: str, release: str | None = None) -> None:
        """A JS error as window.onerror / unhandledrejection report it; the stack shape depends on the engine."""
        bundle = f"{_ORIGIN}/static/app.{zlib.crc32((release or self.ctx['app']['release']).encode()):08x}.js"
        col = 48_213 if fn == "renderPrice" else 10_000 + zlib.crc32(fn.encode()) % 80_000
        if self.d.browser.family in ("firefox", "safari", "mobile_safari"):
            stack = f"{fn}@{bundle}:1:{col}\ndispatch@{bundle}:1:2210"
        else:
            stack = f"{etype}: {message}\n    at {fn} ({bundle}:1:{col})\n    at dispatch ({bundle}:1:2210)"
        err: dict[str, Any] = {"type": etype, "message": message, "stack": stack, "source": source}
        if source == "error":
            err.update(filename=bundle, line=1, col=col)
        self.emit(t, {"type": "error", "id": self.next_id(), "ts": self.clock.device_ms(t), "error": err})

    # --- user actions and requests -----------------------------------------------------------
    def action(self, t: float, kind: str, target: str, name: str) -> str:
        """A click/submit/keypress; returns its action id for the requests it causes."""
        aid = f"act{self.n + 1}"
        self.emit(
            t,
            {
                "type": "action",
                "id": self.next_id(),
                "ts": self.clock.device_ms(t),
                "actionId": aid,
                "action": {"kind": kind, "target": target, "name": name},
            },
        )
        self.interactions += 1
        return aid

    def request(
        self,
        t: float,
        method: str,
        path: str,
        route: str,
        flow: str,
        action_id: str | None,
        *,
        initiator: str = "fetch",
        traced: bool = True,
        legacy_edge: bool = False,
        req_bytes: int = 0,
        pid: str = "",
        query: str = "",
    ) -> tuple[int, float]:
        """A fetch/XHR leaving the browser at true time `t`; returns (status, completion time)."""
        rng = self.rng
        rtt, down = self.rtt, self.down
        traced = traced and self.d.propagates
        eid = self.next_id()
        url = (model.LEGACY_ORIGIN if legacy_edge else _ORIGIN) + path
        up = rtt * 0.5 * rng.uniform(0.9, 1.3) + req_bytes * 0.02 / down
        if legacy_edge:
            up += rtt * 2.0  # another origin: its own TCP and TLS handshakes
        ev: dict[str, Any] = {"type": "request", "id": eid, "ts": self.clock.device_ms(t)}
        if action_id:
            ev["actionId"] = action_id
        loss = self.d.network.loss * (8.0 if self.rtt > 900 else 1.0)
        if rng.random() < loss:  # never reached a server: status 0, no server record
            dur = rng.uniform(30.0, 4_000.0)
            ev["request"] = {
                "method": method,
                "url": url,
                "status": 0,
                "duration": round(dur, 1),
                "initiator": initiator,
            }
            self.emit(t + dur, ev)
            self.w.lost_requests += 1
            message = model.FAILED_FETCH[self.d.browser.family]
            self.error(t + dur + 0.5, "TypeError", message, "unhandledrejection", "request")
            return 0, t + dur
        traceparent = None
        parent = None
        if traced:
            parent = (self.w.ids.trace(), self.w.ids.span())
            traceparent = f"00-{parent[0]}-{parent[1]}-01"
            ev["traceparent"] = traceparent
        propagation = "traceparent" if traced else "none"
        truth = self.truth(eid, "request", flow, action_id, method, url, propagation, traceparent)
        app_ms = None
        if legacy_edge:
            status, size, rt = self.backend.legacy(t + up, path, self.visitor, _ORIGIN + "/", truth)
        else:
            served = self.backend.gateway(
                t + up,
                method,
                path,
                route,
                self.visitor,
                self.url,
                traceparent=traceparent,
                parent=parent,
                proto=self.proto,
                pid=pid,
                query=query,
                truth=truth,
            )
            status, size, rt, app_ms = served.status, served.response_bytes, served.request_time_ms, served.app_ms
        dur = up + rt + rtt * 0.5 * rng.uniform(0.9, 1.2) + size * 0.008 / down + rng.uniform(0.3, 2.5)
        req: dict[str, Any] = {
            "method": method,
            "url": url,
            "status": status,
            "duration": round(dur, 1),
            "initiator": initiator,
            "responseBytes": size,
        }
        if req_bytes:
            req["requestBytes"] = req_bytes
        if traced and app_ms is not None:
            req["serverTiming"] = {"app": round(app_ms, 1)}
        ev["request"] = req
        truth["client_status"] = status
        truth["client_duration_ms"] = round(dur, 1)
        self.emit(t + dur, ev)
        return status, t + dur

    def track(self, t: float, event: str, properties: dict[str, Any]) -> None:
        """A Segment-style named product event."""
        self.emit(
            t,
            {
                "type": "track",
                "id": self.next_id(),
                "ts": self.clock.device_ms(t),
                "event": event,
                "properties": properties,
            },
        )

    def identify(self, t: float, user_id: str, segment: str) -> None:
        """identify(): ties the anonymous id to a user; later batches carry session.userId."""
        self.emit(
            t,
            {
                "type": "identify",
                "id": self.next_id(),
                "ts": self.clock.device_ms(t),
                "userId": user_id,
                "traits": {"plan": segment},
            },
        )
        self.d.user_id, self.d.segment = user_id, segment
        self.visitor.user_id = user_id
        self.sess = {**self.sess, "userId": user_id}  # batches already queued keep the old dict
        self.ctx = {**self.ctx, "segment": segment}

    def leave(self, t: float) -> float:
        """The page is hidden: CLS and INP are final, the SDK beacons its buffer; returns navigation start."""
        rng = self.rng
        cls = round(rng.random() ** 4 * 0.45, 4)
        self.emit(
            t,
            {
                "type": "vital",
                "id": self.next_id(),
                "ts": self.clock.device_ms(t),
                "vital": {"name": "CLS", "value": cls, "rating": rating("CLS", cls)},
            },
        )
        if self.interactions:
            inp = self.d.cpu * rng.lognormvariate(4.3, 0.5)
            self.emit(
                t,
                {
                    "type": "vital",
                    "id": self.next_id(),
                    "ts": self.clock.device_ms(t),
                    "vital": {"name": "INP", "value": round(inp, 1), "rating": rating("INP", inp)},
                },
            )
        self.flush(t + 1.0)
        return t + rng.uniform(4.0, 40.0)

    def hide(self, t: float) -> None:
        """The tab goes to the background for good: the end of the session."""
        self.emit(t, {"type": "visibility", "id": self.next_id(), "ts": self.clock.device_ms(t), "state": "hidden"})
        self.leave(t)

    def go(
        self, t: float, path: str, route: str, flow: str, pid: str = "", query: str = ""
    ) -> Generator[float, None, float]:
        """Leave the current page and load the next one; suspends the session at the navigation."""
        referrer = self.url
        t = self.leave(t)
        yield t
        return self.page(t, path, route, flow, referrer, pid, query)

    def think(self, t: float, median_s: float = 7.0) -> float:
        """The user reads or types for a while."""
        return t + 1000.0 * median_s * self.rng.lognormvariate(0.0, 0.7)
