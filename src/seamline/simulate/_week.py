"""The week schedule: nine incidents of seven kinds over seven days, with quiet days between.

Day 0 is clean (baselines warm up on it) and so is day 3 (false alarms show there). Incidents
sit at fixed hours of the day, each with its real-world duration, and cover every segment of
the path: the client (a buggy frontend release), the network (a region's transit, twice),
the gateway (an upstream pool answering 502, twice), a named service (payments' slow
fraud check, api's flag bug) and the database (lock timeouts on products, a slow cart query).
Routine releases and flag ramps that break nothing are spread over the week too, so a
detector that merely reacts to change is caught out. Days after the seventh repeat the
pattern's quiet days.
"""

from __future__ import annotations

from dataclasses import replace

from seamline.simulate.incidents import FlagChange, Incident, Release, Schedule

_H_MS = 3_600_000.0
_DAY_MS = 24 * _H_MS


def build_week(start_ms: float, span_ms: float, year: int, month: int) -> Schedule:
    """The week's releases, flag changes and incidents from `start_ms` (span at least five days)."""

    def at(day: int, hour: float) -> float:
        return start_ms + day * _DAY_MS + hour * _H_MS

    def window(day: int, hour: float, minutes: float) -> tuple[float, float]:
        begin = at(day, hour)
        return begin, begin + minutes * 60_000.0

    web = [f"web@{year}.{month}.{n}" for n in range(1, 6)]
    api = [f"api@{year}.{month}.{n}" for n in range(1, 6)]
    pay = window(1, 10.0, 60)
    gw1 = window(1, 15.5, 20)
    net1 = window(2, 14.0, 45)
    js = window(2, 19.0, 90)
    slow_db = window(4, 11.0, 40)
    flag = window(4, 16.5, 60)
    dep = window(5, 9.5, 25)
    gw2 = window(5, 21.0, 20)
    net2 = window(6, 13.0, 40)

    releases = [
        Release("shop-web", web[0], start_ms, "running before the span starts"),
        Release("api", api[0], start_ms, "running before the span starts"),
        Release("api", api[1], pay[0], "payments: new fraud-check client (slow)"),
        Release("api", api[2], pay[1], "rollback of the fraud-check client"),
        Release("shop-web", web[1], js[0], "product page price widget refactor (buggy)"),
        Release("shop-web", web[2], js[1], "hotfix for the price widget"),
        Release("shop-web", web[3], at(3, 9.0), "routine frontend release"),
        Release("api", api[3], at(5, 14.0), "routine backend release"),
        Release("shop-web", web[4], at(6, 8.0), "routine frontend release"),
    ]
    releases = [r for r in releases if r.at_ms < start_ms + span_ms]
    releases.sort(key=lambda r: r.at_ms)
    flags = [
        FlagChange("new_checkout", start_ms, 0, "off before the span starts"),
        FlagChange("search_v2", start_ms, 0, "off before the span starts"),
        FlagChange("search_v2", at(3, 12.0), 50, "search_v2 ramp to 50%"),
        FlagChange("new_checkout", flag[0], 50, "new_checkout ramp to 50%"),
        FlagChange("new_checkout", flag[1], 0, "new_checkout killed after checkout errors"),
        FlagChange("search_v2", at(5, 12.0), 100, "search_v2 fully on"),
    ]
    flags = [f for f in flags if f.at_ms < start_ms + span_ms]
    flags.sort(key=lambda c: c.at_ms)
    incidents = [
        Incident(
            "",
            "backend_latency_regression",
            *pay,
            {"flow": "checkout", "route": "POST /api/checkout", "service": "payments", "release": api[1]},
            "service",
            "payments",
            f"After the {api[1]} deploy, payments spends ~1 s per charge in a new fraud-check call; "
            f"checkout latency rises, no errors. Ends with the rollback to {api[2]}.",
        ),
        Incident(
            "",
            "gateway_502_burst",
            *gw1,
            {"flow": "browse", "route": "POST /api/cart/items"},
            "gateway",
            "gateway",
            "A config reload leaves the gateway's cart-items location pointing at a drained upstream: about "
            "half of add-to-cart requests get an nginx 502 within milliseconds; api never sees them.",
        ),
        Incident(
            "",
            "regional_network_slowdown",
            *net1,
            {"region": "ap-south"},
            "network",
            "shop-web",
            "A transit problem for ap-south: round trips grow by ~0.9 s and bandwidth drops; client "
            "request durations, TTFB and LCP rise there while server-side durations stay normal.",
        ),
        Incident(
            "",
            "frontend_js_error",
            *js,
            {"flow": "browse", "route": "/product/{id}", "release": web[1]},
            "client",
            "shop-web",
            f"{web[1]} breaks the product page price widget: a TypeError on most product page views and a "
            f"dead add-to-cart button. No server-side change. Ends with {web[2]}.",
        ),
        Incident(
            "",
            "slow_db_query",
            *slow_db,
            {"flow": "checkout", "service": "cart", "dependency": "postgres", "table": "cart_items"},
            "database",
            "cart",
            "An index on cart_items is rebuilt without CONCURRENTLY: cart queries take ~0.7 s instead of "
            "~2 ms, with no timeouts or errors; cart pages, add-to-cart and checkout slow down.",
        ),
        Incident(
            "",
            "flag_error_spike",
            *flag,
            {"flow": "checkout", "route": "POST /api/checkout", "service": "api", "flag": "new_checkout=on"},
            "service",
            "api",
            "new_checkout ramped to 50%: about half of checkouts with the flag on fail with 500 "
            "(address validation AttributeError in api); users retry. Ends when the flag is killed.",
        ),
        Incident(
            "",
            "dependency_timeout",
            *dep,
            {"flow": "browse", "route": "GET /api/products/{id}", "service": "catalog", "dependency": "postgres"},
            "database",
            "catalog",
            "Lock contention on the products table: catalog queries hit the 5 s statement timeout, api "
            "gives up on catalog after 2.5 s and answers 504; product pages render a skeleton whose "
            "fallback fetch fails, raising frontend errors.",
        ),
        Incident(
            "",
            "gateway_502_burst",
            *gw2,
            {"flow": "checkout", "route": "GET /api/cart"},
            "gateway",
            "gateway",
            "The gateway's keepalive pool to api is exhausted for the cart API: about half of cart "
            "reads get an nginx 502; api never sees them.",
        ),
        Incident(
            "",
            "regional_network_slowdown",
            *net2,
            {"region": "us-east"},
            "network",
            "shop-web",
            "A peering problem for us-east: round trips grow by ~0.9 s and bandwidth drops there; "
            "server-side durations stay normal.",
        ),
    ]
    incidents = [i for i in incidents if i.start_ms < start_ms + span_ms]
    incidents.sort(key=lambda i: i.start_ms)
    incidents = [replace(inc, id=f"inc-{n}") for n, inc in enumerate(incidents, 1)]
    return Schedule(releases, flags, incidents)
