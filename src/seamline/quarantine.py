"""Re-ingest quarantined records after a fix (a better log_format, a corrected source).

The full record is recovered from its origin file by line number when the file is still
there (the quarantine keeps only the first bytes), else from the stored raw text when it was
not truncated. A record that now parses is stored with its original lineage and its
quarantine entry is marked `reingested_at`; one that still fails stays as it was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seamline.pipeline import Ingestor, _Run
from seamline.sources import get_source
from seamline.sources._framing import FramingProblem, RawRecord, iter_lines, open_input
from seamline.store import Statement


@dataclass
class ReingestResult:
    """Counts of one re-ingest."""

    considered: int = 0
    stored_rows: int = 0
    resolved: int = 0
    still_failing: int = 0
    unrecoverable: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return asdict(self)


def _lines_at(path: Path, positions: set[int], max_line_bytes: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    if not positions:
        return found
    last = max(positions)
    with open_input(path) as stream:
        for record in iter_lines(stream, max_line_bytes):
            if record.position in positions and not isinstance(record.data, FramingProblem):
                found[record.position] = record.data
            if record.position >= last:
                break
    return found


def reingest(
    ingestor: Ingestor,
    source: str | None = None,
    options: Mapping[str, str] | None = None,
    reason: str | None = None,
    origin: str | None = None,
) -> ReingestResult:
    """Try every open quarantine entry (optionally filtered) again; store what now parses."""
    entries = ingestor.store.query(
        "SELECT quarantine_id, source, origin, position, position_index, raw, raw_bytes FROM quarantine "
        # A duplicate is quarantined on purpose: storing it again would count it twice.
        "WHERE reingested_at IS NULL AND reason NOT LIKE 'duplicate record%' "
        "AND (? IS NULL OR reason ILIKE '%' || ? || '%') AND (? IS NULL OR origin = ?) "
        "ORDER BY origin, position, position_index",
        [reason, reason, origin, origin],
    ).to_pylist()
    result = ReingestResult(considered=len(entries))
    by_origin: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_origin[entry["origin"]].append(entry)
    settings = ingestor.settings
    for origin_name, group in by_origin.items():
        path = Path(origin_name)
        lines = _lines_at(path, {e["position"] for e in group}, settings.max_line_bytes) if path.is_file() else {}
        # One run per origin and source, so rows keep their original lineage.
        runs: dict[str, _Run] = {}
        resolved_ids: list[str] = []
        for entry in group:
            name = source or entry["source"]
            raw = lines.get(entry["position"])
            if raw is None and entry["raw"] is not None and len(entry["raw"].encode()) >= (entry["raw_bytes"] or 0):
                raw = entry["raw"].encode()
            if raw is None:
                result.unrecoverable += 1
                continue
            if name not in runs:
                runs[name] = _Run(ingestor, name, origin_name, get_source(name).make_parser(options or {}))
            run = runs[name]
            probe = _Run(ingestor, name, origin_name, run.parser, batch_id=run.batch_id)
            probe.add(RawRecord(entry["position"], raw, 0))
            wanted = [
                r
                for r in probe.rows
                if entry["position_index"] is None or r["position_index"] == entry["position_index"]
            ]
            if not wanted:
                result.still_failing += 1
                for why, n in probe.result.quarantine_reasons.items():
                    result.reasons[why] = result.reasons.get(why, 0) + n
                continue
            run.rows.extend(wanted)
            resolved_ids.append(entry["quarantine_id"])
        for run in runs.values():
            run.bad = []  # failures stay in quarantine as they are; nothing new is added
            ops = run.take_ops()
            result.stored_rows += run.result.rows_stored
            if resolved_ids:
                marks = ", ".join("?" for _ in resolved_ids)
                ops.append(
                    Statement(
                        f"UPDATE quarantine SET reingested_at = now() WHERE quarantine_id IN ({marks})",
                        tuple(resolved_ids),
                    )
                )
                resolved_ids = []
            ingestor.writer.submit(ops)
    ingestor.writer.flush()
    result.resolved = result.considered - result.still_failing - result.unrecoverable
    return result
