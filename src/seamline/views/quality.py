"""Data quality and the data dictionary: can the numbers on the other pages be trusted?

Data quality gathers what limits them: records quarantined (and why), values outside the
dictionary's ranges, ingest runs per source, how client requests were joined to the server
(exact, scored, not at all, and why not), how client clocks were corrected, the last
correlation runs, and whether the dashboard facts are up to date.
"""

from __future__ import annotations

from typing import Any

from seamline import dictionary
from seamline.store.base import Store
from seamline.validate import count_out_of_range
from seamline.views._common import rows
from seamline.views._filters import Filters, Window
from seamline.views.coverage import summarise
from seamline.views.facts import facts_stale


def data_quality(store: Store, filters: Filters) -> dict[str, Any]:
    """Quarantine, out-of-range values, ingest per source, join coverage, clock offsets, correlation runs."""
    window = filters.window(store)
    where, params = filters.where("events", window)
    quarantine = rows(
        store,
        "SELECT source, reason, count(*) AS records, max(received_at) AS last_seen FROM quarantine "
        "WHERE reingested_at IS NULL GROUP BY ALL ORDER BY records DESC LIMIT 50",
    )
    ingest = rows(
        store,
        """
        SELECT source, count(*) AS runs, sum(records_read)::BIGINT AS records_read,
               sum(rows_stored)::BIGINT AS rows_stored, sum(rows_quarantined)::BIGINT AS rows_quarantined,
               max(finished_at) AS last_finished, count(*) FILTER (WHERE status = 'failed') AS failed_runs
        FROM ingest_batches GROUP BY source ORDER BY rows_stored DESC NULLS LAST
        """,
    )
    for r in ingest:
        r["quarantined_share"] = (
            round(r["rows_quarantined"] / r["records_read"], 5) if r["records_read"] and r["rows_quarantined"] else 0.0
        )
    by_kind = rows(
        store,
        f"SELECT kind, source, count(*) AS rows FROM events WHERE {where} GROUP BY ALL ORDER BY rows DESC",
        params,
    )
    clocks = rows(
        store,
        """
        SELECT method, count(*) AS sessions, median(abs(offset_ms)) AS median_abs_offset_ms,
               quantile_cont(abs(offset_ms), 0.95) AS p95_abs_offset_ms, median(spread_ms) AS median_spread_ms
        FROM clock_offsets GROUP BY method ORDER BY sessions DESC
        """,
    )
    runs = rows(
        store,
        "SELECT correlation_run_id, started_at, seconds, events_considered, links_exact, links_scored, transactions, "
        "status FROM correlation_runs ORDER BY started_at DESC LIMIT 10",
    )
    return {
        "window": window.as_dict(),
        "filters": filters.to_params(),
        "rows_in_window": by_kind,
        "out_of_range": count_out_of_range(store, where, params),
        "quarantine": quarantine,
        "ingest": ingest,
        "coverage": _coverage(store, filters, window),
        "clock_offsets": clocks,
        "correlation_runs": runs,
        "facts_stale": facts_stale(store),
    }


def _coverage(store: Store, filters: Filters, window: Window) -> dict[str, Any]:
    """Join coverage by route of the window's client requests and documents, read from request_facts.

    The same counts as `seamline coverage` (views.coverage.join_coverage), for requests that
    belong to a transaction, without scanning links and events.
    """
    where, params = filters.where("request_facts", window)
    groups = rows(
        store,
        f"""
        SELECT coalesce(route, '(none)') AS key, linkage, coalesce(unlinked_reason, '(not yet correlated)') AS reason,
               count(*) AS n
        FROM request_facts WHERE {where} AND layer IN ('client', 'document') GROUP BY ALL
        """,
        params,
    )
    return summarise(groups, "route", 20)


def data_dictionary() -> dict[str, Any]:
    """Every stored table and column with type, unit, range, privacy class and meaning; the record kinds."""
    return {
        "kinds": [{"kind": k, "meaning": m} for k, m in dictionary.KIND_MEANINGS.items()],
        "tables": [{"table": t, "columns": [c.as_dict() for c in cols]} for t, cols in dictionary.TABLES.items()],
    }


def filter_options(store: Store, filters: Filters) -> dict[str, Any]:
    """Values each filter can take in the window (for the filter bar's choices)."""
    window = filters.window(store)
    # Choices span the whole window, not the other filters: they must offer what is not selected yet.
    params = [window.start, window.end]
    dims = ("environment", "release", "backend_release", "segment", "browser", "region", "flow", "page")
    sets = ", ".join(f"({d})" for d in dims)
    data = rows(
        store,
        f"""
        SELECT {", ".join(dims)}, {", ".join(f"grouping({d}) AS g_{d}" for d in dims)}, count(*) AS n
        FROM transaction_facts WHERE start_ts >= ? AND start_ts < ? GROUP BY GROUPING SETS ({sets})
        """,
        params,
    )
    out: dict[str, Any] = {}
    for d in dims:
        values = sorted((r for r in data if r[f"g_{d}"] == 0 and r[d] is not None), key=lambda r: (-r["n"], str(r[d])))
        out[d] = [r[d] for r in values][:100]
    out["release"] = sorted(set(out.pop("release")) | set(out.pop("backend_release")))
    flag_rows = rows(
        store,
        """
        SELECT DISTINCT flag || ':' || variant AS flag FROM (
            SELECT unnest(map_keys(feature_flags)) AS flag, unnest(map_values(feature_flags)) AS variant
            FROM transaction_facts WHERE start_ts >= ? AND start_ts < ? AND feature_flags IS NOT NULL)
        ORDER BY 1
        """,
        params,
    )
    out["flag"] = [r["flag"] for r in flag_rows]
    out["window"] = window.as_dict()
    return out
