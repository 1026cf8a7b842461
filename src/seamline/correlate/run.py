"""One correlation run: choose the window, clear what the last run built there, rebuild it.

The window covers the event time of everything ingested since the last run (by events
rowid), widened by `late_minutes` on both sides so records that arrive late still meet
their partners. A full run (`full=True`, or the first run) covers all client records.
Everything happens in one DuckDB transaction: readers see the old or the new result, never
half of each.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import orjson

from seamline.correlate._window import Window
from seamline.correlate.exact import link_exact
from seamline.correlate.transactions import CLIENT_KINDS, build_transactions
from seamline.store.duckdb_store import DuckDBStore


@dataclass
class CorrelationResult:
    """What one run did."""

    run_id: str
    window_start: str | None = None
    window_end: str | None = None
    events_considered: int = 0
    links: dict[str, int] = field(default_factory=dict)
    links_scored: int = 0
    transactions: int = 0
    sessions_with_offsets: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step of the run
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return asdict(self)


def _window(con: duckdb.DuckDBPyConnection, full: bool, late: timedelta) -> tuple[Window | None, int]:
    last_rowid = (
        None
        if full
        else con.execute("SELECT max(last_rowid) FROM correlation_runs WHERE status = 'done'").fetchone()[0]
    )
    max_rowid = con.execute("SELECT max(rowid) FROM events").fetchone()[0]
    if max_rowid is None:
        return None, 0
    if last_rowid is None:
        lo, hi = con.execute(f"SELECT min(ts), max(ts) FROM events WHERE kind IN {CLIENT_KINDS}").fetchone()
    else:
        lo, hi = con.execute("SELECT min(ts), max(ts) FROM events WHERE rowid > ?", [last_rowid]).fetchone()
    if lo is None:
        return None, int(max_rowid)
    start: datetime = lo - late
    end: datetime = hi + late
    return Window(start, end), int(max_rowid)


def _clear(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    """Remove what earlier runs built for client records (and roots) in the window."""
    params = {"start": window.start, "end": window.end}
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _window_clients AS SELECT event_id, session_id FROM events "
        f"WHERE kind IN {CLIENT_KINDS} AND ts BETWEEN $start AND $end",
        params,
    )
    con.execute("DELETE FROM links WHERE from_event_id IN (SELECT event_id FROM _window_clients)")
    con.execute("DELETE FROM unlinked_requests WHERE event_id IN (SELECT event_id FROM _window_clients)")
    con.execute(
        "DELETE FROM event_transactions WHERE transaction_id IN "
        "(SELECT transaction_id FROM transactions WHERE start_ts BETWEEN $start AND $end)",
        params,
    )
    con.execute("DELETE FROM event_transactions WHERE event_id IN (SELECT event_id FROM _window_clients)")
    con.execute("DELETE FROM transactions WHERE start_ts BETWEEN $start AND $end", params)
    con.execute("DELETE FROM clock_offsets WHERE session_id IN (SELECT DISTINCT session_id FROM _window_clients)")
    con.execute("DROP TABLE _window_clients")


def correlate(
    store: DuckDBStore,
    full: bool = False,
    late_minutes: float = 30.0,
    match_threshold: float = 0.9,
) -> CorrelationResult:
    """Correlate what arrived since the last run (or everything, with `full`)."""
    from seamline.correlate.scored import link_scored
    from seamline.correlate.skew import estimate_skew

    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:16]
    result = CorrelationResult(run_id)
    clock = [started]

    def phase(name: str) -> None:
        now = time.perf_counter()
        result.phases[name] = round(now - clock[0], 3)
        clock[0] = now

    with store.transaction() as con:
        window, max_rowid = _window(con, full, timedelta(minutes=late_minutes))
        if window is None:
            result.skipped = "nothing new since the last run"
            return result
        con.execute(
            "INSERT INTO correlation_runs (correlation_run_id, started_at, window_start, window_end, status) "
            "VALUES (?, now(), ?, ?, 'running')",
            [run_id, window.start, window.end],
        )
        _clear(con, window)
        phase("clear")
        result.window_start, result.window_end = window.start.isoformat(), window.end.isoformat()
        considered = con.execute("SELECT count(*) FROM events WHERE ts BETWEEN ? AND ?", [window.start, window.end])
        result.events_considered = int(considered.fetchone()[0])
        phase("window")
        result.links = link_exact(con, window, run_id)
        phase("exact")
        skew = estimate_skew(con, window, run_id)
        result.sessions_with_offsets = skew.sessions
        phase("skew")
        scored = link_scored(con, window, run_id, match_threshold)
        result.links_scored = scored.links
        phase("scored")
        # its own steps, for finding where the time goes
        result.phases.update({f"scored.{k}": round(v, 3) for k, v in scored.steps.items()})
        result.transactions = build_transactions(con, window, run_id)
        phase("transactions")
        result.seconds = time.perf_counter() - started
        con.execute(
            "UPDATE correlation_runs SET finished_at = now(), events_considered = ?, links_exact = ?, "
            "links_scored = ?, transactions = ?, seconds = ?, last_rowid = ?, phase_seconds = ?, status = 'done' "
            "WHERE correlation_run_id = ?",
            [
                result.events_considered,
                sum(result.links.values()),
                result.links_scored,
                result.transactions,
                result.seconds,
                max_rowid,
                orjson.dumps(result.phases).decode(),
                run_id,
            ],
        )
    phase("commit")
    result.seconds = time.perf_counter() - started
    return result
