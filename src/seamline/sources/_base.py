"""What a source is: a module that turns one raw record into rows of the unified schema.

A source module defines:

    NAME: str                       registry name, e.g. "nginx"
    DESCRIPTION: str                one line for `seamline sources`
    FRAMING: "lines" | "whole"      one record per line, or the whole file/body is one record
    def sniff(sample: bytes, filename: str) -> float
        confidence 0..1 that a file starting with `sample` is in this format
    def make_parser(options: Mapping[str, str]) -> Parser
        compile any per-run options (a log_format, a preset) once, return the parser

and may define, for line-framed formats that can parse many lines at once:

    def make_chunk_parser(parser: Parser) -> ChunkParser
        parse a whole chunk of lines into Arrow columns in one go (see `_chunks` and
        `json_log`); lines it cannot handle fall back to `parser`, one by one

A Parser takes the raw bytes of one record and yields rows (dicts keyed by column names of
`seamline.dictionary.EVENTS`) or `Rejected` items. A record may yield many rows (a client
batch, an OTLP request). Timestamps are integer microseconds since the epoch, UTC. Lineage
columns (event_id, source, origin, position, position_index, ingest_batch_id, schema_version)
are filled by the pipeline, not by the source. A parser raises `BadRecord` when the whole
record is unusable; the pipeline quarantines it with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Row = dict[str, Any]


class BadRecord(ValueError):
    """The whole record cannot be parsed; the message is the quarantine reason."""


@dataclass(slots=True)
class Rejected:
    """One part of a record that cannot be stored (e.g. event #3 of a batch)."""

    reason: str
    raw: str | bytes | None = None  # the offending part; None means the whole record
    index: int | None = None  # position inside the record


Parser = Callable[[bytes], Iterable[Row | Rejected]]


class SourceModule(Protocol):
    """The attributes a source module exposes (checked by the registry)."""

    NAME: str
    DESCRIPTION: str
    FRAMING: Literal["lines", "whole"]

    def sniff(self, sample: bytes, filename: str) -> float:
        """Confidence 0..1 that the sample is this format."""
        ...

    def make_parser(self, options: Mapping[str, str]) -> Parser:
        """A parser for one run, with options compiled."""
        ...
