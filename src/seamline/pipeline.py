"""The ingest pipeline: raw records -> source parser -> checks -> transforms -> writer.

Every record read ends up either stored or quarantined with its reason and position; none
is dropped. File ingest is idempotent: each transaction commits the rows together with the
file checkpoint that covers them, so a re-run (or a run after a crash) resumes exactly where
the last commit ended.

Line-framed files whose source offers a chunk parser (`make_chunk_parser`, see
`sources._chunks`) are read a block at a time and parsed into Arrow columns; the row checks,
event ids and lineage are then applied a column at a time (`_lineage`), with exactly the
outcome of the per-record path, which still takes every line the chunk parser leaves. Event
ids from positions read `<origin key>:<line or request number>:<index>` on both paths.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from seamline._lineage import add_columnar, check_row, concat_batches
from seamline._recent_ids import RecentIds
from seamline._shared_rows import add_shared
from seamline.batcher import Batcher
from seamline.governance.schema_drift import observation_ops
from seamline.keys import relink_ops
from seamline.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, SCHEMA_VERSION, rows_to_batch
from seamline.sources import Parser, Rejected, Row, detect_source, framing_for, get_source
from seamline.sources._base import BadRecord
from seamline.sources._chunks import ChunkParser, LineChunk, iter_line_chunks
from seamline.sources._framing import (
    FramingProblem,
    RawRecord,
    fingerprint,
    iter_lines,
    iter_whole,
    open_input,
    read_sample,
    same_file,
)
from seamline.store.base import Append, Statement, Store
from seamline.store.writer import Writer
from seamline.transforms import PIPELINE, Context, Transform, apply
from seamline.transforms.pseudonymize import RELINK_MEMO
from seamline.transforms.scrub_pii import scrub_quarantine
from seamline.validate import count_out_of_range
from seamline.wal import WriteAheadLog, read_frames, segments, wal_origin

EMPTY_RECORD = "record holds no events"  # quarantine reason of a record that parsed to nothing
_IN_FLIGHT = 1  # file-ingest transactions queued for the writer at once (each holds batch_rows rows)
_CHECKPOINT_SQL = """
INSERT INTO ingest_offsets (origin, fingerprint, offset_bytes, lines, updated_at)
VALUES (?, ?, ?, ?, now())
ON CONFLICT (origin) DO UPDATE SET fingerprint = excluded.fingerprint,
    offset_bytes = excluded.offset_bytes, lines = excluded.lines, updated_at = excluded.updated_at
"""
_BATCH_START_SQL = """
INSERT INTO ingest_batches (ingest_batch_id, source, origin, started_at, records_read, rows_stored,
    rows_quarantined, status) VALUES (?, ?, ?, now(), 0, 0, 0, 'running')
"""
_BATCH_END_SQL = """
UPDATE ingest_batches SET finished_at = now(), records_read = ?, rows_stored = ?,
    rows_quarantined = ?, status = ? WHERE ingest_batch_id = ?
