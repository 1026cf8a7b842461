"""Detection accuracy against the simulator's truth (truth/incidents.json).

An anomaly matches an incident when its span [start, end] overlaps the incident's window
extended by `grace` after its end (effects drain: retries, sessions that were mid-flow). An
incident is found when some anomaly matches it; its time to detect is the earliest matching
`detected_at` minus the incident's start, and its segment is the one named by that earliest
anomaly (what a responder would read first). Anomalies matching no incident are false alerts.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from seamline.detect.anomalies import Anomaly

TARGETS = {
    "precision": (">=", 0.9),
    "recall": (">=", 0.9),
    "median_ttd_min": ("<=", 5.0),
    "segment_accuracy": (">=", 0.8),
    "false_alerts_per_day": ("<", 1.0),
}


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def load_incidents(sim_dir: Path) -> list[dict[str, Any]]:
    """The injected incidents of a simulation, with start and end as datetimes."""
    rows = orjson.loads((Path(sim_dir) / "truth" / "incidents.json").read_bytes())
    for r in rows:
        r["start"], r["end"] = _ts(r["start"]), _ts(r["end"])
    return rows


def evaluate(
    anomalies: Sequence[Anomaly],
    incidents: Sequence[dict[str, Any]],
    span_start: datetime,
    span_end: datetime,
    grace: timedelta = timedelta(minutes=10),
) -> dict[str, Any]:
    """Precision, recall, median time to detect, segment accuracy and false alerts per day, per incident too."""
    matched: set[int] = set()
    table = []
    for inc in incidents:
        hits = []
        for n, a in enumerate(anomalies):
            end = a.end or span_end
            if a.start <= inc["end"] + grace and end >= inc["start"]:
                hits.append(a)
                matched.add(n)
        first = min(hits, key=lambda a: a.detected_at) if hits else None
        table.append(
            {
                "incident": inc["id"],
                "kind": inc["kind"],
                "root_cause": inc["root_cause"],
                "service": inc["service"],
                "found": first is not None,
                "ttd_min": None if first is None else round((first.detected_at - inc["start"]).total_seconds() / 60, 1),
                "segment": None if first is None else first.segment,
                "segment_ok": first is not None and first.segment == inc["root_cause"],
                "named_service": None if first is None else first.service,
                "metric": None if first is None else first.metric,
                "scope": None if first is None else first.scope,
                "classification": None if first is None else first.classification,
                "anomalies": len(hits),
            }
        )
    found = [r for r in table if r["found"]]
    days = max((span_end - span_start).total_seconds() / 86_400.0, 1e-9)
    false = [a for n, a in enumerate(anomalies) if n not in matched]
    return {
        "incidents": len(incidents),
        "anomalies": len(anomalies),
        "precision": round(len(matched) / len(anomalies), 3) if anomalies else 1.0,
        "recall": round(len(found) / len(incidents), 3) if incidents else 1.0,
        "median_ttd_min": statistics.median(r["ttd_min"] for r in found) if found else None,
        "segment_accuracy": round(sum(r["segment_ok"] for r in table) / len(incidents), 3) if incidents else 1.0,
        "false_alerts_per_day": round(len(false) / days, 2),
        "per_incident": table,
        "false_alerts": [a.as_dict() | {"evidence": None} for a in false],
    }


def meets(figures: dict[str, Any]) -> dict[str, bool]:
    """Whether each figure meets its target."""
    out = {}
    for key, (op, target) in TARGETS.items():
        value = figures.get(key)
        if value is None:
            out[key] = False
        elif op == ">=":
            out[key] = value >= target
        elif op == "<=":
            out[key] = value <= target
        else:
            out[key] = value < target
    return out
