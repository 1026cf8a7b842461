"""Splitting an input into raw records: lines of a (possibly gzipped) file, or a whole body.

Positions are 1-based line numbers. Byte offsets are counted in the decompressed stream so a
grown plain file can be resumed where the last ingest stopped. Framing never fails silently:
an over-long line or a truncated gzip member comes out as a `FramingProblem` record that the
pipeline quarantines.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

FINGERPRINT_BYTES = 1024
# Windows tools (PowerShell's Out-File, .NET loggers) start UTF-8 files with a byte-order mark;
# it belongs to the file, not to its first record, so framing drops it (offsets still count it).
BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


@dataclass(slots=True)
class FramingProblem:
    """A stretch of input that could not be cut into a record."""

    reason: str
    raw: bytes
    raw_size: int


@dataclass(slots=True)
class RawRecord:
    """One record's bytes and where it sits in its input."""

    position: int  # 1-based line number (or 1 for a whole body)
    data: bytes | FramingProblem
    end_offset: int  # decompressed byte offset just past this record


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_input(path: Path) -> BinaryIO:
    """Open a file for reading, transparently decompressing gzip."""
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def fingerprint(path: Path, length: int = FINGERPRINT_BYTES) -> str:
    """`<n>:<hash>` of the file's first n bytes (n = up to `length`): identifies the file, not its growth.

    A file shorter than `length` is hashed over what it has, and the length is kept, so the
    same file after it grows still matches (see `same_file`).
    """
    with path.open("rb") as f:
        head = f.read(length)
    return f"{len(head)}:{hashlib.blake2b(head, digest_size=12).hexdigest()}"


def same_file(path: Path, stored: str) -> bool:
    """True when `path` still starts with the bytes a stored fingerprint was taken over."""
    length, _, _ = stored.partition(":")
    if not length.isdigit():
        return False
    return fingerprint(path, int(length)) == stored


def read_sample(path: Path, size: int = 16_384) -> bytes:
    """The first bytes of the decompressed content, for format detection."""
    try:
        with open_input(path) as f:
            return f.read(size).removeprefix(BOM)
    except (OSError, EOFError, zlib.error):
        with path.open("rb") as f:
            return f.read(size).removeprefix(BOM)


def sample_lines(sample: bytes, limit: int = 20) -> list[bytes]:
    """The first non-blank lines of a sample, without a last line the sample cut short."""
    lines = [line for line in sample.splitlines()[:limit] if line.strip()]
    if len(lines) > 1 and not sample.endswith(b"\n"):
        lines.pop()
    return lines


def line_share(sample: bytes, accepts: Callable[[bytes], object]) -> float:
    """Share of the sample's lines that `accepts` takes (a true result; ValueError or a bad decode: no)."""
    lines = sample_lines(sample)
    hits = 0
    for line in lines:
        try:
            hits += bool(accepts(line))
        except (ValueError, UnicodeDecodeError):  # BadRecord is a ValueError
            continue
    return hits / len(lines) if lines else 0.0


def iter_lines(
    stream: BinaryIO, max_line_bytes: int, start_offset: int = 0, start_line: int = 0
) -> Iterator[RawRecord]:
    """Yield each line (without its newline) of a binary stream, from `start_offset`.

    A line longer than `max_line_bytes` is read through in chunks (memory stays bounded) and
    yielded as a FramingProblem holding its first bytes. A truncated or corrupt gzip stream
    ends the iteration with one FramingProblem naming where it broke.
    """
    offset = start_offset
    line_no = start_line
    if start_offset:
        _skip(stream, start_offset)
    while True:
        try:
            chunk = stream.readline(max_line_bytes + 1)
        except (EOFError, OSError, zlib.error) as exc:
            yield RawRecord(
                line_no + 1,
                FramingProblem(f"input ends in a corrupt or truncated compressed stream: {exc}", b"", 0),
                offset,
            )
            return
        if not chunk:
            return
        line_no += 1
        if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
            head = chunk[:4096]
            size = len(chunk)
            try:
                while True:
                    more = stream.readline(_CHUNK)
                    size += len(more)
                    if not more or more.endswith(b"\n"):
                        break
            except (EOFError, OSError, zlib.error) as exc:
                offset += size
                yield RawRecord(
                    line_no,
                    FramingProblem(
                        f"line longer than {max_line_bytes} bytes, then a corrupt stream: {exc}", head, size
                    ),
                    offset,
                )
                return
            offset += size
            yield RawRecord(
                line_no,
                FramingProblem(f"line of {size} bytes exceeds max_line_bytes={max_line_bytes}", head, size),
                offset,
            )
            continue
        data = chunk.rstrip(b"\r\n")
        if not offset:
            data = data.removeprefix(BOM)
        offset += len(chunk)
        if not data.strip():
            continue  # blank lines carry nothing; they still advance the line count
        yield RawRecord(line_no, data, offset)


def _skip(stream: BinaryIO, n: int) -> None:
    try:
        stream.seek(n)
    except (io.UnsupportedOperation, OSError):
        while n > 0:
            got = stream.read(min(n, _CHUNK))
            if not got:
                break
            n -= len(got)


def iter_whole(stream: BinaryIO, max_bytes: int) -> Iterator[RawRecord]:
    """The whole stream as one record (protobuf files, single JSON documents)."""
    try:
        data = stream.read(max_bytes + 1)
    except (EOFError, OSError, zlib.error) as exc:
        yield RawRecord(1, FramingProblem(f"corrupt or truncated compressed stream: {exc}", b"", 0), 0)
        return
    if len(data) > max_bytes:
        yield RawRecord(1, FramingProblem(f"body exceeds {max_bytes} bytes", data[:4096], len(data)), len(data))
        return
    yield RawRecord(1, data.removeprefix(BOM), len(data))
