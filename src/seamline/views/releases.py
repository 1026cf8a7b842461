"""Release and feature-flag impact: p90 latency and failure rate, before/after or with/without, with 95% CIs.

Two groups of transactions are compared, overall and per flow:

- release: transactions served by release R (frontend `release` or backend `backend_release`,
  whichever carries R) against those of the release before it (the one first seen last
  before R, in the same column). Without explicit `from`/`to` the comparison window is
  centred on R's first appearance and as long as the filter range (default 24 h), so
  "before" and "after" both have data.
- flag: transactions with `flag = variant` against the others (other variants or no flag).

Confidence intervals (95%):
- p90: distribution-free, from order statistics — ranks n·0.9 ± 1.96·√(n·0.9·0.1) of the
  sorted latencies; the difference's interval takes each group's half-width as 1.96 standard
  errors and adds them in quadrature (a normal approximation).
- failure rate: Wilson score interval per group; the difference uses the normal (Wald)
  approximation √(p₁q₁/n₁ + p₂q₂/n₂).
A difference is flagged significant when its interval excludes zero.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from seamline.store.base import Store
from seamline.views._common import FAILED, bucket_sql, dense, ms, rows
from seamline.views._filters import RANGES, Filters, Window

Z = 1.959963984540054
_Q = 0.9
_ALL = "(all flows)"


def _wilson(k: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = k / n
    denom = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / denom
    return round(max(0.0, centre - half), 5), round(min(1.0, centre + half), 5)


def _ranks(n: str, rn: str) -> str:
    """Conditions picking p90 and its interval's bounds among the sorted latencies (row numbers rn of n)."""
    spread = f"{Z} * sqrt({n} * {_Q * (1 - _Q)})"
    return (
        f"max(e2e_ms) FILTER (WHERE {rn} = greatest(1, ceil({n} * {_Q}))) AS p90, "
        f"max(e2e_ms) FILTER (WHERE {rn} = greatest(1, floor({n} * {_Q} - {spread}))) AS lo, "
        f"max(e2e_ms) FILTER (WHERE {rn} = least({n}, ceil({n} * {_Q} + {spread}) + 1)) AS hi"
    )


def _compare(store: Store, filters: Filters, window: Window, group: tuple[str, list[Any]]) -> list[dict[str, Any]]:
    """Per flow (and over all flows): n, p90 with CI, failure rate with CI, for both groups and their difference.

    `group` is SQL giving 'treatment', 'baseline' or NULL per transaction (evaluated once per row).
    """
    where, params = filters.where("transaction_facts", window)
    group_sql, group_params = group
    x = f"""
        WITH x AS MATERIALIZED (
            SELECT grp, coalesce(flow, '(none)') AS flow, e2e_ms, failed FROM (
                SELECT {group_sql} AS grp, flow, e2e_ms, {FAILED} AS failed FROM transaction_facts WHERE {where})
            WHERE grp IS NOT NULL
        )
    """
    all_params = [*group_params, *params]
    latency = rows(
        store,
        x
        + f"""
        , r AS (
            SELECT grp, flow, e2e_ms,
                   row_number() OVER (PARTITION BY grp, flow ORDER BY e2e_ms) AS rn_f,
                   count(*) OVER (PARTITION BY grp, flow) AS n_f,
                   row_number() OVER (PARTITION BY grp ORDER BY e2e_ms) AS rn_g,
                   count(*) OVER (PARTITION BY grp) AS n_g
            FROM x WHERE e2e_ms IS NOT NULL
        )
        SELECT grp, flow, max(n_f) AS n, {_ranks("n_f", "rn_f")} FROM r GROUP BY grp, flow
        UNION ALL
        SELECT grp, '{_ALL}', max(n_g), {_ranks("n_g", "rn_g")} FROM r GROUP BY grp
        """,
        all_params,
    )
    failures = rows(
        store,
        x
        + f"""
        SELECT grp, coalesce(flow, '{_ALL}') AS flow, count(*) AS n, count(*) FILTER (WHERE failed) AS failed
        FROM x GROUP BY GROUPING SETS ((grp, flow), (grp))
        """,
        all_params,
    )
    stats: dict[str, dict[str, dict[str, Any]]] = {}
    for r in latency:
        stats.setdefault(r["flow"], {}).setdefault(r["grp"], {}).update(
            latency_n=r["n"], p90_ms=ms(r["p90"]), p90_ci=[ms(r["lo"]), ms(r["hi"])]
        )
    for r in failures:
        lo, hi = _wilson(r["failed"], r["n"])
        stats.setdefault(r["flow"], {}).setdefault(r["grp"], {}).update(
            transactions=r["n"],
            failed=r["failed"],
            failure_rate=round(r["failed"] / r["n"], 5),
            failure_rate_ci=[lo, hi],
        )
    out = []
    for flow in sorted(stats, key=lambda f: (f != _ALL, -sum(g.get("transactions", 0) for g in stats[f].values()))):
        groups = stats[flow]
        t, b = groups.get("treatment", {}), groups.get("baseline", {})
        out.append({"flow": flow, "treatment": t, "baseline": b, "difference": _difference(t, b)})
    return out


