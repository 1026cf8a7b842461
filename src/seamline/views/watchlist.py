"""The watchlist (critical flows and high-impact pages) and the overview of their health.

The watchlist is read from `watchlist.yaml` in the Seamline home directory:

    flows:
      - checkout                     # a flow by name
      - name: search                 # or with targets that mark it unhealthy when crossed
        p90_ms: 1500
        failure_rate: 0.02
    pages:
      - /product/{id}
      - name: /checkout
        lcp_p75_ms: 2500

Without the file it is derived from traffic: the flows with at least 2% of the window's
transactions (at most 6) and the 6 pages with the most page loads.

The overview gives, per watched flow, its traffic, users, interaction p90 (end-to-end latency
of its actions: page loads are slow for reasons of their own and would hide a slower API) and
failure rate (all its transactions) now and in the window before (same length), a status, and
both metrics over time; per watched page its loads,
LCP p75, JS error and failure rates.
Status: `bad` when a target is crossed, or the failure rate at least doubled to over 2%, or
p90 grew by half; `warn` for a quarter more p90 or a failure rate up by half to over 1%.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seamline.store.base import Store
from seamline.views._common import FAILED, bucket_sql, dense, ms, rate, rows
from seamline.views._filters import Filters, Window

WATCHLIST_FILE = "watchlist.yaml"
_FLOW_TARGETS = ("p90_ms", "failure_rate")
_PAGE_TARGETS = ("lcp_p75_ms", "failure_rate")
_DEFAULT_SHARE = 0.02
_DEFAULT_COUNT = 6


class WatchlistError(ValueError):
    """The watchlist file cannot be used; the message says where and why."""


def _items(raw: Any, section: str, targets: tuple[str, ...], path: Path) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WatchlistError(f"{path}: `{section}` must be a list")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append({"name": item})
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise WatchlistError(f"{path}: {section}[{i}] must be a name or a mapping with `name`")
        unknown = set(item) - {"name", *targets}
        if unknown:
            raise WatchlistError(f"{path}: {section}[{i}] has unknown keys {sorted(unknown)}; allowed: {targets}")
        for key in targets:
            if key in item and not isinstance(item[key], int | float):
                raise WatchlistError(f"{path}: {section}[{i}].{key} must be a number")
        out.append(dict(item))
    return out


def load_watchlist(path: Path) -> dict[str, list[dict[str, Any]]] | None:
    """The configured watchlist, or None when the file does not exist."""
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise WatchlistError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise WatchlistError(f"{path}: expected a mapping with `flows` and `pages`")
    return {
        "flows": _items(data.get("flows"), "flows", _FLOW_TARGETS, path),
        "pages": _items(data.get("pages"), "pages", _PAGE_TARGETS, path),
    }


def watchlist(store: Store, filters: Filters, home: Path | None = None) -> dict[str, Any]:
    """The watched flows and pages: from watchlist.yaml in the home directory, else derived from traffic."""
    path = (home or Path(".")) / WATCHLIST_FILE
    configured = load_watchlist(path)
    if configured is not None:
        return {"source": "file", "path": str(path), **configured}
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    by_flow = rows(
        store,
        f"SELECT flow, count(*) AS n, (sum(count(*)) OVER ())::BIGINT AS total FROM transaction_facts "
        f"WHERE {where} AND flow IS NOT NULL GROUP BY flow ORDER BY n DESC",
        params,
    )
    flows = [{"name": r["flow"]} for r in by_flow if r["n"] >= _DEFAULT_SHARE * r["total"]][:_DEFAULT_COUNT]
    by_page = rows(
        store,
        f"SELECT page, count(*) AS n FROM transaction_facts WHERE {where} AND kind = 'navigation' "
        "AND page IS NOT NULL GROUP BY page ORDER BY n DESC LIMIT ?",
        [*params, _DEFAULT_COUNT],
    )
    return {"source": "default", "path": str(path), "flows": flows, "pages": [{"name": r["page"]} for r in by_page]}


def _status(now: dict[str, Any], before: dict[str, Any], targets: dict[str, Any], p90_key: str) -> str:
    p90, p90_before = now.get(p90_key), before.get(p90_key)
    fail, fail_before = now.get("failure_rate") or 0.0, before.get("failure_rate") or 0.0
    target_p90 = targets.get(p90_key)
    target_fail = targets.get("failure_rate")
    if (target_p90 is not None and p90 is not None and p90 > target_p90) or (
        target_fail is not None and fail > target_fail
    ):
        return "bad"
    if fail > 0.02 and fail >= 2 * fail_before:
        return "bad"
    if p90 is not None and p90_before and p90 >= 1.5 * p90_before:
        return "bad"
    if (fail > 0.01 and fail >= 1.5 * fail_before) or (p90 is not None and p90_before and p90 >= 1.25 * p90_before):
        return "warn"
    return "ok"


def _previous(window: Window) -> Window:
    span = window.end - window.start
    return Window(window.start - span, window.start, window.bucket)


def overview(store: Store, filters: Filters, home: Path | None = None) -> dict[str, Any]:
    """Health of the watched flows and pages: now against the window before, and over time."""
    watched = watchlist(store, filters, home)
    window = filters.window(store)
    before = _previous(window)
    flows = [f["name"] for f in watched["flows"]]
    pages = [p["name"] for p in watched["pages"]]
    where, params = filters.where("transaction_facts", window)
    where_before, params_before = filters.where("transaction_facts", before)
    summary = rows(
        store,
        f"""
        SELECT period, flow, count(*) AS transactions, count(DISTINCT user_key) AS users,
               quantile_cont(e2e_ms, 0.9) FILTER (WHERE kind = 'action') AS p90,
               count(*) FILTER (WHERE {FAILED}) AS failed
        FROM (SELECT 'now' AS period, * FROM transaction_facts WHERE {where}
              UNION ALL SELECT 'before', * FROM transaction_facts WHERE {where_before})
        WHERE flow IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL
        """,
        [*params, *params_before, flows],
    )
    stats: dict[tuple[str, str], dict[str, Any]] = {
        (r["period"], r["flow"]): {
            "transactions": r["transactions"],
            "users": r["users"],
            "p90_ms": ms(r["p90"]),
            "failure_rate": rate(r["failed"], r["transactions"]),
        }
        for r in summary
    }
    bucket, bucket_params = bucket_sql(window, "start_ts")
    series = rows(
        store,
        f"""
        SELECT {bucket} AS bucket, flow, count(*) AS n,
               quantile_cont(e2e_ms, 0.9) FILTER (WHERE kind = 'action') AS p90,
               count(*) FILTER (WHERE {FAILED}) / count(*) AS failure_rate
        FROM transaction_facts WHERE {where} AND flow IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL
        """,
        [*bucket_params, *params, flows],
    )
    buckets, p90 = dense(window, series, "flow", "p90")
    _, failure = dense(window, series, "flow", "failure_rate")
    _, volume = dense(window, series, "flow", "n")
    flow_cards = []
    for item in watched["flows"]:
        now, prev = stats.get(("now", item["name"]), {}), stats.get(("before", item["name"]), {})
        targets = {k: item[k] for k in _FLOW_TARGETS if k in item}
        flow_cards.append(
            {
                "flow": item["name"],
                **{k: now.get(k) for k in ("transactions", "users", "p90_ms", "failure_rate")},
                "before": prev,
                "targets": targets,
                "status": _status(now, prev, targets, "p90_ms") if now else "no data",
            }
        )
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "watchlist": {"source": watched["source"], "path": watched["path"]},
        "flows": flow_cards,
        "pages": _pages(store, filters, window, before, watched["pages"]),
        "buckets": buckets,
        "p90": {f: p90.get(f, [None] * len(buckets)) for f in flows},
        "failure_rate": {f: failure.get(f, [None] * len(buckets)) for f in flows},
        "volume": {f: volume.get(f, [None] * len(buckets)) for f in flows},
        "page_series": _page_series(store, filters, window, pages),
    }


def _pages(
    store: Store, filters: Filters, window: Window, before: Window, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    names = [p["name"] for p in items]
    out = []
    per_period: dict[tuple[str, str], dict[str, Any]] = {}
    for period, w in (("now", window), ("before", before)):
        where, params = filters.where("transaction_facts", w)
        for r in rows(
            store,
            f"""
            SELECT page, count(*) FILTER (WHERE kind = 'navigation') AS loads, count(*) AS transactions,
                   count(DISTINCT user_key) AS users, count(*) FILTER (WHERE js_errors > 0) AS js_error,
                   count(*) FILTER (WHERE {FAILED}) AS failed,
                   quantile_cont(lcp_ms, 0.75) FILTER (WHERE kind = 'navigation') AS lcp
            FROM transaction_facts WHERE {where} AND page IN (SELECT unnest(?::VARCHAR[])) GROUP BY page
            """,
            [*params, names],
        ):
            per_period[(period, r["page"])] = {
                "loads": r["loads"],
                "users": r["users"],
                "lcp_p75_ms": ms(r["lcp"]),
                "js_error_rate": rate(r["js_error"], r["transactions"]),
                "failure_rate": rate(r["failed"], r["transactions"]),
            }
    for item in items:
        now, prev = per_period.get(("now", item["name"]), {}), per_period.get(("before", item["name"]), {})
        targets = {k: item[k] for k in _PAGE_TARGETS if k in item}
        out.append(
            {
                "page": item["name"],
                **{k: now.get(k) for k in ("loads", "users", "lcp_p75_ms", "js_error_rate", "failure_rate")},
                "before": prev,
                "targets": targets,
                "status": _status(now, prev, targets, "lcp_p75_ms") if now else "no data",
            }
        )
    return out


def _page_series(store: Store, filters: Filters, window: Window, pages: list[str]) -> dict[str, Any]:
    where, params = filters.where("transaction_facts", window)
    bucket, bucket_params = bucket_sql(window, "start_ts")
    data = rows(
        store,
        f"""
        SELECT {bucket} AS bucket, page, count(*) FILTER (WHERE {FAILED}) / count(*) AS failure_rate
        FROM transaction_facts WHERE {where} AND page IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL
        """,
        [*bucket_params, *params, pages],
    )
    buckets, failure = dense(window, data, "page", "failure_rate")
    return {"failure_rate": {p: failure.get(p, [None] * len(buckets)) for p in pages}}
