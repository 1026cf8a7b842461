"""The schedule: releases, feature-flag changes and injected incidents, placed on the span.

Positions are fractions of the simulated span so a one-hour run and a one-week run both get
all five incidents; durations are the real-world minutes for a day or longer and shrink in
proportion for shorter spans. Each incident is tied to the release or flag change that
explains it, the way a real post-mortem would tell it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

_DAY_S = 86_400.0
_MIN_MS = 60_000.0
FLAGS = ("new_checkout", "search_v2")


def iso_ms(ms: float) -> str:
    """ISO 8601 UTC text with milliseconds, for ground-truth files."""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Release:
    """A deploy: from `at_ms` on, new page loads (frontend) or requests (backend) run `release`."""

    app: str  # shop-web (frontend) or api (backend: every service ships from one repo)
    release: str
    at_ms: float
    note: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for truth/releases.json."""
        return {"app": self.app, "release": self.release, "at": iso_ms(self.at_ms), "note": self.note}


@dataclass(frozen=True, slots=True)
class FlagChange:
    """A flag's rollout set to `rollout_pct` percent of visitors from `at_ms` on."""

    flag: str
    at_ms: float
    rollout_pct: int
    note: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for truth/flags.json."""
        return {
            "flag": self.flag,
            "at": iso_ms(self.at_ms),
            "rollout_pct": self.rollout_pct,
            "on_variant": "on",
            "off_variant": "off",
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Incident:
    """One injected problem with its true window, scope and root cause."""

    id: str
    kind: str
    start_ms: float
    end_ms: float
    scope: dict[str, str]
    root_cause: str  # client | network | gateway | service | database
    service: str
    description: str

    def active(self, t_ms: float) -> bool:
        """Whether the incident is in effect at a true instant."""
        return self.start_ms <= t_ms < self.end_ms

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for truth/incidents.json and the summary."""
        return {
            "id": self.id,
            "kind": self.kind,
            "start": iso_ms(self.start_ms),
            "end": iso_ms(self.end_ms),
            "scope": self.scope,
            "root_cause": self.root_cause,
            "service": self.service,
            "description": self.description,
        }


