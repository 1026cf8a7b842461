"""The `anomalies` table: detection results kept for alerts, playbooks and the UI."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from seamline.detect.anomalies import Anomaly
from seamline.dictionary import TABLES
from seamline.schema import arrow_schema, rows_to_batch
from seamline.store.base import Append, Statement, Store

_SCHEMA = arrow_schema(TABLES["anomalies"])


def store_anomalies(store: Store, anomalies: Sequence[Anomaly], start: datetime, end: datetime) -> str:
    """Replace the anomalies that start in [start, end) with these, in one transaction; returns the run id."""
    run_id = uuid.uuid4().hex[:16]
    ops: list[Append | Statement] = [
        Statement("DELETE FROM anomalies WHERE start_ts >= ? AND start_ts < ?", (start, end)),
    ]
    rows = [a.row(run_id) for a in anomalies]
    if rows:
        ops.append(Append("anomalies", rows_to_batch(rows, _SCHEMA)))
    store.apply(ops)
    return run_id


def load_anomalies(
    store: Store, start: datetime | None = None, end: datetime | None = None, open_only: bool = False
) -> list[dict[str, Any]]:
    """Stored anomalies (newest first) as dicts with scope, cohorts and signals decoded."""
    conds, params = ["true"], []
    if start is not None:
        conds.append("coalesce(end_ts, start_ts) >= ?")
        params.append(start)
    if end is not None:
        conds.append("start_ts < ?")
        params.append(end)
    if open_only:
        conds.append("end_ts IS NULL")
    rows = store.query(
        f"SELECT * FROM anomalies WHERE {' AND '.join(conds)} ORDER BY start_ts DESC", params
    ).to_pylist()
    for r in rows:
        for key in ("scope", "cohorts", "signals"):
            r[key] = orjson.loads(r[key]) if r[key] else ([] if key != "scope" else {})
    return rows
