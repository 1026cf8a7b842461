"""One stored record with its lineage, and the raw line it was parsed from when that is still readable.

The raw line is read only from a file Seamline itself ingested (its path is in
`ingest_batches`), only when uncompressed, and only within the first `_MAX_SCAN` bytes, so
this can neither be pointed at arbitrary files nor made to read a huge one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seamline.store.base import Store

_MAX_SCAN = 256 * 1024 * 1024
_MAX_LINE = 64 * 1024


def _raw_line(store: Store, origin: str, position: int | None) -> str | None:
    if not position or origin.startswith(("http:", "https:")) or origin.endswith(".gz"):
        return None
    known = store.query("SELECT 1 FROM ingest_batches WHERE origin = ? LIMIT 1", [origin]).num_rows
    path = Path(origin)
    if not known or not path.is_file():
        return None
    scanned, number, head, at_start = 0, 1, None, True
    with path.open("rb") as f:
        # Read in bounded pieces: iterating a file by lines would hold a newline-free file whole.
        while scanned <= _MAX_SCAN:
            piece = f.readline(_MAX_LINE)
            if not piece:
                break
            scanned += len(piece)
            if number == position and at_start:
                head = piece
            at_start = piece.endswith(b"\n")
            if at_start:
                if number == position:
                    break
                number += 1
    return None if head is None else head.decode("utf-8", errors="backslashreplace").rstrip("\r\n")


def event_record(store: Store, event_id: str) -> dict[str, Any] | None:
    """The stored row (every non-empty column), where it came from, and its raw line."""
    found = store.query("SELECT * FROM events WHERE event_id = ? LIMIT 1", [event_id]).to_pylist()
    if not found:
        return None
    row = {k: v for k, v in found[0].items() if v is not None}
    for key in ("attributes", "feature_flags"):
        if isinstance(row.get(key), list):  # Arrow maps arrive as (key, value) pairs
            row[key] = dict(row[key])
    lineage = {k: row.get(k) for k in ("source", "origin", "position", "position_index", "ingest_batch_id")}
    return {"event": row, "lineage": lineage, "raw": _raw_line(store, row["origin"], row.get("position"))}
