"""Output streams: a reorder buffer in front of buffered, rotating file writers.

Sessions are simulated concurrently, so records are produced a little ahead of the time
they would be written. Every record is pushed with the instant its real writer would have
written it (nginx at request end, a collector on arrival, an exporter after the span
ended); the buffer releases records once simulated time has passed that instant, so each
file comes out in the order a real system writes it while memory holds only the records
of sessions in flight, never the whole run.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from seamline.simulate.otlp import Resources, export_request

_BUFFER = 1 << 20
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Writer:
    """A file (or a rotating set of files) that takes payloads in write order."""

    records: int = 0  # output records (a client batch counts its events)

    def write(self, key_ms: float, payload: Any) -> int:
        """Write one payload; returns the number of records it holds."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and close."""

    def files(self) -> dict[str, int]:
        """Records per written file, by path relative to the output directory."""
        return {}


class LineWriter(Writer):
    """Plain lines into one file; the payload is the line as bytes."""

    def __init__(self, root: Path, rel: str) -> None:
        self.rel = rel
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = path.open("wb", buffering=_BUFFER)
        self.records = 0

    def write(self, key_ms: float, payload: Any) -> int:
        """Append the line."""
        self._fh.write(payload)
        self.records += 1
        return 1

    def close(self) -> None:
        """Flush and close the file."""
        self._fh.close()

    def files(self) -> dict[str, int]:
        """The one file and its line count."""
        return {self.rel: self.records}


class AccessLogWriter(LineWriter):
    """An access log whose lines may carry a ground-truth link, completed with the line number."""

    def __init__(self, root: Path, rel: str, links: IO[bytes]) -> None:
        super().__init__(root, rel)
        self._links = links
        self.links = 0
        self.unpropagated = 0

    def write(self, key_ms: float, payload: Any) -> int:
        """Append the line; write its truth link now that its position is known."""
        line, truth = payload
        self._fh.write(line)
        self.records += 1
        if truth is not None:
            truth["file"] = self.rel
            truth["line"] = self.records
            self._links.write(orjson.dumps(truth) + b"\n")
            self.links += 1
            self.unpropagated += not truth["propagated"]
        return 1


class RotatingWriter(Writer):
    """NDJSON split into numbered files of at most `lines_per_file` lines (NNN from 000)."""

    def __init__(self, root: Path, pattern: str, lines_per_file: int) -> None:
        self._root = root
        self._pattern = pattern  # e.g. "client/events-{:03d}.ndjson"
        self._limit = lines_per_file
        self._index = -1
        self._lines = 0
        self._fh: IO[bytes] | None = None
        self._counts: dict[str, int] = {}
        self._rel = ""
        self.records = 0
        self.lines_total = 0

    def _line(self, data: bytes, records: int) -> None:
        if self._fh is None or self._lines >= self._limit:
            if self._fh is not None:
                self._fh.close()
            self._index += 1
            self._rel = self._pattern.format(self._index)
            path = self._root / self._rel
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("wb", buffering=_BUFFER)
            self._lines = 0
            self._counts[self._rel] = 0
        self._fh.write(data)
        self._lines += 1
        self.lines_total += 1
        self._counts[self._rel] += records
        self.records += records

    def write(self, key_ms: float, payload: Any) -> int:
        """Payload is (line bytes, records in it)."""
        data, n = payload
        self._line(data, n)
        return n

    def close(self) -> None:
        """Close the current file."""
        if self._fh is not None:
            self._fh.close()

    def files(self) -> dict[str, int]:
        """Records per numbered file."""
        return dict(self._counts)


class OtlpWriter(RotatingWriter):
    """Spans gathered into export requests, as a collector's batch processor hands them on.

    A request is cut at `max_spans` spans or when `timeout_ms` of simulated time has passed
    since its first span (the batch processor's send_batch_size and timeout).
    """

    def __init__(
        self,
        root: Path,
        pattern: str,
        lines_per_file: int,
        resources: Resources,
        max_spans: int = 256,
        timeout_ms: float = 2_000.0,
    ) -> None:
        super().__init__(root, pattern, lines_per_file)
        self._res = resources
        self._pending: list[tuple[int, int, dict[str, Any]]] = []
        self._first_ms = 0.0
        self._max = max_spans
        self._timeout = timeout_ms

    def write(self, key_ms: float, payload: Any) -> int:
        """Payload is (resource id, scope id, span dict)."""
        if self._pending and key_ms - self._first_ms >= self._timeout:
            self._export()
        if not self._pending:
            self._first_ms = key_ms
        self._pending.append(payload)
        if len(self._pending) >= self._max:
            self._export()
        return 1

    def _export(self) -> None:
        spans = self._pending
        self._pending = []
        self._line(orjson.dumps(export_request(spans, self._res)) + b"\n", len(spans))

    def close(self) -> None:
        """Export what is pending, then close."""
        if self._pending:
            self._export()
        super().close()