@dataclass(slots=True)
class Schedule:
    """Everything that changes over the span, with fast lookups for the generators."""

    releases: list[Release]
    flags: list[FlagChange]
    incidents: list[Incident]
    by_kind: dict[str, Incident] = field(default_factory=dict)  # the first incident of each kind
    of_kind: dict[str, tuple[Incident, ...]] = field(default_factory=dict)  # every incident of each kind
    _flag_cache: dict[tuple[str, ...], dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i in self.incidents:
            self.by_kind.setdefault(i.kind, i)
            self.of_kind[i.kind] = (*self.of_kind.get(i.kind, ()), i)

    def active(self, kind: str, t_ms: float) -> Incident | None:
        """The incident of `kind` in effect at a true instant, if any (a week may repeat a kind)."""
        for i in self.of_kind.get(kind, ()):
            if i.start_ms <= t_ms < i.end_ms:
                return i
        return None

    def release(self, app: str, t_ms: float) -> str:
        """The release of `app` in force at a true instant."""
        current = ""
        for r in self.releases:  # a handful of entries, sorted by time: a scan beats bisect setup
            if r.app == app and r.at_ms <= t_ms:
                current = r.release
        return current

    def rollout(self, flag: str, t_ms: float) -> int:
        """Percent of visitors with `flag` on at a true instant."""
        pct = 0
        for c in self.flags:
            if c.flag == flag and c.at_ms <= t_ms:
                pct = c.rollout_pct
        return pct

    def flags_for(self, buckets: tuple[int, ...], t_ms: float) -> dict[str, str]:
        """Flag variants for a visitor whose per-flag buckets (0..99) are given; shared dicts, do not mutate."""
        key = tuple("on" if b < self.rollout(f, t_ms) else "off" for f, b in zip(FLAGS, buckets, strict=True))
        cached = self._flag_cache.get(key)
        if cached is None:
            cached = self._flag_cache[key] = dict(zip(FLAGS, key, strict=True))
        return cached


def flag_buckets(visitor_id: str) -> tuple[int, ...]:
    """Stable 0..99 bucket per flag (crc32, not hash(): that one is salted per process)."""
    return tuple(zlib.crc32(f"{flag}:{visitor_id}".encode()) % 100 for flag in FLAGS)


WEEK_MIN_DAYS = 5  # spans this long get the week schedule (more incidents, quiet days)


def build_schedule(start_ms: float, span_ms: float, year: int, month: int) -> Schedule:
    """Place releases, flag changes and incidents on a span starting at `start_ms`.

    Spans of `WEEK_MIN_DAYS` days or more get the week schedule of `_week`; shorter ones the
    five incidents placed by fraction of the span below (kept byte-for-byte stable: tests and
    benchmarks compare against them).
    """
    if span_ms >= WEEK_MIN_DAYS * _DAY_S * 1000.0:
        from seamline.simulate._week import build_week

        return build_week(start_ms, span_ms, year, month)
    scale = min(1.0, span_ms / 1000.0 / _DAY_S)

    def at(frac: float) -> float:
        return start_ms + frac * span_ms

    def window(frac: float, minutes: float) -> tuple[float, float]:
        begin = at(frac)
        return begin, begin + max(30_000.0, minutes * _MIN_MS * scale)

    web = [f"web@{year}.{month}.{n}" for n in range(1, 5)]
    api = [f"api@{year}.{month}.{n}" for n in range(1, 5)]
    # Spread over the span; on a day from midnight UTC each lands where its audience is awake
    # (ap-south's network trouble in its evening peak, checkout trouble in busy hours).
    js = window(0.26, 90)
    pay = window(0.42, 60)
    net = window(0.60, 45)
    flag = window(0.72, 60)
    dep = window(0.86, 25)

    releases = [
        Release("shop-web", web[0], start_ms, "running before the span starts"),
        Release("api", api[0], start_ms, "running before the span starts"),
        Release("shop-web", web[1], at(0.20), "routine frontend release"),
        Release("api", api[1], pay[0], "payments: new fraud-check client (slow)"),
        Release("api", api[2], pay[1], "rollback of the fraud-check client"),
        Release("shop-web", web[2], js[0], "product page price widget refactor (buggy)"),
        Release("shop-web", web[3], js[1], "hotfix for the price widget"),
        Release("api", api[3], at(0.90), "new_checkout address validation fixed"),
    ]
    releases.sort(key=lambda r: r.at_ms)
    flags = [
        FlagChange("new_checkout", start_ms, 0, "off before the span starts"),
        FlagChange("search_v2", start_ms, 0, "off before the span starts"),
        FlagChange("search_v2", at(0.10), 50, "search_v2 ramp to 50%"),
        FlagChange("new_checkout", flag[0], 50, "new_checkout ramp to 50%"),
        FlagChange("search_v2", at(0.66), 100, "search_v2 fully on"),
        FlagChange("new_checkout", flag[1], 0, "new_checkout killed after checkout errors"),
        FlagChange("new_checkout", at(0.92), 50, "new_checkout back on with the fix"),
    ]
    flags.sort(key=lambda c: c.at_ms)
    incidents = [
        Incident(
            "",  # numbered in time order below
            "backend_latency_regression",
            pay[0],
            pay[1],
            {"flow": "checkout", "route": "POST /api/checkout", "service": "payments", "release": api[1]},
            "service",
            "payments",
            f"After the {api[1]} deploy, payments spends ~1 s per charge in a new fraud-check call; "
            f"checkout latency rises, no errors. Ends with the rollback to {api[2]}.",
        ),
        Incident(
            "",  # numbered in time order below
            "regional_network_slowdown",
            net[0],
            net[1],
            {"region": "ap-south"},
            "network",
            "shop-web",
            "A transit problem for ap-south: round trips grow by ~0.9 s and bandwidth drops; client "
            "request durations, TTFB and LCP rise there while server-side durations stay normal.",
        ),
        Incident(
            "",  # numbered in time order below
            "flag_error_spike",
            flag[0],
            flag[1],
            {"flow": "checkout", "route": "POST /api/checkout", "service": "api", "flag": "new_checkout=on"},
            "service",
            "api",
            "new_checkout ramped to 50%: about half of checkouts with the flag on fail with 500 "
            "(address validation AttributeError in api); users retry. Ends when the flag is killed.",
        ),
        Incident(
            "",  # numbered in time order below
            "frontend_js_error",
            js[0],
            js[1],
            {"flow": "browse", "route": "/product/{id}", "release": web[2]},
            "client",
            "shop-web",
            f"{web[2]} breaks the product page price widget: a TypeError on most product page views and a "
            "dead add-to-cart button (fewer cart requests). No server-side change. Ends with "
            f"{web[3]}.",
        ),
        Incident(
            "",  # numbered in time order below
            "dependency_timeout",
            dep[0],
            dep[1],
            {"flow": "browse", "route": "GET /api/products/{id}", "service": "catalog", "dependency": "postgres"},
            "database",
            "catalog",
            "Lock contention on the products table: catalog queries hit the 5 s statement timeout, api "
            "gives up on catalog after 2.5 s and answers 504; product pages render a skeleton whose "
            "fallback fetch fails, raising frontend errors.",
        ),
    ]
    incidents.sort(key=lambda i: i.start_ms)
    incidents = [replace(inc, id=f"inc-{n}") for n, inc in enumerate(incidents, 1)]  # ids follow time order
    return Schedule(releases, flags, incidents)
