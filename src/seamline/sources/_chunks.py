"""Reading line-framed input a block at a time, for sources that parse many lines at once.

`iter_line_chunks` cuts a stream into the same lines, line numbers and byte offsets as
`_framing.iter_lines`, but hands them over a few megabytes at a time (one `read` and one
`split` per block instead of one `readline` and one record object per line). Over-long lines
and a corrupt compressed stream still come out as `RawRecord`s holding a `FramingProblem`,
with the same reasons and positions as the line reader gives.

A source that can parse a chunk in one go offers `make_chunk_parser(parser)` next to
`make_parser`; it returns a `ChunkParser` bound to that line parser (so both share state),
or None when the parser's options rule it out. See `ChunkParser` for the contract.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import BinaryIO, Protocol

import pyarrow as pa

from seamline.sources._framing import BOM, FramingProblem, RawRecord, iter_lines

CHUNK_BYTES = 1 << 22
_HEAD_BYTES = 4096  # as much of an over-long line as its quarantine entry keeps


@dataclass(slots=True)
class LineChunk:
    """Consecutive non-blank lines of an input, without their line ends."""

    lines: list[bytes]
    positions: Sequence[int]  # 1-based line number of each line (blank lines are counted, not kept)
    ends: Sequence[int]  # byte offset just past each line
    end_offset: int  # byte offset just past the chunk
    end_line: int  # lines read up to end_offset, blank ones included

    def split(self, n: int) -> tuple[LineChunk, LineChunk]:
        """The first n lines (ending right after the n-th line) and the rest."""
        head = LineChunk(self.lines[:n], self.positions[:n], self.ends[:n], self.ends[n - 1], self.positions[n - 1])
        tail = LineChunk(self.lines[n:], self.positions[n:], self.ends[n:], self.end_offset, self.end_line)
        return head, tail


@dataclass(slots=True)
class ChunkRows:
    """What a chunk parser made of a list of lines.

    `batch` holds one row per parsed line, in the unified schema without lineage columns;
    `lines` gives the index (into the list it was given) of the line each row came from (rows
    need not be in line order); `rest` lists the lines it left to the per-line parser (invalid JSON, odd
    shapes, values it cannot convert exactly), which the pipeline feeds through it in order.
    """

    batch: pa.RecordBatch
    lines: pa.Array  # int32 or int64 line indices
    rest: list[int]


class ChunkParser(Protocol):
    """Parses many lines into the rows the source's per-line parser would yield for them.

    For every line it takes, the row must be exactly what the per-line parser bound to it
    would yield (one row, position_index 0); anything it cannot vouch for goes to `rest`.
    Until `ready` is true (e.g. while a preset is still being detected from the first
    records), the pipeline feeds lines to the per-line parser instead.
    """

    @property
    def ready(self) -> bool:
        """True when the chunk parser may take lines."""
        ...

    def __call__(self, lines: Sequence[bytes]) -> ChunkRows:
        """Rows for the lines it takes, and the indices of those it leaves."""
        ...


def iter_line_chunks(
    stream: BinaryIO,
    max_line_bytes: int,
    start_offset: int = 0,
    start_line: int = 0,
    reopen: Callable[[], BinaryIO] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[LineChunk | RawRecord]:
    """Chunks of lines from `start_offset`, and RawRecords for the stretches that are not lines.

    When a read fails (a truncated or corrupt gzip member), the rest is read line by line from
    a fresh stream (`reopen`), starting at the first line not yet handed out, so the lines
    before the break and the problem record come out exactly as `iter_lines` gives them.
    """
    reader = _ChunkReader(stream, max_line_bytes, start_offset, start_line, chunk_bytes)
    try:
        yield from reader
    except _ReadFailed as failed:
        if reopen is None:
            reason = f"input ends in a corrupt or truncated compressed stream: {failed.__cause__}"
            yield RawRecord(reader.line_no + 1, FramingProblem(reason, b"", 0), reader.offset)
            return
        with reopen() as fresh:
            yield from iter_lines(fresh, max_line_bytes, reader.offset, reader.line_no)


class _ReadFailed(Exception):
    pass


class _ChunkReader:
    """Block reads with the carry-over of a partial last line.

    `offset` and `line_no` always mark the end of what has been handed out, so a failed read
    can be resumed line by line from there.
    """

    def __init__(self, stream: BinaryIO, max_line_bytes: int, offset: int, line_no: int, chunk_bytes: int) -> None:
        self.stream = stream
        self.max = max_line_bytes
        self.offset = offset
        self.line_no = line_no
        self.chunk_bytes = max(chunk_bytes, 1)
        self.pending = b""  # bytes read past an over-long line, served before the stream
        self.head_bytes = min(max_line_bytes + 1, _HEAD_BYTES)  # what the line reader's first read holds
        if offset:
            _skip(stream, offset)

    def _read(self) -> bytes:
        if self.pending:
            block, self.pending = self.pending, b""
            return block
        try:
            return self.stream.read(self.chunk_bytes)
        except (EOFError, OSError, zlib.error) as exc:
            raise _ReadFailed from exc

    def __iter__(self) -> Iterator[LineChunk | RawRecord]:
        carry = b""
        while True:
            block = self._read()
            if not block:
                if carry:  # a last line without a newline is still a line
                    yield from self._lines([carry], 0, b"\r" in carry)
                return
            if b"\n" not in block:
                carry += block  # a line longer than a block: rare, and bounded by max_line_bytes
            else:
                # Split the block itself (no copy of it with the carried-over line in front).
                crlf = b"\r" in block or b"\r" in carry
                pieces = block.split(b"\n")
                if carry:
                    pieces[0] = carry + pieces[0]
                carry = pieces.pop()
                yield from self._lines(pieces, 1, crlf)
            if len(carry) > self.max:  # the line in progress is already too long
                yield self._long_line(carry)
                carry = b""

    def _long_line(self, head: bytes) -> RawRecord:
        """Read through a line already longer than the limit; memory stays bounded by one block."""
        size = len(head)
        while True:
            block = self._read()
            if not block:
                break
            nl = block.find(b"\n")
            if nl != -1:
                size += nl + 1
                self.pending = block[nl + 1 :]
                break
            size += len(block)
        self.line_no += 1
        self.offset += size
        reason = f"line of {size} bytes exceeds max_line_bytes={self.max}"
        return RawRecord(self.line_no, FramingProblem(reason, head[: self.head_bytes], size), self.offset)

    def _lines(self, pieces: list[bytes], newline: int, crlf: bool) -> Iterator[LineChunk | RawRecord]:
        """Chunks of lines whose line ends (`newline` bytes each) were cut off; `crlf`: some may end in CR."""
        if max(map(len, pieces)) <= self.max:
            yield self._chunk(pieces, newline, crlf)
            return
        start = 0
        for i, piece in enumerate(pieces):
            if len(piece) <= self.max:
                continue
            if i > start:
                yield self._chunk(pieces[start:i], newline, crlf)
            self.line_no += 1
            size = len(piece) + newline
            self.offset += size
            reason = f"line of {size} bytes exceeds max_line_bytes={self.max}"
            yield RawRecord(self.line_no, FramingProblem(reason, piece[: self.head_bytes], size), self.offset)
            start = i + 1
        if start < len(pieces):
            yield self._chunk(pieces[start:], newline, crlf)

    def _chunk(self, pieces: list[bytes], newline: int, crlf: bool) -> LineChunk:
        first = self.line_no + 1
        ends = list(accumulate(map(newline.__add__, map(len, pieces)), initial=self.offset))
        del ends[0]
        if not self.offset and pieces[0].startswith(BOM):  # the file's byte-order mark (see _framing.BOM)
            pieces[0] = pieces[0][len(BOM) :]
        self.offset = ends[-1]
        self.line_no += len(pieces)
        if crlf:
            pieces = [p.rstrip(b"\r") for p in pieces]
        lines = [p for p in pieces if p.strip()]  # blank lines count, but carry nothing
        if len(lines) == len(pieces):
            return LineChunk(lines, range(first, first + len(lines)), ends, self.offset, self.line_no)
        kept = [i for i, p in enumerate(pieces) if p.strip()]
        return LineChunk(lines, [first + i for i in kept], [ends[i] for i in kept], self.offset, self.line_no)


def _skip(stream: BinaryIO, n: int) -> None:
    try:
        stream.seek(n)
    except (OSError, ValueError):
        while n > 0:
            got = stream.read(min(n, 1 << 20))
            if not got:
                break
            n -= len(got)
