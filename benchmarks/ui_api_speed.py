"""Dashboard API speed with 10M events stored: every call p95 <= 500 ms, a transaction by id <= 50 ms.

The store is one simulated, correlated day copied day after day (ids rewritten per copy) until
it holds SEAMLINE_BENCH_UI_EVENTS events (default 10M, about 51 days); see `_ui_data.py` for why
and how. It is kept in SEAMLINE_BENCH_UI_HOME (default /tmp/seamline-bench-ui) and reused by later
runs: building it takes 15-25 minutes on two cores, the dashboard facts for it another 4-7.

Then a real `seamline serve` answers, over HTTP, every JSON call the UI's pages make — with the
default range (the last 24 h of data), with 7 days, and with 24 h plus browser, region and flag
filters — each 15 times after a warm-up; and the waterfall of 60 random transactions by id.
Calls are timed one at a time (p50, p95, max), plus each page's calls issued together as the
browser does. Figures are printed; a miss is marked, not fatal (shared machines vary).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from _server import Server, free_port
from _ui_data import build
from seamline.store import DuckDBStore
from seamline.views.facts import refresh_facts

EVENTS = int(os.environ.get("SEAMLINE_BENCH_UI_EVENTS", "10000000"))
HOME = Path(os.environ.get("SEAMLINE_BENCH_UI_HOME", "/tmp/seamline-bench-ui"))
REPEAT = 15
DASHBOARD_MS = 500.0
BY_ID_MS = 50.0

# The JSON calls each page makes (ui.js), with their page parameters.
PAGES: dict[str, list[tuple[str, dict[str, str]]]] = {
    "overview": [("overview", {}), ("flows", {}), ("filter_options", {})],
    "flow": [
        ("flow_latency", {"flow": "checkout", "kind": "action"}),
        ("flow_steps", {"flow": "checkout"}),
        ("slow_transactions", {"flow": "checkout", "kind": "action", "show": "slowest", "limit": "20"}),
        ("slow_transactions", {"flow": "checkout", "show": "failed", "limit": "20"}),
        ("failures", {"by": "flow", "flow": "checkout"}),
        ("user_impact", {"flow": "checkout"}),
    ],
    "failures": [
        ("failures", {"by": "flow", "top": "6"}),
        ("failures", {"by": "route", "top": "6"}),
        ("failures", {"by": "service", "top": "6"}),
        ("user_impact", {"condition": "failed"}),
    ],
    "heatmap": [("heatmap", {})],
    "impact": [("release_impact", {}), ("flag_impact", {"flag": "new_checkout:on"})],
    "vitals": [("web_vitals", {"by": "page"})],
    "quality": [("data_quality", {})],
}
FILTER_SETS: dict[str, dict[str, str]] = {
    "24h": {},
    "7d": {"range": "7d"},
    "24h+filters": {"browser": "Chrome", "region": "eu-west", "flag": "search_v2:on"},
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


SERVER_MS: list[float] = []  # the view's own time, from the Server-Timing header of the last calls


def _time(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
    timing = response.headers.get("server-timing", "")
    if "dur=" in timing:
        SERVER_MS.append(float(timing.split("dur=")[1]))
    return elapsed


def main() -> None:
    t = time.perf_counter()
    info = build(HOME / "home", HOME / "sim", EVENTS)
    print(
        f"store: {info['events']:,} events in {HOME / 'home'} ({'reused' if info.get('reused') else 'built'} "
        f"in {time.perf_counter() - t:.0f} s)",
        file=sys.stderr,
    )
    store = DuckDBStore(HOME / "home" / "seamline.duckdb")
    store.upgrade()
    t = time.perf_counter()
    facts = refresh_facts(store)
    facts_s = time.perf_counter() - t
    counts = store.query(
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM transactions) AS transactions, "
        "(SELECT count(*) FROM request_facts) AS requests"
    ).to_pylist()[0]
    sample = store.query(
        "SELECT transaction_id, session_id FROM transaction_facts USING SAMPLE 60 ROWS (reservoir, 5)"
    ).to_pylist()
    store.close()

    server = Server(HOME / "home", free_port(), {"SEAMLINE_CORRELATE_INTERVAL_SECONDS": "0"})
    results: list[tuple[str, str, list[float]]] = []
    pages: list[tuple[str, str, float]] = []
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for filter_name, filters in FILTER_SETS.items():
                for page, calls in PAGES.items():
                    for view, params in calls:
                        query = {**filters, **params}
                        _time(client, f"/api/views/{view}", query)  # warm-up: DuckDB caches, first plan
                        times = [_time(client, f"/api/views/{view}", query) for _ in range(REPEAT)]
                        label = view + "".join(f" {k}={v}" for k, v in params.items() if k in ("by", "show"))
                        results.append((filter_name, label, times))
                    with ThreadPoolExecutor(len(calls)) as pool:
                        started = time.perf_counter()
                        list(pool.map(lambda c, f=filters: _time(client, f"/api/views/{c[0]}", {**f, **c[1]}), calls))
                        pages.append((filter_name, page, (time.perf_counter() - started) * 1000))
            session = sample[0]["session_id"]
            _time(client, "/api/views/session", {"session_id": session})
            results.append(
                (
                    "-",
                    "session (timeline by id)",
                    [_time(client, "/api/views/session", {"session_id": r["session_id"]}) for r in sample[:REPEAT]],
                )
            )
            results.append(("-", "saved views", [_time(client, "/api/saved-views", {}) for _ in range(REPEAT)]))
            SERVER_MS.clear()
            by_id = [_time(client, "/api/views/waterfall", {"ident": r["transaction_id"]}) for r in sample]
            by_id_view = list(SERVER_MS)
            SERVER_MS.clear()
            by_id_again = [_time(client, "/api/views/waterfall", {"ident": r["transaction_id"]}) for r in sample]
            by_id_again_view = list(SERVER_MS)
    finally:
        server.stop()

    from seamline.app import App
    from seamline.settings import Settings
    from seamline.views.waterfall import transaction_waterfall

    with App(Settings({"home": HOME / "home"}), read_only=True) as application:
        in_process = []
        for r in sample:
            started = time.perf_counter()
            transaction_waterfall(application.store, r["transaction_id"])
            in_process.append((time.perf_counter() - started) * 1000)

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end (1/5/15 min; the machine has {os.cpu_count()} cores): {load}")
    print(
        f"store: {counts['events']:,} events, {counts['transactions']:,} transactions, "
        f"{counts['requests']:,} request facts; facts refresh: {facts['transactions']:,} transactions "
        f"in {facts_s:.1f} s ({os.cpu_count()} cores)"
    )
    print(f"\ndashboard API calls over HTTP, {REPEAT} runs each (target p95 <= {DASHBOARD_MS:.0f} ms)")
    print(f"{'filters':12s} {'call':38s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    worst = 0.0
    for filter_name, label, times in results:
        p95 = _pct(times, 0.95)
        worst = max(worst, p95)
        mark = "" if p95 <= DASHBOARD_MS else "  MISS"
        print(f"{filter_name:12s} {label:38s} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}{mark}")
    print(f"worst p95 of any dashboard call: {worst:.0f} ms ({'met' if worst <= DASHBOARD_MS else 'MISSED'})")
    print("\npages (their calls issued together, as the browser does)")
    for filter_name, page, ms in pages:
        print(f"{filter_name:12s} {page:12s} {ms:8.1f} ms")
    print(
        f"\ntransaction by id (waterfall), {len(by_id)} random transactions over 51 days (target <= {BY_ID_MS:.0f} ms)"
    )
    for label, times in (
        ("HTTP, first look (cold: that day not read since the server started)", by_id),
        ("  of which the view itself (Server-Timing)", by_id_view),
        ("HTTP, looked up again (warm)", by_id_again),
        ("  of which the view itself (Server-Timing)", by_id_again_view),
        ("in process, fresh process (cold)", in_process),
    ):
        p95 = _pct(times, 0.95)
        print(
            f"  {label}: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms "
            f"({'met' if p95 <= BY_ID_MS else 'MISSED'})"
        )


if __name__ == "__main__":
    random.seed(5)
    main()
