"""Metric series on one-minute buckets, their baselines and scores, computed in one SQL pass.

The value at minute `m` is the metric over the trailing window (m - w, m] (w minutes), so it
uses only data available at the bucket's end: that is what makes the time to detect honest.
Each fact row is copied to the w buckets whose windows contain it, then grouped; quantiles
are exact. Baselines are robust statistics of the same series before the window:

- weekly: the median at the same minute of the week over the last four weeks (two needed);
- daily: the median at the same minute of the day over the last seven days (three needed);
- trailing: the median over the `history_min` minutes before the window (same day).

The spread is the MAD of the trailing series (the local noise of a windowed value), raised
to the metric's floors and, for rates, to the binomial noise of the window's volume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seamline.detect.metrics import REQ_COLUMNS, TABLES, TX_COLUMNS, Metric, scope_filter

MAX_SERVICE_ROUTES = 8
_DAY_MIN = 1440
_WEEK_MIN = 7 * _DAY_MIN


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What to compute: metrics of one table, grouped by one scope dimension (or none)."""

    metrics: tuple[Metric, ...]
    dim: str  # "" = everything; else a scope key
    scope: Mapping[str, str]  # a fixed scope (for a single series), else {}
    windows: tuple[int, ...]  # trailing window lengths in minutes, shortest first
    history_min: int  # trailing baseline length in minutes
    min_points: int  # trailing values needed before a bucket is judged


def _key_sql(table: str, dim: str) -> str:
    if not dim:
        return "''"
    columns = TX_COLUMNS if table == "tx" else REQ_COLUMNS
    if dim not in columns:
        raise ValueError(f"dimension {dim!r} cannot group {table} metrics")
    return columns[dim]


def _aggregates(spec: SeriesSpec) -> tuple[list[str], list[str], list[str]]:
    """Per-session columns (tx), aggregate columns per (metric, window) and the UNPIVOT groups naming them."""
    per_session: list[str] = []
    cols: list[str] = []
    groups: list[str] = []
    for i, m in enumerate(spec.metrics):
        for w in spec.windows:
            if m.table == "tx" and m.per_session:
                x = f"x_{i}_{w}"
                per_session.append(f"{m.row_sql} FILTER (WHERE k < {w}) AS {x}")
                cols += [f"{m.value(x)} AS v_{i}_{w}", f"{m.volume(x)} AS n_{i}_{w}", f"{m.bad(x)} AS b_{i}_{w}"]
            else:
                cond = f"k < {w} AND _l{i}" if m.table == "req" else f"k < {w}"
                x = m.row_sql
                bad = f"count(*) FILTER (WHERE {cond} AND ({x}))" if m.kind == "rate" else "0::BIGINT"
                cols += [
                    f"{m.value(x)} FILTER (WHERE {cond}) AS v_{i}_{w}",
                    f"count({x}) FILTER (WHERE {cond}) AS n_{i}_{w}",
                    f"{bad} AS b_{i}_{w}",
                ]
            groups.append(f'(v_{i}_{w}, n_{i}_{w}, b_{i}_{w}) AS "{m.name}|{w}"')
    return per_session, cols, groups