"""


@dataclass
class IngestResult:
    """What one ingest run over one origin did."""

    origin: str
    source: str
    ingest_batch_id: str
    records_read: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0
    resumed_from_line: int = 0
    seconds: float = 0.0
    out_of_range: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Accepted:
    """What a logged body holds, as parsed: rows to store and entries quarantined, with reasons."""

    rows: int
    quarantined: int
    reasons: dict[str, int]


@lru_cache(maxsize=1024)
def origin_key(origin: str) -> str:
    """16 hex digits naming an origin (blake2b of its text) inside event ids."""
    return hashlib.blake2b(origin.encode(), digest_size=8).hexdigest()


def event_id(origin: str, position: int, index: int) -> str:
    """Stable id from a record's position: `<origin key>:<line or request number>:<index in it>`.

    The same record re-read yields the same id, in every run and on every path (the columnar
    path builds the same text with Arrow); a quarantine entry for a whole record uses index -1.
    """
    return f"{origin_key(origin)}:{position}:{index}"


def _printable(raw: bytes | str | None, limit: int) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw[:limit]
    return raw[:limit].decode("utf-8", errors="backslashreplace")


def _reason_key(reason: str) -> str:
    # Group reasons by their first clause, so counts stay readable.
    return reason.split(":")[0][:80]


class _Run:
    """State of one ingest run over one origin: pending rows, quarantine rows, counts."""

    def __init__(
        self,
        ingestor: Ingestor,
        source: str,
        origin: str,
        parser: Parser,
        received_at_us: int | None = None,
        batch_id: str | None = None,
    ) -> None:
        settings = ingestor.settings
        self.ingestor = ingestor
        self.source = source
        self.origin = origin
        self.parser = parser
        self.received_at_us = received_at_us
        self.batch_id = batch_id or uuid.uuid4().hex[:16]
        self.result = IngestResult(origin, source, self.batch_id)
        self.rows: list[Row] = []
        self.batches: list[pa.RecordBatch] = []  # rows built into Arrow (sealed or columnar), lineage stamped
        self.batch_rows = 0
        self.bad: list[dict[str, Any]] = []
        self.natural_ids: list[str] = []
        self.now_us = int(time.time() * 1_000_000)
        self.future_us = settings.max_future_minutes * 60_000_000
        self.past_us = settings.max_past_days * 86_400_000_000
        self.raw_limit = settings.quarantine_raw_bytes
        self.id_prefix = origin_key(origin) + ":"

    def quarantine(
        self, position: int, index: int | None, reason: str, raw: bytes | str | None, size: int | None = None
    ) -> None:
        """Keep a rejected record (or part of one) with its position and reason."""
        self.bad.append(
            {
                "quarantine_id": f"{self.id_prefix}{position}:{-1 if index is None else index}",
                "received_at": self.now_us,
                "source": self.source,
                "origin": self.origin,
                "position": position,
                "position_index": index,
                "reason": reason,
                "raw": _printable(raw, self.raw_limit),
                "raw_bytes": size if size is not None else (len(raw) if raw is not None else 0),
                "ingest_batch_id": self.batch_id,
            }
        )
        key = _reason_key(reason)
        self.result.quarantine_reasons[key] = self.result.quarantine_reasons.get(key, 0) + 1

    def add(self, record: RawRecord, index_base: int | None = None) -> None:
        """Parse one raw record into pending rows or quarantine entries."""
        self.result.records_read += 1
        data = record.data
        if isinstance(data, FramingProblem):
            self.quarantine(record.position, index_base, data.reason, data.raw, data.raw_size)
            return
        position = record.position
        produced = self.produced(position, data, lambda: self.parser(data), index_base)
        for row in self.admitted(position, data, produced or []):
            row["source"] = self.source
            row["origin"] = self.origin
            row["position"] = position
            row["ingest_batch_id"] = self.batch_id
            row["schema_version"] = SCHEMA_VERSION
            if self.received_at_us is not None and row.get("received_at") is None:
                row["received_at"] = self.received_at_us
            self.rows.append(row)

    def produced(
        self, position: int, data: Any, parse: Callable[[], Iterable[Row | Rejected]], index_base: int | None = None
    ) -> list[Row] | None:
        """The rows `parse()` yields, its rejected parts quarantined; None when the record failed whole."""
        produced: list[Row] = []
        try:
            index = 0
            for item in parse():
                if isinstance(item, Rejected):
                    idx = item.index if item.index is not None else index
                    self.quarantine(position, idx, item.reason, item.raw if item.raw is not None else data)
                    index += 1
                    continue
                if index_base is not None:
                    item["position_index"] = index_base + index
                else:
                    item.setdefault("position_index", index)
                produced.append(item)
                index += 1
        except BadRecord as exc:
            self.quarantine(position, index_base, str(exc), data)
            return None
        except UnicodeDecodeError as exc:
            self.quarantine(position, index_base, f"invalid UTF-8 at byte {exc.start}", data)
            return None
        except Exception as exc:  # a parser bug must not lose the record: keep it with the reason
            self.quarantine(position, index_base, f"parser error: {type(exc).__name__}: {exc}", data)
            return None
        if index == 0:
            # A well-formed record holding nothing this source reads (an OTLP request whose spans sit
            # under a misspelt key, say) would otherwise vanish without a trace.
            self.quarantine(position, index_base, f"{EMPTY_RECORD}: nothing in it is a record this source reads", data)
            return None
        return produced

    def admitted(self, position: int, data: Any, produced: list[Row], received_at: Any = None) -> list[Row]:
        """The rows that pass the row checks and are not duplicates, each with its event id.

        `received_at` stands in for rows without their own during the checks (a batch-wide value).
        """
        checked: list[Row] = []
        for row in produced:
            probe = row if received_at is None or "received_at" in row else {**row, "received_at": received_at}
            problem = check_row(probe, self.now_us, self.future_us, self.past_us)
            if problem:
                self.quarantine(position, row["position_index"], problem, data)
                continue
            checked.append(row)
        naturals = [row.get("event_id") or None for row in checked]
        fresh = self.ingestor.recent_ids.add_all(naturals) if any(naturals) else None
        admitted: list[Row] = []
        for i, row in enumerate(checked):
            natural = naturals[i]
            if natural:
                if not fresh[i]:  # type: ignore[index]
                    reason = f"duplicate record: event id {natural} was already ingested"
                    self.quarantine(position, row["position_index"], reason, data)
                    continue
                self.natural_ids.append(natural)
            else:
                row["event_id"] = f"{self.id_prefix}{position}:{row['position_index']}"
            admitted.append(row)
        return admitted

    def add_chunk(self, chunk: LineChunk, parse: ChunkParser) -> None:
        """Parse a chunk of lines: the chunk parser takes what it can, the line parser the rest."""
        lines, positions = chunk.lines, chunk.positions
        start = 0
        while start < len(lines) and not parse.ready:  # e.g. a preset still being detected
            self.add(RawRecord(positions[start], lines[start], 0))
            start += 1
        if start == len(lines):
            return
        if start:
            lines, positions = lines[start:], positions[start:]
        got = parse(lines)
        for i in got.rest:
            self.add(RawRecord(positions[i], lines[i], 0))
        if got.batch.num_rows:
            self.result.records_read += got.batch.num_rows
            add_columnar(self, got.batch, got.lines, lines, positions)

    def pending(self) -> int:
        """Rows and quarantine entries not yet handed to the writer."""
        return max(len(self.rows) + self.batch_rows, len(self.bad))

    def seal(self) -> None:
        """Build the pending dict rows into an Arrow batch now; rows of a wrong type go to quarantine.

        HTTP ingest seals each request in its own thread while its rows are fresh in the CPU
        cache, so the shared commit only concatenates batches.
        """
        if not self.rows:
            return
        batch, wrong = _build(self.rows)
        result = self.result
        for row, reason in wrong:
            self.bad.append(_quarantine_row_for(row, reason, self.raw_limit))
            key = _reason_key(reason)
            result.quarantine_reasons[key] = result.quarantine_reasons.get(key, 0) + 1
        if batch.num_rows:
            self.batches.append(batch)
            self.batch_rows += batch.num_rows
        self.rows = []

    def take_ops(
        self, checkpoint: tuple[str, RawRecord] | None = None, final: bool = False
    ) -> list[Append | Statement]:
        """Turn pending rows into one transaction's operations and reset the buffers."""
        ops: list[Append | Statement] = []
        result = self.result
        ctx = self.ingestor.ctx
        self.seal()
        parts = [part for part in self.batches if part.num_rows]
        if parts:
            # One contiguous batch (DuckDB inserts it faster than the same rows in pieces), and
            # the transforms' fixed costs paid once per transaction rather than per chunk.
            events = apply(concat_batches(parts), ctx, self.ingestor.transforms)
            ops.append(Append("events", events))
            ops.extend(observation_ops(events))  # fields and types seen, for schema drift
            result.rows_stored += events.num_rows
        if self.bad:
            ops.append(Append("quarantine", scrub_quarantine(rows_to_batch(self.bad, QUARANTINE_SCHEMA), ctx)))
            result.rows_quarantined += len(self.bad)
        # After a key rotation: rewrite retired-key pseudonyms of people seen again (see keys.py).
        ops.extend(self.ingestor.relink_ops(force=final or checkpoint is None))
        if checkpoint is not None:
            fp, record = checkpoint
            ops.append(Statement(_CHECKPOINT_SQL, (self.origin, fp, record.end_offset, record.position)))
        self.rows, self.bad, self.batches, self.batch_rows = [], [], [], 0
        return ops


