"""Tail a growing log file into the store, surviving rotation (`seamline ingest --follow`).

The file stays open between polls. When the path starts pointing at a new file (rotation by
rename) or the file shrinks (copytruncate), what is left in the old file is read first, then
the new file from its start. Only complete lines are consumed: a line still being written
waits for its newline. Each poll's rows commit with the checkpoint that covers them, so a
restart resumes where the last commit ended.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from seamline.pipeline import _BATCH_END_SQL, _BATCH_START_SQL, Ingestor, _Run
from seamline.sources import detect_source, get_source
from seamline.sources._framing import FramingProblem, RawRecord, fingerprint, is_gzip, read_sample, same_file
from seamline.store import Statement

_CHUNK = 1 << 16


@dataclass
class FollowStats:
    """Running totals of a follow session."""

    records_read: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0
    rotations: int = 0


class _OpenFile:
    """One opened incarnation of the followed path, read in whole lines."""

    def __init__(self, path: Path, offset: int, line: int, max_line_bytes: int) -> None:
        self.stream: BinaryIO = path.open("rb")
        self.inode = os.fstat(self.stream.fileno()).st_ino
        self.fingerprint = fingerprint(path)
        self.stream.seek(offset)
        self.offset = offset
        self.line = line
        self.max_line_bytes = max_line_bytes
        self._pending = b""
        self._skipping = 0  # bytes of an over-long line being skipped

    def complete_lines(self) -> list[RawRecord]:
        """Every complete line appended since the last call."""
        out: list[RawRecord] = []
        while True:
            chunk = self.stream.read(_CHUNK)
            if not chunk:
                return out
            data = self._pending + chunk
            start = 0
            while True:
                nl = data.find(b"\n", start)
                if nl == -1:
                    break
                raw = data[start:nl]
                self.line += 1
                self.offset += nl + 1 - start
                if self._skipping:
                    size, self._skipping = self._skipping + len(raw), 0
                    problem = FramingProblem(
                        f"line of {size} bytes exceeds max_line_bytes={self.max_line_bytes}", b"", size
                    )
                    out.append(RawRecord(self.line, problem, self.offset))
                elif raw.strip():
                    out.append(RawRecord(self.line, raw.rstrip(b"\r"), self.offset))
                start = nl + 1
            self._pending = data[start:]
            if len(self._pending) > self.max_line_bytes:
                # Keep memory bounded: count the bytes of the over-long line and drop them.
                self._skipping += len(self._pending)
                self.offset += len(self._pending)
                self._pending = b""

    def replaced(self, path: Path) -> bool:
        """True when the path now names another file, or this file was truncated."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return False  # rotated away and not yet recreated: keep draining the old one
        return st.st_ino != self.inode or st.st_size < self.offset

    def close(self) -> None:
        """Close the stream."""
        self.stream.close()


def follow_file(
    ingestor: Ingestor,
    path: Path,
    source: str | None = None,
    options: Mapping[str, str] | None = None,
    poll_s: float = 1.0,
    stop: threading.Event | None = None,
    on_poll: Callable[[FollowStats], None] | None = None,
) -> FollowStats:
    """Ingest `path` as it grows until `stop` is set; returns the totals."""
    path = path.resolve()
    origin = str(path)
    if is_gzip(path):
        raise ValueError(f"{path} is gzip-compressed; --follow reads plain, growing files")
    if source is None:
        source, _ = detect_source(read_sample(path), path.name)
    parser = get_source(source).make_parser(options or {})
    stop = stop or threading.Event()
    stats = FollowStats()
    run = _Run(ingestor, source, origin, parser)
    ingestor.writer.submit([Statement(_BATCH_START_SQL, (run.batch_id, source, origin))])
    prior = ingestor.store.query(
        "SELECT fingerprint, offset_bytes, lines FROM ingest_offsets WHERE origin = ?", [origin]
    ).to_pylist()
    current = _OpenFile(path, 0, 0, ingestor.settings.max_line_bytes)
    if prior and same_file(path, prior[0]["fingerprint"]):
        current.close()
        current = _OpenFile(path, prior[0]["offset_bytes"], prior[0]["lines"], ingestor.settings.max_line_bytes)
    try:
        with ingestor.store.bulk_load(ingestor.settings.ingest_memory_limit):
            while True:
                records = current.complete_lines()
                if not records and current.replaced(path):
                    current.close()
                    current = _OpenFile(path, 0, 0, ingestor.settings.max_line_bytes)
                    stats.rotations += 1
                    continue
                for record in records:
                    run.add(record)
                if records:
                    ingestor.writer.submit(run.take_ops((current.fingerprint, records[-1])))
                    ingestor.writer.flush()
                    res = run.result
                    stats.records_read, stats.rows_stored, stats.rows_quarantined = (
                        res.records_read,
                        res.rows_stored,
                        res.rows_quarantined,
                    )
                    if on_poll:
                        on_poll(stats)
                if stop.wait(poll_s if not records else 0):
                    break
    finally:
        current.close()
        res = run.result
        end = (res.records_read, res.rows_stored, res.rows_quarantined, "done", run.batch_id)
        ingestor.writer.submit([Statement(_BATCH_END_SQL, end)])
        ingestor.writer.flush()
    return stats