class Sink:
    """The reorder buffer: push records with their write instant, release them in order."""

    def __init__(
        self, writers: list[Writer], progress: Callable[[int], None] | None, progress_every: int = 50_000
    ) -> None:
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._writers = writers
        self._progress = progress
        self._every = progress_every
        self._next_report = progress_every
        self.pushed = 0  # records pushed so far (what the rate controller steers by)
        self.written = 0
        self.first_ms = float("inf")
        self.last_ms = float("-inf")

    def push(self, key_ms: float, stream: int, payload: Any, records: int = 1) -> None:
        """Queue a record (or a batch of `records`) to be written at `key_ms`."""
        self._seq += 1
        heapq.heappush(self._heap, (key_ms, self._seq, stream, payload))
        self.pushed += records

    def release(self, before_ms: float) -> None:
        """Write everything due before `before_ms`; nothing later can be pushed earlier than that."""
        heap = self._heap
        if not heap or heap[0][0] >= before_ms:
            return
        writers = self._writers
        pop = heapq.heappop
        written = self.written
        if heap[0][0] < self.first_ms:
            self.first_ms = heap[0][0]
        key = 0.0
        while heap and heap[0][0] < before_ms:
            key, _, stream, payload = pop(heap)
            written += writers[stream].write(key, payload)
        self.last_ms = max(self.last_ms, key)
        self.written = written
        if self._progress is not None and written >= self._next_report:
            self._next_report = written + self._every
            self._progress(written)

    def close(self) -> None:
        """Write the rest and close every writer."""
        self.release(float("inf"))
        for w in self._writers:
            w.close()
        if self._progress is not None:
            self._progress(self.written)


class ClfTime:
    """nginx $time_local text (`02/Nov/2026:10:00:00 +0000`), cached per second since lines share seconds."""

    def __init__(self, utc_offset_min: int = 0) -> None:
        self._offset_s = utc_offset_min * 60
        sign = "-" if utc_offset_min < 0 else "+"
        m = abs(utc_offset_min)
        self._suffix = f" {sign}{m // 60:02d}{m % 60:02d}"
        self._sec = -1
        self._text = ""

    def __call__(self, ms: float) -> str:
        sec = int(ms // 1000.0)
        if sec != self._sec:
            self._sec = sec
            self._text = _civil(sec + self._offset_s, "{d:02d}/{mon}/{y}:{H:02d}:{M:02d}:{S:02d}") + self._suffix
        return self._text


class IsoTime:
    """ISO 8601 with microseconds and an explicit offset (`2026-11-02T10:00:00.123456+00:00`)."""

    def __init__(self, utc_offset_min: int = 0) -> None:
        self._offset_s = utc_offset_min * 60
        sign = "-" if utc_offset_min < 0 else "+"
        m = abs(utc_offset_min)
        self._suffix = f"{sign}{m // 60:02d}:{m % 60:02d}"
        self._sec = -1
        self._prefix = ""

    def __call__(self, ms: float) -> str:
        sec = int(ms // 1000.0)
        if sec != self._sec:
            self._sec = sec
            self._prefix = _civil(sec + self._offset_s, "{y}-{mo:02d}-{d:02d}T{H:02d}:{M:02d}:{S:02d}")
        us = min(999_999, int((ms - sec * 1000.0) * 1000.0))
        return f"{self._prefix}.{us:06d}{self._suffix}"


def _civil(epoch_s: int, fmt: str) -> str:
    # Our own calendar maths instead of strftime: %b follows the process locale.
    days, rem = divmod(epoch_s, 86_400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    # days since 1970-01-01 to a civil date (Howard Hinnant's algorithm)
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    mo = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if mo <= 2 else 0)
    return fmt.format(y=y, mo=mo, mon=_MONTHS[mo - 1], d=d, H=hh, M=mm, S=ss)


# Stream numbers: the index of each writer in the list the Sink is given.
CLIENT = 0
GATEWAY = 1
LEGACY = 2
OTLP = 3
FIRST_SERVICE_LOG = 4  # then one stream per service, in model.SERVICES order
