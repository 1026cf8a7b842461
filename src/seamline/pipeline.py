"""The ingest pipeline: raw records -> source parser -> checks -> transforms -> writer.

Every record read ends up either stored or quarantined with its reason and position; none
is dropped. File ingest is idempotent: each transaction commits the rows together with the
file checkpoint that covers them, so a re-run (or a run after a crash) resumes exactly where
the last commit ended.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from seamline.dictionary import KINDS
from seamline.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, SCHEMA_VERSION, rows_to_batch
from seamline.sources import Parser, Rejected, Row, detect_source, get_source
from seamline.sources._base import BadRecord
from seamline.sources._framing import (
    FramingProblem,
    RawRecord,
    fingerprint,
    iter_lines,
    iter_whole,
    open_input,
    read_sample,
)
from seamline.store.base import Append, Statement, Store
from seamline.store.writer import Writer
from seamline.transforms import PIPELINE, Context, Transform, apply
from seamline.validate import count_out_of_range

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


def event_id(origin: str, position: int, index: int) -> str:
    """Stable id from a record's position: the same line re-read yields the same id."""
    return hashlib.blake2b(f"{origin}\x00{position}\x00{index}".encode(), digest_size=10).hexdigest()


def _printable(raw: bytes | str | None, limit: int) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw[:limit]
    return raw[:limit].decode("utf-8", errors="backslashreplace")


