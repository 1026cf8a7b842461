"""How close the stored clock offsets are to the simulator's truth.

truth/clock_offsets.ndjson gives each session's device clock: offset_ms at session_start_ms
(server time) and drift_ms_per_min, so the true offset at server time t is
offset_ms + drift × (t - session_start_ms) / 60000. Errors are taken at every client record
of a session (what the correction is applied to), pooled, and broken down by the method
that placed the session. For comparison, the same figures for the ingest-time estimate
(each batch's sentAt - receivedAt), read back from the simulator's client files beside the
truth folder, since correlation overwrote it in the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from seamline.sources.client_events import natural_id

if TYPE_CHECKING:
    from seamline.store.duckdb_store import DuckDBStore

# True offset at a record's device time c (ms): solve c = t + offset(t) for the server time t.
_TRUE_OFFSET = "(c - (c - t_off + t_drift * t0 / 60000.0) / (1 + t_drift / 60000.0))"

_ERRORS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _eval_errors AS
WITH truth AS (
    SELECT session_id, offset_ms AS t_off, drift_ms_per_min AS t_drift, session_start_ms AS t0
    FROM read_json_auto($truth)
), exact AS (
    SELECT c.session_id, count(DISTINCT l.from_event_id) AS linked
    FROM links l JOIN events c ON c.event_id = l.from_event_id
    WHERE l.method <> 'scored' GROUP BY c.session_id
), r AS (
    SELECT e.event_id, e.session_id, coalesce(co.method, 'none') AS method, coalesce(x.linked, 0) AS linked,
           e.clock_offset_ms AS est, epoch_us(e.client_ts) / 1000.0 AS c, t.t_off, t.t_drift, t.t0
    FROM events e JOIN truth t USING (session_id)
    LEFT JOIN clock_offsets co USING (session_id)
    LEFT JOIN exact x USING (session_id)
    WHERE e.client_ts IS NOT NULL
)
SELECT event_id, session_id, method, linked, est - {_TRUE_OFFSET} AS err, {_TRUE_OFFSET} AS true_off, c
FROM r
"""


def _summary(cur: Any, where: str, column: str = "err", table: str = "_eval_errors") -> dict[str, Any]:
    row = cur.execute(
        f"""
        SELECT count(*), count(DISTINCT session_id), median(abs({column})), quantile_cont(abs({column}), 0.9),
               quantile_cont(abs({column}), 0.99), median({column})
        FROM {table} WHERE {where}
        """
    ).fetchall()[0]
    keys = ("records", "sessions", "median_abs_ms", "p90_abs_ms", "p99_abs_ms", "median_signed_ms")
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in zip(keys, row, strict=True)}


def _ingest_offsets(client_dir: Path) -> pa.Table:
    """(event_id, ingest offset) for every client event in the simulator's batch files."""
    ids: list[str] = []
    offsets: list[float] = []
    for path in sorted(client_dir.glob("*.ndjson")):
        with path.open("rb") as fh:
            for line in fh:
                batch = orjson.loads(line)
                offset = batch["sentAt"] - batch["receivedAt"]
                session_id = batch["session"]["id"]
                for ev in batch["events"]:
                    ids.append(natural_id("client", session_id, ev["id"]))
                    offsets.append(offset)
    return pa.table({"event_id": ids, "ingest_ms": offsets})


def evaluate_skew(store: DuckDBStore, truth_dir: Path | str) -> dict[str, Any]:
    """Median/p90 |error| of stored offsets vs truth: overall, per method, for well-linked sessions."""
    truth_dir = Path(truth_dir)
    cur = store.cursor()
    try:
        cur.execute(_ERRORS_SQL, {"truth": str(truth_dir / "clock_offsets.ndjson")})
        total_sessions = cur.execute("SELECT count(DISTINCT session_id) FROM _eval_errors").fetchall()[0][0]
        out: dict[str, Any] = {
            "overall": _summary(cur, "true"),
            "linked_3_or_more": _summary(cur, "linked >= 3"),
            "by_method": {},
            "session_share": {},
        }
        for method, n in cur.execute(
            "SELECT method, count(DISTINCT session_id) FROM _eval_errors GROUP BY method ORDER BY 2 DESC"
        ).fetchall():
            out["by_method"][method] = _summary(cur, f"method = '{method}'")
            out["session_share"][method] = round(n / total_sessions, 4) if total_sessions else 0.0
        client_dir = truth_dir.parent / "client"
        if client_dir.is_dir():
            ingest = _ingest_offsets(client_dir)
            cur.register("_eval_ingest", ingest)
            cur.execute(
                """
                CREATE OR REPLACE TEMP TABLE _eval_ingest_err AS
                SELECT r.session_id, r.method, r.linked, i.ingest_ms - r.true_off AS err
                FROM _eval_errors r JOIN _eval_ingest i USING (event_id)
                """
            )
            out["ingest_time"] = {
                "overall": _summary(cur, "true", table="_eval_ingest_err"),
                "linked_3_or_more": _summary(cur, "linked >= 3", table="_eval_ingest_err"),
                "by_method": {m: _summary(cur, f"method = '{m}'", table="_eval_ingest_err") for m in out["by_method"]},
            }
            cur.unregister("_eval_ingest")
        return out
    finally:
        cur.close()
