"""HTTP ingest: client batches, Segment calls, OTLP/HTTP traces and logs, NDJSON logs.

A request is read with a size cap (before and after gunzip), parsed in a worker thread,
submitted to the single writer as one transaction, and answered only after that
transaction commits: an accepted response means the data is durable. What a request
carries but cannot be stored is quarantined and named in the response.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from seamline.app import App
from seamline.pipeline import EMPTY_RECORD, Accepted
from seamline.store import QueueFull, Statement
from seamline.wal import WriteAheadLog

_PROTOBUF = "application/x-protobuf"
_INLINE_BYTES = 128 * 1024  # bodies up to this size are parsed on the event loop (a few ms at most)


class BodyTooLarge(ValueError):
    """The body (or its decompressed form) is over the configured limit."""


@dataclass
class EndpointStats:
    """Counts per endpoint for this server run, written to ingest_batches at shutdown."""

    source: str
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    requests: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0


class Sequencer:
    """Unique, increasing request numbers that stay unique across restarts (µs clock based)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        """The next request number."""
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last


_GZIP = ("gzip", "x-gzip")
_MAX_GZIP_MEMBERS = 64  # each member costs a copy of what follows it; bounds a body of many tiny members
_IDENTITY = ("", "identity")


class UnsupportedEncoding(ValueError):
    """A Content-Encoding other than gzip or identity."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when sent with Content-Encoding: gzip; capped at `limit` bytes."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in _GZIP + _IDENTITY:
        # Read as-is, a deflate/br/zstd body would be parsed as garbage; say what is accepted instead.
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; send gzip or identity")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding in _GZIP:
        body = gunzip_capped(body, limit)
    return body


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Every gzip member of `data`, decompressed, refusing output over `limit` bytes (a bomb).

    A truncated stream or bytes after the last member are errors rather than silently dropped
    data; concatenated members (as `cat a.gz b.gz` makes) are all read.
    """
    out: list[bytes] = []
    size = 0
    rest = data
    for _ in range(_MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise ValueError(f"body is not valid gzip: {exc}") from exc
        size += len(part)
        if size > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(f"decompressed body exceeds the {limit}-byte limit")
        out.append(part)
        if not inflater.eof:
            raise ValueError("gzip body is truncated")
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):  # some writers pad with zeros after the last member
            return b"".join(out)
        if rest[:2] != b"\x1f\x8b":
            raise ValueError(f"{len(rest)} bytes after the end of the gzip stream")
    raise ValueError(f"body has more than {_MAX_GZIP_MEMBERS} gzip members")