def _reason_key(reason: str) -> str:
    # Group reasons by their first clause, so counts stay readable.
    return reason.split(":")[0][:80]


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

    # -- files -------------------------------------------------------------------------------
    def ingest_file(
        self,
        path: Path,
        source: str | None = None,
        options: Mapping[str, str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> IngestResult:
        """Ingest one file (plain or gzip) from its last checkpoint."""
        path = path.resolve()
        origin = str(path)
        if source is None:
            source, _ = detect_source(read_sample(path), path.name)
        module = get_source(source)
        parser = module.make_parser(options or {})
        fp = fingerprint(path)
        prior = self.store.query(
            "SELECT fingerprint, offset_bytes, lines FROM ingest_offsets WHERE origin = ?", [origin]
        ).to_pylist()
        start_offset = start_line = 0
        if prior and prior[0]["fingerprint"] == fp:
            start_offset, start_line = prior[0]["offset_bytes"], prior[0]["lines"]
            if module.FRAMING == "whole":
                # A whole-body file is one record: already ingested means nothing to do.
                return IngestResult(origin, source, "", resumed_from_line=start_line)
        with open_input(path) as stream:
            if module.FRAMING == "whole":
                records: Iterator[RawRecord] = iter_whole(stream, self.settings.max_body_bytes)
            else:
                records = iter_lines(stream, self.settings.max_line_bytes, start_offset, start_line)
            result = self._run(source, origin, parser, records, checkpoint=fp, progress=progress)
        result.resumed_from_line = start_line
        return result

    # -- bodies (HTTP) -----------------------------------------------------------------------
    def ingest_records(
        self,
        source: str,
        origin: str,
        records: Iterable[RawRecord],
        received_at_us: int | None = None,
        parser: Parser | None = None,
    ) -> IngestResult:
        """Ingest already-framed records (an HTTP body, a quarantine re-run) without checkpoints."""
        parser = parser or get_source(source).make_parser({})
        return self._run(source, origin, parser, iter(records), checkpoint=None, received_at_us=received_at_us)

    # -- the loop ----------------------------------------------------------------------------
    def _run(
        self,
        source: str,
        origin: str,
        parser: Parser,
        records: Iterator[RawRecord],
        checkpoint: str | None,
        progress: Callable[[int], None] | None = None,
        received_at_us: int | None = None,
    ) -> IngestResult:
        started = time.perf_counter()
        batch_id = uuid.uuid4().hex[:16]
        result = IngestResult(origin, source, batch_id)
        self.writer.submit([Statement(_BATCH_START_SQL, (batch_id, source, origin))])
        rows: list[Row] = []
        bad: list[dict[str, Any]] = []
        now_us = int(time.time() * 1_000_000)
        future_us = self.settings.max_future_minutes * 60_000_000
        past_us = self.settings.max_past_days * 86_400_000_000
        raw_limit = self.settings.quarantine_raw_bytes
        batch_rows = self.settings.batch_rows
        last: RawRecord | None = None
        seen_ids: set[str] = set()

        def quarantine(
            position: int, index: int | None, reason: str, raw: bytes | str | None, size: int | None = None
        ) -> None:
            text = _printable(raw, raw_limit)
            bad.append(
                {
                    "quarantine_id": event_id(origin, position, -1 if index is None else index),
                    "received_at": now_us,
                    "source": source,
                    "origin": origin,
                    "position": position,
                    "position_index": index,
                    "reason": reason,
                    "raw": text,
                    "raw_bytes": size if size is not None else (len(raw) if raw is not None else 0),
                    "ingest_batch_id": batch_id,
                }
            )
            key = _reason_key(reason)
            result.quarantine_reasons[key] = result.quarantine_reasons.get(key, 0) + 1

        for record in records:
            last = record
            result.records_read += 1
            data = record.data
            if isinstance(data, FramingProblem):
                quarantine(record.position, None, data.reason, data.raw, data.raw_size)
            else:
                self._parse_one(
                    parser,
                    record.position,
                    data,
                    rows,
                    quarantine,
                    source,
                    origin,
                    batch_id,
                    now_us,
                    future_us,
                    past_us,
                    received_at_us,
                    seen_ids,
                )
            if len(rows) >= batch_rows or len(bad) >= batch_rows:
                self._commit(rows, bad, result, origin, checkpoint, record)
                rows, bad = [], []
                if progress:
                    progress(record.end_offset)
        self._commit(rows, bad, result, origin, checkpoint, last)
        status = "done"
        self.writer.submit(
            [
                Statement(
                    _BATCH_END_SQL, (result.records_read, result.rows_stored, result.rows_quarantined, status, batch_id)
                )
            ]
        )
        self.writer.flush()
        if progress and last is not None:
            progress(last.end_offset)
        result.seconds = time.perf_counter() - started
        return result

    def _parse_one(
        self,
        parser: Parser,
        position: int,
        data: bytes,
        rows: list[Row],
        quarantine: Callable[..., None],
        source: str,
        origin: str,
        batch_id: str,
        now_us: int,
        future_us: int,
        past_us: int,
        received_at_us: int | None,
        seen_ids: set[str],
    ) -> None:
        produced: list[Row] = []
        try:
            index = 0
            for item in parser(data):
                if isinstance(item, Rejected):
                    idx = item.index if item.index is not None else index
                    quarantine(position, idx, item.reason, item.raw if item.raw is not None else data)
                    index += 1
                    continue
                item.setdefault("position_index", index)
                produced.append(item)
                index += 1
        except BadRecord as exc:
            quarantine(position, None, str(exc), data)
            return
        except UnicodeDecodeError as exc:
            quarantine(position, None, f"invalid UTF-8 at byte {exc.start}", data)
            return
        except Exception as exc:  # a parser bug must not lose the record: keep it with the reason
            quarantine(position, None, f"parser error: {type(exc).__name__}: {exc}", data)
            return
        for row in produced:
            idx = row["position_index"]
            problem = _check_row(row, now_us, future_us, past_us)
            if problem:
                quarantine(position, idx, problem, data)
                continue
            eid = row.get("event_id") or event_id(origin, position, idx)
            if eid in seen_ids:
                quarantine(position, idx, f"duplicate record: event id {eid} already seen in this run", data)
                continue
            if row.get("event_id"):
                seen_ids.add(eid)
            row["event_id"] = eid
            row["source"] = source
            row["origin"] = origin
            row["position"] = position
            row["ingest_batch_id"] = batch_id
            row["schema_version"] = SCHEMA_VERSION
            if received_at_us is not None and row.get("received_at") is None:
                row["received_at"] = received_at_us
            rows.append(row)

    def _commit(
        self,
        rows: list[Row],
        bad: list[dict[str, Any]],
        result: IngestResult,
        origin: str,
        checkpoint: str | None,
        record: RawRecord | None,
    ) -> None:
        ops: list[Append | Statement] = []
        if rows:
            batch, wrong = _build(rows)
            for row, reason in wrong:
                bad.append(_quarantine_row_for(row, reason, self.settings.quarantine_raw_bytes))
                key = _reason_key(reason)
                result.quarantine_reasons[key] = result.quarantine_reasons.get(key, 0) + 1
            if batch.num_rows:
                batch = apply(batch, self.ctx, self.transforms)
                for col, n in count_out_of_range(batch).items():
                    result.out_of_range[col] = result.out_of_range.get(col, 0) + n
                ops.append(Append("events", batch))
                result.rows_stored += batch.num_rows
        if bad:
            ops.append(Append("quarantine", rows_to_batch(bad, QUARANTINE_SCHEMA)))
            result.rows_quarantined += len(bad)
        if checkpoint is not None and record is not None:
            ops.append(Statement(_CHECKPOINT_SQL, (origin, checkpoint, record.end_offset, record.position)))
        if ops:
            self.writer.submit(ops)


def _check_row(row: Row, now_us: int, future_us: int, past_us: int) -> str | None:
    kind = row.get("kind")
    if kind not in KINDS:
        return f"unknown kind {kind!r}"
    ts = row.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        return "missing or non-integer timestamp (ts)"
    ref = row.get("received_at") if isinstance(row.get("received_at"), int) else now_us
    if ts > ref + future_us:
        return f"timestamp too far in the future: {(ts - ref) / 3.6e9:.1f} h after receive time"
    if ts < ref - past_us:
        return f"timestamp too far in the past: {(ref - ts) / 8.64e10:.0f} days before receive time"
    return None


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
