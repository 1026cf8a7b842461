"""Page loads: the document request, navigation timing, web vitals, the bundle, on-load calls.

Timings are built the way a browser accumulates them: connection set-up on the first page
of a visit (DNS, TCP, TLS) and a reused connection after; the document's server time from
the gateway; transfer at the device's downlink; parse and render scaled by how slow the
device is; the new bundle only when the cached release differs from the deployed one.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from seamline.simulate import model
from seamline.simulate.world import SessionOver

if TYPE_CHECKING:
    from seamline.simulate.session import Session

_ORIGIN = model.ORIGIN
# web-vitals thresholds: (good up to, poor above)
_THRESHOLDS = {
    "LCP": (2500.0, 4000.0),
    "FCP": (1800.0, 3000.0),
    "TTFB": (800.0, 1800.0),
    "INP": (200.0, 500.0),
    "CLS": (0.1, 0.25),
}


def rating(name: str, value: float) -> str:
    """The web-vitals rating of a measurement."""
    good, poor = _THRESHOLDS[name]
    return "good" if value <= good else ("poor" if value > poor else "needs-improvement")


def load_page(s: Session, t: float, path: str, route: str, flow: str, referrer: str, pid: str, query: str) -> float:
    """Navigate to `path` at true time `t`; returns when the page finished loading."""
    w = s.w
    if t >= w.end_ms or w.sink.pushed >= w.cfg.events:  # span over, or the record budget spent
        raise SessionOver
    rng = s.rng
    d = s.d
    s.set_conditions(t)
    rtt, down = s.rtt, s.down
    url = _ORIGIN + path
    s.set_context(t, url, referrer)
    s.url, s.route = url, route
    if s.pages == 0:  # cold connection: DNS, TCP, TLS 1.3
        dns = rng.uniform(1.0, 35.0)
        tls = dns + rtt * rng.uniform(1.0, 1.1)
        connect = tls + rtt * rng.uniform(1.0, 1.1)
    else:  # kept-alive connection: secureConnectionStart is 0 when no handshake happened
        dns = rng.uniform(0.1, 2.5)
        tls = 0.0
        connect = dns + rng.uniform(0.0, 0.4)
    eid = s.next_id()
    truth = s.truth(eid, "page_view", flow, None, "GET", url, "server-timing", None)
    sent = connect + rng.uniform(0.5, 3.0)
    up = rtt * 0.5 * rng.uniform(0.9, 1.2)
    served = s.backend.gateway(
        t + sent + up,
        "GET",
        path,
        route,
        s.visitor,
        referrer,
        traceparent=None,
        parent=None,
        proto=s.proto,
        pid=pid,
        query=query,
        truth=truth,
    )
    traceparent = f"00-{served.trace_id}-{served.span_id}-01"  # from the Server-Timing header
    truth["client_traceparent"] = traceparent
    s.degraded = served.degraded
    ttfb = sent + up + served.request_time_ms + rtt * 0.5 * rng.uniform(0.9, 1.2)
    resp_end = ttfb + served.response_bytes * 0.008 / down
    parse = d.cpu * rng.uniform(40.0, 140.0)
    release = s.ctx["app"]["release"]
    assets = 0.0
    if d.cached_release != release:  # a new bundle (first visit or a deploy) comes over the wire
        assets = _assets(s, t + resp_end, release, url)
        d.cached_release = release
    dom_i = resp_end + parse + assets
    dcl = dom_i + d.cpu * rng.uniform(4.0, 30.0)
    fcp = resp_end + parse * 0.6 + assets
    img = rng.uniform(20.0, 400.0) + rng.uniform(30_000.0, 160_000.0) * 0.008 / down + rtt
    lcp = fcp + img * rng.uniform(0.3, 1.0)
    load = max(dcl, lcp) + rng.uniform(5.0, 120.0)
    clock = s.clock.device_ms
    u = rng.random()
    nav = {
        "type": "navigate" if u < 0.92 else ("back_forward" if u < 0.97 else "reload"),
        "dns": round(dns, 1),
        "connect": round(connect, 1),
        "tls": round(tls, 1),
        "ttfb": round(ttfb, 1),
        "domInteractive": round(dom_i, 1),
        "domContentLoaded": round(dcl, 1),
        "load": round(load, 1),
        "transferSize": served.response_bytes + 320,
    }
    page: dict[str, Any] = {"url": url, "title": model.PAGE_TITLES[route]}
    if referrer != "-":
        page["referrer"] = referrer
    t_load = t + load
    s.emit(
        t_load,
        {
            "type": "page_view",
            "id": eid,
            "ts": clock(t),
            "page": page,
            "nav": nav,
            "duration": round(load, 1),
            "traceparent": traceparent,
        },
    )
    for name, value in (("TTFB", ttfb), ("FCP", fcp), ("LCP", lcp)):
        s.emit(
            t_load,
            {
                "type": "vital",
                "id": s.next_id(),
                "ts": clock(t + value),
                "vital": {"name": name, "value": round(value, 1), "rating": rating(name, value)},
            },
        )
    s.pages += 1
    s.interactions = 0
    s.price_bug = False
    _page_errors(s, t + dcl, route, release)
    _widgets(s, t_load, route, pid, flow)
    return t_load


def _assets(s: Session, t: float, release: str, page_url: str) -> float:
    h = f"{zlib.crc32(release.encode()):08x}"
    longest = 0.0
    for path, size, kind in ((f"/static/app.{h}.js", 182_000, "script"), (f"/static/app.{h}.css", 41_000, "link")):
        start = t + s.rng.uniform(1.0, 6.0)
        up = s.rtt * 0.5
        rt = s.backend.static(start + up, path, size, s.visitor, page_url, s.proto)
        dur = up + rt + s.rtt * 0.5 + size * 0.008 / s.down
        s.emit(
            start + dur,
            {
                "type": "resource",
                "id": s.next_id(),
                "ts": s.clock.device_ms(start),
                "resource": {
                    "url": _ORIGIN + path,
                    "initiatorType": kind,
                    "duration": round(dur, 1),
                    "transferSize": size + 300,
                },
            },
        )
        longest = max(longest, start - t + dur)
    return longest


def _page_errors(s: Session, t: float, route: str, release: str) -> None:
    rng = s.rng
    family = s.d.browser.family
    if route == "/product/{id}" and release in s.w.bad_web_releases and rng.random() < 0.7:
        s.price_bug = True
        s.error(t, "TypeError", model.PRICE_BUG[family], "error", "renderPrice", release)
    elif rng.random() < 0.006:
        etype, message, source = rng.choice(model.BASELINE_ERRORS)
        s.error(t + rng.uniform(0.0, 5_000.0), etype, message, source, "onReady", release)


def _widgets(s: Session, t: float, route: str, pid: str, flow: str) -> None:
    """Legacy widgets that bypass the SDK's fetch wrapper: no traceparent on what they send."""
    rng = s.rng
    cfg = s.w.cfg
    if route == "/product/{id}" and s.degraded:  # the skeleton page asks for its data itself
        status, _ = s.request(
            t + rng.uniform(5.0, 40.0), "GET", f"/api/products/{pid}", "/api/products/{id}", flow, None, pid=pid
        )
        if status >= 500 or status == 0:
            s.error(t + 1.0, "Error", f"GET /api/products/{pid} failed: {status}", "unhandledrejection", "loadProduct")
    if route in ("/", "/product/{id}") and rng.random() < cfg.reco_probability:
        slot = f"product={pid}" if pid else "slot=home"
        s.request(
            t + rng.uniform(30.0, 400.0),
            "GET",
            f"/v1/recommendations?{slot}&limit=8",
            "",
            flow,
            None,
            initiator="xhr",
            traced=False,
            legacy_edge=True,
        )
    if route == "/product/{id}" and rng.random() < cfg.stock_probability:
        s.request(
            t + rng.uniform(20.0, 300.0),
            "GET",
            f"/api/stock/{pid}",
            "/api/stock/{id}",
            flow,
            None,
            initiator="xhr",
            traced=False,
            pid=pid,
        )