class _DiskWaits:
    """Resolves asyncio futures once the write-ahead log is flushed up to their marks.

    One thread flushes for every waiting request (one fdatasync covers all frames written
    before it starts) and wakes the event loop once per flush, where a thread-pool call per
    request would cost a hand-off each way.
    """

    def __init__(self, wal: WriteAheadLog) -> None:
        self._wal = wal
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._cond = threading.Condition()
        self._idle = False
        self._thread: threading.Thread | None = None

    async def wait(self, mark: int) -> None:
        """Return once every byte up to `mark` is on disk (raises the flush's OSError)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            self._waiting.append((mark, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="seamline-wal-sync", daemon=True)
                self._thread.start()
            if self._idle:  # a flushing thread looks for new waiters when it is done anyway
                self._cond.notify()
        await future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                taken, self._waiting = self._waiting, []
            error: OSError | None = None
            try:
                self._wal.sync(max(mark for mark, _ in taken))
            except OSError as exc:
                error = exc
            loop = taken[0][1].get_loop()
            with contextlib.suppress(RuntimeError):  # the loop closed (shutdown): nobody waits any more
                loop.call_soon_threadsafe(_settle, [future for _, future in taken], error)


def _settle(futures: list[asyncio.Future[None]], error: OSError | None) -> None:
    for future in futures:
        if future.done():  # the request was cancelled (its client went away)
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class IngestEndpoints:
    """The ingest routes bound to one App (its store, writer and pipeline)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._disk_waits: _DiskWaits | None = None
        self.sequence = Sequencer()
        self.stats: dict[str, EndpointStats] = {}
        self._stats_lock = threading.Lock()
        self.router = APIRouter()
        r = self.router
        r.add_api_route("/v1/client", self.client, methods=["POST"], summary="Client event batch (SDK wire format)")
        r.add_api_route("/v1/batch", self.segment, methods=["POST"], summary="Segment-compatible batch")
        for call in ("track", "page", "screen", "identify", "group", "alias"):
            r.add_api_route(f"/v1/{call}", self.segment, methods=["POST"], summary=f"Segment {call} call")
        r.add_api_route("/v1/traces", self.otlp_traces, methods=["POST"], summary="OTLP/HTTP traces")
        r.add_api_route("/v1/logs", self.otlp_logs, methods=["POST"], summary="OTLP/HTTP logs")
        r.add_api_route("/v1/json-logs", self.json_logs, methods=["POST"], summary="NDJSON log lines")

    # -- endpoints ---------------------------------------------------------------------------
    async def client(self, request: Request) -> Response:
        """One batch in the client wire format (JSON, or text/plain from sendBeacon)."""
        return await self._ingest(request, "client_events")

    async def segment(self, request: Request) -> Response:
        """A Segment batch envelope, or a single call whose type the path names (as Segment's API does)."""
        call = request.url.path.rsplit("/", 1)[-1]
        return await self._ingest(request, "segment", options={"type": call} if call != "batch" else None)

    async def otlp_traces(self, request: Request) -> Response:
        """An OTLP ExportTraceServiceRequest, JSON or protobuf."""
        return await self._ingest(request, "otlp_traces", otlp="traces")

    async def otlp_logs(self, request: Request) -> Response:
        """An OTLP ExportLogsServiceRequest, JSON or protobuf."""
        return await self._ingest(request, "otlp_logs", otlp="logs")

    async def json_logs(self, request: Request) -> Response:
        """NDJSON log lines; `?service=` names the service for lines that do not."""
        options = {k: v for k, v in request.query_params.items() if k in ("service", "preset", "environment")}
        return await self._ingest(request, "json_log", options=options, lines=True)

    @property
    def _disk(self) -> _DiskWaits:
        if self._disk_waits is None:  # the WAL opens a segment file: only once a body arrives
            self._disk_waits = _DiskWaits(self.app.wal)
        return self._disk_waits

    # -- shared path -------------------------------------------------------------------------
    async def _ingest(
        self,
        request: Request,
        source: str,
        otlp: str | None = None,
        options: dict[str, str] | None = None,
        lines: bool = False,
    ) -> Response:
        protobuf = request.headers.get("content-type", "").split(";")[0].strip() == _PROTOBUF
        try:
            body = await read_body(request, self.app.settings.max_body_bytes)
        except BodyTooLarge as exc:
            return _error(413, str(exc), protobuf)
        except UnsupportedEncoding as exc:
            return _error(415, str(exc), protobuf)
        except ValueError as exc:
            return _error(400, str(exc), protobuf)
        if not body.strip():
            return _error(400, "empty body", protobuf)
        received_us = time.time_ns() // 1000
        stats = self._stats(source)
        options = dict(options or {})
        if source in ("client_events", "segment"):
            # The parser corrects device clocks against the moment the body arrived.
            options["received_at_ms"] = str(received_us / 1000)
        header = {
            "source": source,
            "origin": f"http:{request.url.path}",
            "position": self.sequence.next(),
            "received_us": received_us,
            "batch_id": stats.batch_id,
            "options": options,
            "lines": lines,
        }
        ingestor, wal = self.app.ingestor, self.app.wal
        try:
            if len(body) <= _INLINE_BYTES:
                # Parsing holds the GIL either way; done here it costs no thread hand-offs, which
                # under load cost more than the parse (each waits out the others' switch interval).
                accepted, _, mark = ingestor.log_body(wal, header, body)
            else:  # a big body would stall every other connection for its whole parse
                accepted, _, mark = await run_in_threadpool(ingestor.log_body, wal, header, body)
            await self._disk.wait(mark)  # the answer waits for the disk, the loop does not
        except QueueFull:
            return _error(503, "ingest backlog is full; retry shortly", protobuf, headers={"Retry-After": "1"})
        except ValueError as exc:  # parser options from the query (?preset=) are checked before logging
            return _error(400, f"bad request options: {exc}", protobuf)
        except OSError as exc:  # the write-ahead log could not be written: nothing was accepted
            return _error(503, f"could not log the request durably: {exc}", protobuf, headers={"Retry-After": "1"})
        with self._stats_lock:
            stats.requests += 1
            stats.rows_stored += accepted.rows
            stats.rows_quarantined += accepted.quarantined
        return _answer(accepted, otlp, protobuf)

    def _stats(self, source: str) -> EndpointStats:
        with self._stats_lock:
            stats = self.stats.get(source)
            if stats is None:
                stats = self.stats[source] = EndpointStats(source)
                self.app.writer.submit(
                    [
                        Statement(
                            "INSERT INTO ingest_batches (ingest_batch_id, source, origin, started_at, records_read, "
                            "rows_stored, rows_quarantined, status) VALUES (?, ?, 'http', now(), 0, 0, 0, 'running')",
                            (stats.batch_id, source),
                        )
                    ]
                )
            return stats

    def record_totals(self) -> None:
        """Write each endpoint's counts to ingest_batches (called at shutdown)."""
        for stats in self.stats.values():
            self.app.writer.submit(
                [
                    Statement(
                        "UPDATE ingest_batches SET finished_at = now(), records_read = ?, rows_stored = ?, "
                        "rows_quarantined = ?, status = 'done' WHERE ingest_batch_id = ?",
                        (stats.requests, stats.rows_stored, stats.rows_quarantined, stats.batch_id),
                    )
                ]
            )


