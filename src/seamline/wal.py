"""Write-ahead log for HTTP ingest: a request is acknowledged once its body is on disk.

Inserting into DuckDB costs milliseconds per request; an fsync'd append to a log file costs
a fraction of one. So the HTTP path validates a body, appends it here, acknowledges, and
lets the batcher commit it to the store shortly after, together with the log position it
covers. After a crash, startup replays every frame past the committed position: each
acknowledged body is stored exactly once.

A segment is a sequence of frames: magic, header length, body length, CRC32 of both, then
a JSON header (source, origin, request number, receive time, parser options) and the raw
body. A torn frame at the end (a crash mid-write, never acknowledged) is ignored.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_MAGIC = b"SLW1"
_HEAD = struct.Struct(">4sIII")  # magic, header length, body length, crc32(header + body)
SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Position:
    """Where a frame ends: the segment file and the byte offset just past the frame."""

    segment: str
    offset: int


@dataclass(frozen=True, slots=True)
class Frame:
    """One logged request."""

    header: dict[str, Any]
    body: bytes
    end: Position


class WriteAheadLog:
    """Appends frames to the current segment; one lock orders appends with their hand-off."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.lock = threading.Lock()
        self._fd = -1
        self._path = Path()
        self._size = 0
        self._open_new_segment()

    def _open_new_segment(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        name = f"{time.time_ns() // 1000:020d}.wal"
        self._path = self.directory / name
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0

    def append(self, header: dict[str, Any], body: bytes) -> Position:
        """Durably append one frame (caller holds `lock`); returns where it ends."""
        head = orjson.dumps(header)
        crc = zlib.crc32(body, zlib.crc32(head))
        frame = _HEAD.pack(_MAGIC, len(head), len(body), crc) + head + body
        if self._size and self._size + len(frame) > self.segment_bytes:
            self._open_new_segment()
        os.write(self._fd, frame)
        os.fdatasync(self._fd)
        self._size += len(frame)
        return Position(self._path.name, self._size)

    @property
    def current_segment(self) -> str:
        """File name of the segment being appended to."""
        return self._path.name

    def close(self) -> None:
        """Close the current segment."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def wal_origin(segment: str) -> str:
    """The ingest_offsets key under which a segment's committed position is kept."""
    return f"wal:{segment}"


def segments(directory: Path) -> list[Path]:
    """Segment files in append order."""
    return sorted(directory.glob("*.wal")) if directory.exists() else []


def read_frames(path: Path, start: int = 0) -> Iterator[Frame]:
    """Frames of a segment after byte `start`; stops quietly at a torn or corrupt tail."""
    with path.open("rb") as f:
        f.seek(start)
        offset = start
        while True:
            head = f.read(_HEAD.size)
            if len(head) < _HEAD.size:
                return
            magic, head_len, body_len, crc = _HEAD.unpack(head)
            if magic != _MAGIC:
                return
            payload = f.read(head_len + body_len)
            if len(payload) < head_len + body_len or zlib.crc32(payload) != crc:
                return
            offset += _HEAD.size + head_len + body_len
            yield Frame(orjson.loads(payload[:head_len]), payload[head_len:], Position(path.name, offset))