def _difference(t: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    diff: dict[str, Any] = {}
    if t.get("p90_ms") is not None and b.get("p90_ms") is not None and None not in t["p90_ci"] + b["p90_ci"]:
        d = t["p90_ms"] - b["p90_ms"]
        se = math.hypot((t["p90_ci"][1] - t["p90_ci"][0]) / (2 * Z), (b["p90_ci"][1] - b["p90_ci"][0]) / (2 * Z))
        ci = [round(d - Z * se, 1), round(d + Z * se, 1)]
        diff.update(p90_ms=round(d, 1), p90_ci=ci, p90_significant=ci[0] > 0 or ci[1] < 0)
        if b["p90_ms"]:
            diff["p90_change"] = round(d / b["p90_ms"], 4)
    if t.get("transactions") and b.get("transactions"):
        p1, n1, p2, n2 = t["failure_rate"], t["transactions"], b["failure_rate"], b["transactions"]
        d = p1 - p2
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        ci = [round(d - Z * se, 5), round(d + Z * se, 5)]
        diff.update(failure_rate=round(d, 5), failure_rate_ci=ci, failure_rate_significant=ci[0] > 0 or ci[1] < 0)
    return diff


def _timeline(
    store: Store, filters: Filters, window: Window, group: tuple[str, list[Any]], names: dict[str, str]
) -> dict[str, Any]:
    where, params = filters.where("transaction_facts", window)
    bucket, bucket_params = bucket_sql(window, "start_ts")
    group_sql, group_params = group
    data = rows(
        store,
        f"""
        SELECT bucket, grp, quantile_cont(e2e_ms, {_Q}) AS p90,
               count(*) FILTER (WHERE failed) / count(*) AS failure_rate, count(*) AS n
        FROM (SELECT {bucket} AS bucket, {group_sql} AS grp, e2e_ms, {FAILED} AS failed
              FROM transaction_facts WHERE {where})
        WHERE grp IS NOT NULL GROUP BY ALL
        """,
        [*bucket_params, *group_params, *params],
    )
    # Group labels come from user input (a release or flag name), so SQL only sees fixed ones.
    for r in data:
        r["grp"] = names[r["grp"]]
    buckets, p90 = dense(window, data, "grp", "p90")
    _, failure = dense(window, data, "grp", "failure_rate")
    _, volume = dense(window, data, "grp", "n")
    return {"buckets": buckets, "p90": p90, "failure_rate": failure, "volume": volume}


def releases(store: Store, filters: Filters) -> dict[str, Any]:
    """Every frontend and backend release: when it was first and last seen, and its traffic."""
    data = rows(
        store,
        """
        SELECT 'frontend' AS app, release, min(start_ts) AS first_seen, max(start_ts) AS last_seen,
               count(*) AS transactions
        FROM transaction_facts WHERE release IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT 'backend', backend_release, min(start_ts), max(start_ts), count(*)
        FROM transaction_facts WHERE backend_release IS NOT NULL GROUP BY ALL
        ORDER BY first_seen
        """,
    )
    return {"releases": data}


def release_impact(
    store: Store, filters: Filters, release: str | None = None, baseline: str | None = None
) -> dict[str, Any]:
    """p90 latency and failure rate of a release against the release before it, with 95% CIs."""
    known = releases(store, filters)["releases"]
    if not known:
        return {"release": None, "baseline": None, "comparison": [], "message": "no releases in the store"}
    if release is None:
        window = filters.window(store)
        # Default: the latest release in the window that replaced an earlier one of its app.
        followers = [r for r in known if any(o["app"] == r["app"] and o["first_seen"] < r["first_seen"] for o in known)]
        inside = [r for r in followers if window.start <= r["first_seen"] < window.end]
        chosen = (inside or followers or known)[-1]
    else:
        matches = [r for r in known if r["release"] == release]
        if not matches:
            raise ValueError(f"no release {release!r}; known: {', '.join(r['release'] for r in known)}")
        chosen = matches[0]
    app = chosen["app"]
    same_app = [r for r in known if r["app"] == app]
    if baseline is None:
        earlier = [r for r in same_app if r["first_seen"] < chosen["first_seen"]]
        prior = earlier[-1] if earlier else None
    else:
        prior = next((r for r in same_app if r["release"] == baseline), None)
        if prior is None:
            raise ValueError(f"no {app} release {baseline!r}")
    column = "release" if app == "frontend" else "backend_release"
    at = chosen["first_seen"]
    if filters.start is not None and filters.end is not None:
        window = filters.window(store)
    else:
        half = (RANGES[filters.range] or timedelta(hours=24)) / 2
        window = Filters(range=filters.range, bucket=filters.bucket).with_(start=at - half, end=at + half).window(store)
    scoped = filters.with_(release=None)
    result: dict[str, Any] = {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "app": app,
        "release": chosen["release"],
        "released_at": at,
        "baseline": prior["release"] if prior else None,
        "releases": known,
    }
    if prior is None:
        result.update(comparison=[], message=f"{chosen['release']} is the first {app} release in the store")
        return result
    group = (f"CASE {column} WHEN ? THEN 'treatment' WHEN ? THEN 'baseline' END", [chosen["release"], prior["release"]])
    result["comparison"] = _compare(store, scoped, window, group)
    names = {"treatment": chosen["release"], "baseline": prior["release"]}
    result["timeline"] = _timeline(store, scoped, window, group, names)
    return result


def flags(store: Store, filters: Filters) -> list[dict[str, Any]]:
    """Flags and variants seen on transactions in the window, with their traffic."""
    window = filters.window(store)
    where, params = filters.where("transaction_facts", window)
    return rows(
        store,
        f"""
        SELECT flag, variant, count(*) AS transactions FROM (
            SELECT unnest(map_keys(feature_flags)) AS flag, unnest(map_values(feature_flags)) AS variant
            FROM transaction_facts WHERE {where} AND feature_flags IS NOT NULL)
        GROUP BY ALL ORDER BY flag, transactions DESC
        """,
        params,
    )


_OFF = ("off", "false", "control", "0", "disabled")


def flag_impact(store: Store, filters: Filters, flag: str | None = None, variant: str | None = None) -> dict[str, Any]:
    """p90 latency and failure rate with a flag variant against without it, with 95% CIs."""
    scoped = filters.with_(flag=None)
    seen = flags(store, scoped)
    window = scoped.window(store)
    result: dict[str, Any] = {"window": window.as_dict(), "filters": filters.to_params(), "flags": seen}
    if flag is None and filters.flag_parts():
        flag, variant = filters.flag_parts()  # type: ignore[misc]
    if flag is None:
        if not seen:
            return {**result, "flag": None, "variant": None, "comparison": [], "message": "no feature flags seen"}
        flag = seen[0]["flag"]
    if variant is None:
        on = [s for s in seen if s["flag"] == flag and str(s["variant"]).lower() not in _OFF]
        variant = on[0]["variant"] if on else "on"
    # One map lookup per transaction: the variant decides the group, any other value (or none) is the baseline.
    group = ("CASE WHEN feature_flags[?] = ? THEN 'treatment' ELSE 'baseline' END", [flag, variant])
    result.update(flag=flag, variant=variant)
    result["comparison"] = _compare(store, scoped, window, group)
    names = {"treatment": f"{flag}={variant}", "baseline": "others"}
    result["timeline"] = _timeline(store, scoped, window, group, names)
    return result