def _rejections(result: Accepted) -> list[dict[str, object]]:
    return [{"reason": reason, "count": n} for reason, n in result.reasons.items()]


def _answer(result: Accepted, otlp: str | None, protobuf: bool) -> Response:
    # OTLP/HTTP asks servers to answer an empty export request with success; it is still quarantined
    # (so every request is accounted for) and partial_success carries the note.
    empty = set(result.reasons) == {EMPTY_RECORD}
    if otlp is not None and result.rows == 0 and result.quarantined and not empty:
        # OTLP/HTTP: a request that cannot be decoded, or holds nothing storable, is a 400 with a
        # google.rpc.Status (partial success is for requests of which some part was stored).
        reasons = "; ".join(f"{r['count']}x {r['reason']}" for r in _rejections(result))
        return _error(400, f"no record could be stored: {reasons}", protobuf)
    if otlp is not None:
        return _otlp_answer(result, otlp, protobuf)
    body = {"accepted": result.rows, "quarantined": result.quarantined, "rejected": _rejections(result)}
    if result.rows == 0 and result.quarantined:
        # Nothing usable: tell the client why (the record is kept in quarantine all the same).
        return JSONResponse({"error": "no record could be stored", **body}, status_code=400)
    return JSONResponse(body)


def _otlp_answer(result: Accepted, signal: str, protobuf: bool) -> Response:
    # OTLP/HTTP: 200 with an Export*ServiceResponse; partial_success names what was rejected.
    rejected_field = "rejectedSpans" if signal == "traces" else "rejectedLogRecords"
    partial = {}
    if result.quarantined:
        reasons = "; ".join(f"{r['count']}x {r['reason']}" for r in _rejections(result))
        # An empty request rejected nothing: rejected 0 with a message is OTLP's "warning".
        rejected = 0 if set(result.reasons) == {EMPTY_RECORD} else result.quarantined
        partial = {"partialSuccess": {rejected_field: rejected, "errorMessage": reasons}}
    if not protobuf:
        return Response(orjson.dumps(partial), media_type="application/json")
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse as Resp
    else:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse as Resp
    message = Resp()
    if partial:
        p = partial["partialSuccess"]
        if signal == "traces":
            message.partial_success.rejected_spans = p[rejected_field]
        else:
            message.partial_success.rejected_log_records = p[rejected_field]
        message.partial_success.error_message = p["errorMessage"]
    return Response(message.SerializeToString(), media_type=_PROTOBUF)


def _error(status: int, message: str, protobuf: bool, headers: dict[str, str] | None = None) -> Response:
    if protobuf:
        from google.rpc.status_pb2 import Status  # OTLP errors are google.rpc.Status

        return Response(
            Status(code=status, message=message).SerializeToString(),
            status_code=status,
            media_type=_PROTOBUF,
            headers=headers,
        )
    return JSONResponse({"error": message}, status_code=status, headers=headers)