def series_sql(
    spec: SeriesSpec, load_from: datetime, start: datetime, end: datetime, deviating_only: bool = False
) -> tuple[str, list[Any]]:
    """SQL returning the buckets in [start, end) with their baselines, history read from `load_from`.

    `deviating_only` keeps the buckets at least half the metric's smallest change worse than
    their baseline (all detection needs; the rest is the quiet majority).
    """
    table = spec.metrics[0].table
    assert all(m.table == table for m in spec.metrics), "one table per series query"
    assert len({m.per_session for m in spec.metrics}) == 1, "per-session and per-row metrics run apart"
    name, ts = TABLES[table]
    key = _key_sql(table, spec.dim)
    params: list[Any] = []
    layer_cols = ""
    if table == "req":
        conds = []
        for i, m in enumerate(spec.metrics):
            layer = m.layer_filter({spec.dim: "x"} if spec.dim else spec.scope)
            layer_cols += f", ({layer}) AS _l{i}"
            conds.append(f"({layer})")
        row_filter = " OR ".join(conds)
    else:
        row_filter = "true"
    if spec.scope:
        # The fixed scope's own filter, without its layer condition (each metric applies its own).
        where, sparams = scope_filter(spec.metrics[0], spec.scope, with_layer=False)
        params += sparams
    else:
        where = "true"
    if table == "req" and spec.dim == "service":
        # A front service serving many routes of very different cost mixes them: its p90 jumps
        # whenever the mix shifts. Its routes are judged one by one in the route family instead.
        where = (
            f"({where}) AND service NOT IN (SELECT service FROM request_facts WHERE layer = 'service' "
            f"AND ts >= ? AND ts < ? GROUP BY service HAVING count(DISTINCT route) > {MAX_SERVICE_ROUTES})"
        )
        params += [load_from, end]
    wmax = max(spec.windows)
    per_session, cols, groups = _aggregates(spec)
    if table == "tx" and spec.metrics[0].per_session:
        # Sessions first: each session's value in each window, then the metric over sessions.
        grouped = f"""sessions AS (
        SELECT key, m + k AS minute, {", ".join(per_session)}
        FROM base CROSS JOIN range({wmax}) r(k)
        WHERE key IS NOT NULL
        GROUP BY key, m + k, _sess
    ), grouped AS (
        SELECT key, minute, {", ".join(cols)} FROM sessions GROUP BY key, minute
    )"""
    else:
        grouped = f"""grouped AS (
        SELECT key, m + k AS minute, {", ".join(cols)}
        FROM base CROSS JOIN range({wmax}) r(k)
        WHERE key IS NOT NULL
        GROUP BY key, m + k
    )"""
    sess = ", coalesce(session_id, transaction_id) AS _sess" if table == "tx" and spec.metrics[0].per_session else ""
    half = " ".join(f"WHEN '{m.name}' THEN {m.min_delta / 2}" for m in spec.metrics)
    deviating = f"expected IS NOT NULL AND value - expected >= CASE metric {half} END" if deviating_only else "true"
    rates = ", ".join(f"'{m.name}'" for m in spec.metrics if m.kind == "rate") or "''"
    min_vol = " ".join(f"WHEN '{m.name}' THEN {m.min_volume}" for m in spec.metrics)
    params = [load_from, end, *params]
    sql = f"""
    WITH base AS (
        SELECT {key} AS key, CAST(floor(epoch({ts}) / 60) AS BIGINT) AS m, * {layer_cols} {sess}
        FROM {name}
        WHERE {ts} >= ? AND {ts} < ? AND ({where}) AND ({row_filter})
    ), {grouped}, long AS (
        UNPIVOT grouped ON {", ".join(groups)} INTO NAME series VALUE value, volume, bad
    ), judged AS (
        SELECT key, minute, split_part(series, '|', 1) AS metric, CAST(split_part(series, '|', 2) AS INTEGER) AS win,
               value, volume, bad
        FROM long
        WHERE value IS NOT NULL AND volume >= CASE split_part(series, '|', 1) {min_vol} END
    ), based AS (
        SELECT *,
            median(value) OVER tr AS t_med, mad(value) OVER tr AS t_mad, count(*) OVER tr AS t_n,
            quantile_cont(value, 0.9) OVER tr AS t_q90, median(volume) OVER tr AS t_vol,
            median(value) OVER dy AS d_med, mad(value) OVER dy AS d_mad, count(*) OVER dy AS d_n,
            median(value) OVER wk AS w_med, count(*) OVER wk AS w_n,
            -- Rates: the pooled share (bad / volume) of the reference, not the median of windowed
            -- shares, which is 0 for a rare failure and would make every stray error look huge.
            sum(bad) OVER tr / nullif(sum(volume) OVER tr, 0) AS t_pool,
            sum(bad) OVER dy / nullif(sum(volume) OVER dy, 0) AS d_pool,
            sum(bad) OVER wk / nullif(sum(volume) OVER wk, 0) AS w_pool
        FROM judged
        WINDOW tr AS (PARTITION BY metric, key, win ORDER BY minute
                      RANGE BETWEEN {spec.history_min} + win PRECEDING AND win PRECEDING),
               dy AS (PARTITION BY metric, key, win, minute % {_DAY_MIN} ORDER BY minute
                      RANGE BETWEEN {7 * _DAY_MIN} PRECEDING AND {_DAY_MIN} PRECEDING),
               wk AS (PARTITION BY metric, key, win, minute % {_WEEK_MIN} ORDER BY minute
                      RANGE BETWEEN {4 * _WEEK_MIN} PRECEDING AND {_WEEK_MIN} PRECEDING)
    ), chosen AS (
    SELECT metric, key, minute, win, value, volume, bad,
           CASE WHEN metric IN ({rates}) THEN
                    -- the higher of seasonal and trailing: a few earlier days at one minute may hold no failure
                    CASE WHEN t_n >= {spec.min_points} OR d_n >= 3 OR w_n >= 2 THEN greatest(
                        CASE WHEN t_n >= {spec.min_points} THEN t_pool END,
                        CASE WHEN d_n >= 3 THEN d_pool END, CASE WHEN w_n >= 2 THEN w_pool END) END
                ELSE
                    CASE WHEN w_n >= 2 THEN w_med WHEN d_n >= 3 THEN d_med WHEN t_n >= {spec.min_points} THEN t_med END
           END AS expected,
           CASE WHEN w_n >= 2 OR d_n >= 3 THEN 'seasonal' WHEN t_n >= {spec.min_points} THEN 'trailing' END AS method,
           -- The upper tail of the trailing values counts too: a windowed p90 jumps now and then.
           greatest(coalesce(t_mad, 0), CASE WHEN d_n >= 3 THEN coalesce(d_mad, 0) ELSE 0 END,
                    coalesce(t_q90 - t_med, 0) / 1.9) AS mad,
           t_n + coalesce(d_n, 0) AS points, t_vol
    FROM based
    WHERE minute >= ? AND minute < ?
    QUALIFY row_number() OVER (PARTITION BY metric, key, minute ORDER BY win) = 1
    )
    SELECT * FROM chosen WHERE {deviating}
    """
    params += [int(start.timestamp() // 60), int(end.timestamp() // 60)]
    return sql, params


def spread(metric: Metric, expected: float, mad: float | None, volume: int, ref_volume: float | None = None) -> float:
    """Robust spread of a windowed value around its baseline, never below the metric's floors.

    The trailing MAD was measured at the reference's typical volume; a thinner window (the
    night) is noisier by the square root of the ratio.
    """
    s = 1.4826 * (mad or 0.0)
    if ref_volume and 0 < volume < ref_volume:
        s *= (ref_volume / volume) ** 0.5
    s = max(s, metric.floor, metric.rel_floor * abs(expected))
    if metric.kind == "rate" and volume > 0:
        # Failures cluster (a visitor's retries, one bad connection), so a rare failure's noise
        # is judged as if it were at least 2%: plain binomial noise would make three stray
        # errors in a quiet window look like an outage.
        p = min(max(expected, 0.02), 0.98)
        s = max(s, (p * (1.0 - p) / volume) ** 0.5)
    return s


def windows_for(history: Sequence[int]) -> tuple[int, ...]:
    """Window lengths, validated and sorted."""
    out = tuple(sorted({int(w) for w in history}))
    if not out or out[0] < 1 or out[-1] > 120:
        raise ValueError("window lengths must be 1..120 minutes")
    return out
