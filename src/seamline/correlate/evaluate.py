"""How right the links are, measured against the simulator's ground truth (`truth/links.ndjson`).

A truth line names a client event (session id + SDK event id) and the access-log line that
served it (file + line number), plus the trace and api SERVER span for instrumented
requests. A stored client row is found by the same natural id the client source gives it;
an access-log row by its origin (a path ending in the truth file) and line number.

- exact links: right when they reach the truth's access-log line or its api SERVER span;
- scored links: right when they reach the truth's access-log line. Recall counts the truth
  links whose request carried no ids (`propagation == "none"`) and that reached a server;
- the reliability table bins scored links by confidence and shows the observed precision.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from seamline.sources.client_events import natural_id
from seamline.store.duckdb_store import DuckDBStore

RELIABILITY_BINS: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0000001)

_TRUTH_SCHEMA = pa.schema(
    [
        ("client_id", pa.string()),
        ("event_type", pa.string()),
        ("propagation", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("trace_id", pa.string()),
        ("server_span_id", pa.string()),
    ]
)

_TRUTH_TABLES = """
CREATE OR REPLACE TEMP TABLE _ev_truth AS
SELECT t.*, e.event_id AS line_id, sp.event_id AS span_id_event
FROM _ev_truth_in t
LEFT JOIN _ev_origins o ON o.file = t.file
LEFT JOIN events e ON e.origin = o.origin AND e.position = t.line AND e.kind = 'server_request'
LEFT JOIN events sp ON sp.kind = 'span' AND sp.trace_id = t.trace_id AND sp.span_id = t.server_span_id
WHERE t.client_id IN (SELECT event_id FROM events WHERE kind IN ('client_request', 'page_view'))
"""

_JUDGED = """
CREATE OR REPLACE TEMP TABLE _ev_judged AS
SELECT l.from_event_id, l.to_event_id, l.method, l.confidence, t.file, t.propagation,
       CASE WHEN t.client_id IS NULL THEN NULL
            WHEN l.method = 'scored' THEN l.to_event_id = t.line_id
            ELSE l.to_event_id IN (t.line_id, t.span_id_event) END AS correct