class Ingestor:
    """Runs sources over inputs and hands transactions to the single writer."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        ctx: Context,
        transforms: tuple[Transform, ...] = PIPELINE,
    ) -> None:
        self.store = store
        self.writer = writer
        self.ctx = ctx
        self.transforms = transforms
        self.settings = ctx.settings
        self.recent_ids = RecentIds()
        self._batcher: Batcher | None = None
        self._pseudonym_columns: set[tuple[str, str]] | None = None

    def relink_ops(self, force: bool = False) -> list[Statement]:
        """After a key rotation: statements rewriting retired-key pseudonyms of people seen again."""
        state = self.ctx.memo(RELINK_MEMO)
        if not state.get("pending"):
            return []
        if self._pseudonym_columns is None:  # the tables present, so a statement never names a missing one
            rows = self.store.query("SELECT table_name, column_name FROM information_schema.columns").to_pylist()
            self._pseudonym_columns = {(r["table_name"], r["column_name"]) for r in rows}
        return relink_ops(state, self._pseudonym_columns, force)

    # -- files -------------------------------------------------------------------------------
    def ingest_file(
        self,
        path: Path,
        source: str | None = None,
        options: Mapping[str, str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> IngestResult:
        """Ingest one file (plain or gzip) from its last checkpoint."""
        with self.store.bulk_load(self.settings.ingest_memory_limit):
            return self._ingest_file(path, source, options, progress)

    def _ingest_file(
        self,
        path: Path,
        source: str | None,
        options: Mapping[str, str] | None,
        progress: Callable[[int], None] | None,
    ) -> IngestResult:
        started = time.perf_counter()
        path = path.resolve()
        origin = str(path)
        if source is None:
            source, _ = detect_source(read_sample(path), path.name)
        module = get_source(source)
        options = {"path": origin, **(options or {})}  # lets a source name the service after the file
        framing = framing_for(module, options, path.name)
        parser = module.make_parser(options)
        fp = fingerprint(path)
        prior = self.store.query(
            "SELECT fingerprint, offset_bytes, lines FROM ingest_offsets WHERE origin = ?", [origin]
        ).to_pylist()
        start_offset = start_line = 0
        if prior and same_file(path, prior[0]["fingerprint"]):
            start_offset, start_line = prior[0]["offset_bytes"], prior[0]["lines"]
            if framing == "whole":
                # A whole-body file is one record: already ingested means nothing to do.
                return IngestResult(origin, source, "", resumed_from_line=start_line)
        run = _Run(self, source, origin, parser)
        self.writer.submit([Statement(_BATCH_START_SQL, (run.batch_id, source, origin))])
        batch_rows = self.settings.batch_rows
        chunk_parser = _chunk_parser(module, parser) if framing == "lines" else None
        in_flight: deque[Future[int]] = deque()
        last: RawRecord | None = None
        with open_input(path) as stream:
            items: Iterator[RawRecord | LineChunk]
            if framing == "whole":
                items = iter_whole(stream, self.settings.max_body_bytes)
            elif chunk_parser is not None:
                items = iter_line_chunks(
                    stream, self.settings.max_line_bytes, start_offset, start_line, lambda: open_input(path)
                )
            else:
                items = iter_lines(stream, self.settings.max_line_bytes, start_offset, start_line)
            for item in items:
                if isinstance(item, LineChunk):
                    # Transactions of exactly batch_rows rows (a chunk is cut at the line that fills
                    # one): DuckDB inserts whole row groups about twice as fast as ragged ones.
                    while item is not None:
                        room = batch_rows - run.pending()
                        if 0 < room < len(item.lines):
                            head, item = item.split(room)
                        else:
                            head, item = item, None
                        run.add_chunk(head, chunk_parser)  # type: ignore[arg-type]
                        last = RawRecord(head.end_line, b"", head.end_offset)  # what a checkpoint needs
                        if run.pending() >= batch_rows:
                            self._submit(run, (fp, last), in_flight, progress)
                    continue
                run.add(item)
                last = item
                if run.pending() >= batch_rows:
                    self._submit(run, (fp, last), in_flight, progress)
        result = run.result
        final_ops = run.take_ops((fp, last) if last else None, final=True)  # updates the counts: goes first
        end = (result.records_read, result.rows_stored, result.rows_quarantined, "done", run.batch_id)
        self.writer.submit([*final_ops, Statement(_BATCH_END_SQL, end)])
        self.writer.flush()
        if progress and last is not None:
            progress(last.end_offset)
        if result.rows_stored:
            result.out_of_range = count_out_of_range(self.store, "ingest_batch_id = ?", [run.batch_id])
        result.resumed_from_line = start_line
        result.seconds = time.perf_counter() - started
        return result

    def _submit(
        self,
        run: _Run,
        checkpoint: tuple[str, RawRecord],
        in_flight: deque[Future[int]],
        progress: Callable[[int], None] | None,
    ) -> None:
        in_flight.append(self.writer.submit(run.take_ops(checkpoint)))
        if len(in_flight) > _IN_FLIGHT:  # bounds memory: a fast parser waits for the store
            in_flight.popleft().result()
        if progress:
            progress(checkpoint[1].end_offset)

    # -- bodies (HTTP) -----------------------------------------------------------------------
    def accept_body(self, wal: WriteAheadLog, header: dict[str, Any], body: bytes) -> tuple[Accepted, Future[int]]:
        """Parse one request body, log it durably, and queue its rows for a shared commit.

        `header` names the source, origin, request number (`position`), receive time,
        parser `options` and whether the body is NDJSON (`lines`). When this returns, the
        body is in the write-ahead log, so the caller may acknowledge it; the Future
        resolves when its rows are committed to the store.
        """
        accepted, future, mark = self.log_body(wal, header, body)
        wal.sync(mark)  # acknowledged only once on disk; concurrent requests share the flush
        return accepted, future

    def log_body(self, wal: WriteAheadLog, header: dict[str, Any], body: bytes) -> tuple[Accepted, Future[int], int]:
        """`accept_body` up to the disk flush: the caller must `wal.sync(mark)` before acknowledging.

        Everything here is CPU work (plus a write to the page cache), so the HTTP layer runs it
        on the event loop for small bodies and hands only the flush to a thread.
        """
        run = self._parse_body(header, body)
        run.seal()
        accepted = Accepted(run.batch_rows, len(run.bad), dict(run.result.quarantine_reasons))
        with wal.lock:  # log order = hand-off order, so a committed position covers all before it
            position = wal.append(header, body)
            try:
                future = self.batcher.submit(run, position)
            except Exception:
                self.recent_ids.forget(run.natural_ids)
                raise
        future.add_done_callback(lambda f: f.exception() and self.recent_ids.forget(run.natural_ids))
        return accepted, future, position.mark

    def _parse_body(self, header: dict[str, Any], body: bytes) -> _Run:
        source = header["source"]
        module = get_source(source)
        options = header.get("options") or {}
        parser = module.make_parser(options)
        run = _Run(self, source, header["origin"], parser, header["received_us"], header["batch_id"])
        position = header["position"]
        shared = getattr(module, "make_shared_parser", None)
        if shared is not None and not header.get("lines"):
            add_shared(run, RawRecord(position, body, len(body)), shared(options))
        elif header.get("lines"):
            lines = [line for line in body.splitlines() if line.strip()]
            for i, line in enumerate(lines):
                run.add(RawRecord(position, line, 0), index_base=i)
        else:
            run.add(RawRecord(position, body, len(body)))
        return run

    def replay_wal(self, wal_dir: Path, keep: str | None = None) -> int:
        """Store every logged body past its segment's committed position; returns bodies replayed.

        Segments wholly committed afterwards are deleted, except `keep` (the one in use).
        """
        replayed = 0
        futures: list[Future[int]] = []
        for path in segments(wal_dir):
            committed = self.store.query(
                "SELECT offset_bytes FROM ingest_offsets WHERE origin = ?", [wal_origin(path.name)]
            ).to_pylist()
            start = committed[0]["offset_bytes"] if committed else 0
            for frame in read_frames(path, start):
                run = self._parse_body(frame.header, frame.body)
                futures.append(self.batcher.submit(run, frame.end))
                replayed += 1
        for future in futures:
            future.result()
        for path in segments(wal_dir):
            if path.name == keep:
                continue
            committed = self.store.query(
                "SELECT offset_bytes FROM ingest_offsets WHERE origin = ?", [wal_origin(path.name)]
            ).to_pylist()
            if (committed and committed[0]["offset_bytes"] >= path.stat().st_size) or path.stat().st_size == 0:
                path.unlink()
        return replayed

    @property
    def batcher(self) -> Batcher:
        """The batcher that merges small bodies into shared transactions (started on first use)."""
        if self._batcher is None:
            self._batcher = Batcher(self)
        return self._batcher

    def close(self) -> None:
        """Flush the batcher (the writer is closed by its owner)."""
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None


def _chunk_parser(module: Any, parser: Parser) -> ChunkParser | None:
    make = getattr(module, "make_chunk_parser", None)
    return make(parser) if make is not None else None


def _build(rows: list[Row]) -> tuple[pa.RecordBatch, list[tuple[Row, str]]]:
    """Rows to a batch; when one value has the wrong type, isolate the offending rows."""
    try:
        return rows_to_batch(rows), []
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError, KeyError):
        pass
    good: list[Row] = []
    wrong: list[tuple[Row, str]] = []
    for row in rows:
        try:
            rows_to_batch([row])
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError, KeyError) as exc:
            wrong.append((row, f"wrong type: {exc}"))
            continue
        good.append(row)
    return (rows_to_batch(good) if good else rows_to_batch([], EVENTS_SCHEMA)), wrong


def _quarantine_row_for(row: Row, reason: str, limit: int) -> dict[str, Any]:
    raw = repr({k: v for k, v in row.items() if k not in ("source", "origin", "ingest_batch_id")})
    return {
        "quarantine_id": row["event_id"],
        "received_at": int(time.time() * 1_000_000),
        "source": row["source"],
        "origin": row["origin"],
        "position": row["position"],
        "position_index": row.get("position_index"),
        "reason": reason,
        "raw": raw[:limit],
        "raw_bytes": len(raw),
        "ingest_batch_id": row["ingest_batch_id"],
    }
