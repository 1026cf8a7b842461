"""Web vitals per page and browser: p75 of LCP, INP, CLS, FCP and TTFB, and the share rated poor.

p75 is what the Core Web Vitals assessment uses. The rating is the one the browser SDK sent
(good / needs-improvement / poor by the published thresholds). Read straight from the
`web_vital` events, filtered like every view (they carry release, flags, region, browser).
"""

from __future__ import annotations

from typing import Any

from seamline.store.base import Store
from seamline.views._common import bucket_sql, dense, label, rate, rows
from seamline.views._filters import Filters

VITALS = ("LCP", "INP", "CLS", "FCP", "TTFB")
GROUPINGS = {"page": ("page",), "browser": ("browser",), "page_browser": ("page", "browser")}


def web_vitals(store: Store, filters: Filters, by: str = "page", vital: str | None = None) -> dict[str, Any]:
    """p75 and poor share of each web vital per page, browser, or page and browser; p75 over time."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    if vital is not None and vital not in VITALS:
        raise ValueError(f"vital must be one of {', '.join(VITALS)}, not {vital!r}")
    window = filters.window(store)
    where, params = filters.where("events", window)
    names = [vital] if vital else list(VITALS)
    keys = ", ".join(GROUPINGS[by])
    data = rows(
        store,
        f"""
        SELECT {keys}, name, count(*) AS samples, quantile_cont(value, 0.75) AS p75,
               count(*) FILTER (WHERE attributes['rating'] = 'poor') AS poor,
               count(*) FILTER (WHERE attributes['rating'] = 'good') AS good
        FROM events WHERE kind = 'web_vital' AND {where} AND name IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL
        """,
        [*params, names],
    )
    table: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in data:
        key = tuple(label(r[k]) for k in GROUPINGS[by])
        entry = table.setdefault(key, {**dict(zip(GROUPINGS[by], key, strict=True)), "samples": 0})
        entry["samples"] = max(entry["samples"], r["samples"])
        digits = 3 if r["name"] == "CLS" else 0
        entry[r["name"]] = {
            "p75": None if r["p75"] is None else round(r["p75"], digits),
            "poor_share": rate(r["poor"], r["samples"]),
            "good_share": rate(r["good"], r["samples"]),
            "samples": r["samples"],
        }
    ordered = sorted(table.values(), key=lambda e: -e["samples"])
    bucket, bucket_params = bucket_sql(window, "ts")
    over_time = rows(
        store,
        f"""
        SELECT {bucket} AS bucket, name, quantile_cont(value, 0.75) AS p75
        FROM events WHERE kind = 'web_vital' AND {where} AND name IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL
        """,
        [*bucket_params, *params, names],
    )
    buckets, p75 = dense(window, over_time, "name", "p75")
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "by": by,
        "vitals": names,
        "rows": ordered,
        "buckets": buckets,
        "p75": p75,
    }