FROM links l LEFT JOIN _ev_truth t ON t.client_id = l.from_event_id
WHERE $run_id IS NULL OR l.correlation_run_id = $run_id
"""


def _load_truth(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> int:
    rows: dict[str, list[Any]] = {name: [] for name in _TRUTH_SCHEMA.names}
    with (truth_dir / "links.ndjson").open("rb") as fh:
        for line in fh:
            t = orjson.loads(line)
            rows["client_id"].append(natural_id("client", t["session_id"], t["event_id"]))
            rows["event_type"].append(t["event_type"])
            rows["propagation"].append(t["propagation"])
            rows["file"].append(t["file"])
            rows["line"].append(t["line"])
            rows["trace_id"].append(t.get("trace_id"))
            rows["server_span_id"].append(t.get("server_span_id"))
    truth = pa.table(rows, schema=_TRUTH_SCHEMA)
    files = sorted(set(rows["file"]))
    origins = [r[0] for r in con.execute("SELECT DISTINCT origin FROM events WHERE kind = 'server_request'").fetchall()]
    # Which stored origin is which truth file: the path ends with it (equi-joins afterwards).
    mapping = [(o, f) for o in origins for f in files if o == f or o.endswith("/" + f)]
    con.register("_ev_truth_in", truth)
    con.register("_ev_origins", pa.table({"origin": [m[0] for m in mapping], "file": [m[1] for m in mapping]}))
    try:
        con.execute(_TRUTH_TABLES)
    finally:
        con.unregister("_ev_truth_in")
        con.unregister("_ev_origins")
    return truth.num_rows


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 5) if den else None


def reliability(con: duckdb.DuckDBPyConnection, bins: tuple[float, ...] = RELIABILITY_BINS) -> list[dict[str, Any]]:
    """Scored links of `_ev_judged` by confidence bin: count, mean confidence, observed precision."""
    out = []
    for lo, hi in itertools.pairwise(bins):
        n, mean, right = con.execute(
            "SELECT count(*), avg(confidence), count(*) FILTER (WHERE correct) FROM _ev_judged "
            "WHERE method = 'scored' AND correct IS NOT NULL AND confidence >= ? AND confidence < ?",
            [lo, hi],
        ).fetchone()
        if n:
            out.append(
                {
                    "bin": f"[{lo:g}, {min(hi, 1.0):g}{']' if hi > 1 else ')'}",
                    "links": int(n),
                    "mean_confidence": round(float(mean), 4),
                    "precision": round(right / n, 4),
                }
            )
    return out


def evaluate_connection(
    con: duckdb.DuckDBPyConnection, truth_dir: Path | str, run_id: str | None = None
) -> dict[str, Any]:
    """The accuracy figures for the links visible on `con` (optionally one run's only)."""
    truth_dir = Path(truth_dir)
    truth_rows = _load_truth(con, truth_dir)
    con.execute(_JUDGED, {"run_id": run_id})
    exact = con.execute(
        "SELECT count(*), count(correct), count(*) FILTER (WHERE correct) FROM _ev_judged WHERE method <> 'scored'"
    ).fetchone()
    scored = con.execute(
        "SELECT count(*), count(correct), count(*) FILTER (WHERE correct) FROM _ev_judged WHERE method = 'scored'"
    ).fetchone()
    by_origin = []
    for file, pool, hits, links, right in con.execute(
        """
        WITH pool AS (
            SELECT t.file, t.client_id, t.line_id FROM _ev_truth t WHERE t.propagation = 'none'
        ), s AS (SELECT * FROM _ev_judged WHERE method = 'scored' AND correct IS NOT NULL)
        SELECT f.file,
               (SELECT count(*) FROM pool p WHERE p.file = f.file),
               (SELECT count(*) FROM pool p JOIN s ON s.from_event_id = p.client_id AND s.correct
                WHERE p.file = f.file),
               (SELECT count(*) FROM s WHERE s.file = f.file),
               (SELECT count(*) FROM s WHERE s.file = f.file AND s.correct)
        FROM (SELECT DISTINCT file FROM _ev_truth) f ORDER BY f.file
        """
    ).fetchall():
        by_origin.append(
            {
                "file": file,
                "idless_requests": int(pool),
                "recall": _ratio(hits, pool),
                "scored_links": int(links),
                "precision": _ratio(right, links),
            }
        )
    pool = sum(o["idless_requests"] for o in by_origin)
    hits = con.execute(
        "SELECT count(*) FROM _ev_truth t JOIN _ev_judged j ON j.from_event_id = t.client_id "
        "WHERE t.propagation = 'none' AND j.method = 'scored' AND j.correct"
    ).fetchone()[0]
    missed = con.execute(
        """
        SELECT coalesce(u.reason, CASE WHEN j.from_event_id IS NOT NULL THEN 'wrong_link' ELSE 'not_considered' END),
               count(*)
        FROM _ev_truth t
        LEFT JOIN _ev_judged j ON j.from_event_id = t.client_id
        LEFT JOIN unlinked_requests u
               ON u.event_id = t.client_id AND ($run_id IS NULL OR u.correlation_run_id = $run_id)
        WHERE t.propagation = 'none' AND NOT coalesce(j.correct, false)
        GROUP BY ALL ORDER BY 2 DESC
        """,
        {"run_id": run_id},
    ).fetchall()
    result = {
        "truth_links": truth_rows,
        "exact": {
            "links": int(exact[0]),
            "judged": int(exact[1]),
            "correct": int(exact[2]),
            "precision": _ratio(exact[2], exact[1]),
        },
        "scored": {
            "links": int(scored[0]),
            "judged": int(scored[1]),
            "correct": int(scored[2]),
            "precision": _ratio(scored[2], scored[1]),
            "idless_requests": pool,
            "recall": _ratio(hits, pool),
            "missed": {str(reason): int(n) for reason, n in missed},
        },
        "by_origin": by_origin,
        "reliability": reliability(con),
    }
    con.execute("DROP TABLE IF EXISTS _ev_judged")
    con.execute("DROP TABLE IF EXISTS _ev_truth")
    return result


def evaluate_links(store: DuckDBStore, truth_dir: Path | str) -> dict[str, Any]:
    """Precision of exact and scored links, recall of scored links, per origin, and reliability."""
    con = store.cursor()
    try:
        return evaluate_connection(con, truth_dir)
    finally:
        con.close()
