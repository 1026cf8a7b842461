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
from dataclasses import dataclass, field
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
    # Bytes appended by this process up to the frame's end (all segments): what `sync` waits for.
    mark: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Frame:
    """One logged request."""

    header: dict[str, Any]
    body: bytes
    end: Position


class WriteAheadLog:
    """Appends frames to the current segment; one lock orders appends with their hand-off.

    Appends do not wait for the disk under the lock: `sync(mark)` afterwards does, and one
    fdatasync covers every frame written before it started (group commit), so concurrent
    requests share a flush instead of queueing one flush each behind the lock.
    """

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.lock = threading.Lock()
        self._fd = -1
        self._path = Path()
        self._size = 0
        self._written = 0  # bytes appended since open, all segments
        self._synced = 0  # of those, bytes known to be on disk
        self._syncing = False  # a flush is in flight (its leader does not hold `_sync`)
        self._sync = threading.Condition()
        self._open_new_segment()

    def _open_new_segment(self) -> None:
        if self._fd >= 0:
            with self._sync:  # never close the file under an in-flight flush
                while self._syncing:
                    self._sync.wait()
                os.fdatasync(self._fd)
                self._synced = self._written
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
        self._size += len(frame)
        self._written += len(frame)
        return Position(self._path.name, self._size, self._written)

    def sync(self, mark: int) -> None:
        """Return once every byte up to `mark` is on disk; call without holding `lock`."""
        with self._sync:
            while self._synced < mark:
                if self._syncing:
                    self._sync.wait()
                    continue
                self._syncing = True
                target, fd = self._written, self._fd
                self._sync.release()
                try:
                    os.fdatasync(fd)
                finally:
                    self._sync.acquire()
                    self._syncing = False
                    self._sync.notify_all()
                self._synced = max(self._synced, target)

    @property
    def current_segment(self) -> str:
        """File name of the segment being appended to."""
        return self._path.name

    def close(self) -> None:
        """Flush and close the current segment."""
        if self._fd >= 0:
            with self._sync:
                while self._syncing:
                    self._sync.wait()
                os.fdatasync(self._fd)
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
