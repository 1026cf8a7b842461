"""Where request log lines go: a stream, a file, or Seamline's `/v1/json-logs` endpoint."""

from __future__ import annotations

import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlencode

import orjson

_STOP = object()


class Sink(Protocol):
    """Takes one JSON-ready log record at a time."""

    def write(self, record: dict[str, Any]) -> None:
        """Queue or write one record."""

    def close(self) -> None:
        """Deliver what is pending and release the resource."""


class StreamSink:
    """One JSON object per line on a binary or text stream, flushed per line so tails see it."""

    def __init__(self, stream: IO[bytes] | IO[str], owned: bool = False) -> None:
        self._stream = stream
        self._binary = "b" in getattr(stream, "mode", "b") and not hasattr(stream, "encoding")
        self._owned = owned
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        """Write one line."""
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._stream.write(line if self._binary else line.decode())  # type: ignore[arg-type]
            self._stream.flush()

    def close(self) -> None:
        """Close the stream when this sink opened it."""
        if self._owned:
            self._stream.close()


class FileSink(StreamSink):
    """Appends lines to a file (created with its directory when missing)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path.open("ab"), owned=True)
        self.path = path


class HttpSink:
    """Posts lines in batches to Seamline's `/v1/json-logs` from a background thread.

    The queue is bounded: when Seamline is unreachable for long, new lines are dropped
    (and counted in `dropped`) rather than growing the application's memory.
    """

    def __init__(
        self,
        base_url: str,
        service: str | None = None,
        token: str | None = None,
        batch_size: int = 200,
        interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 5.0,
    ) -> None:
        query = urlencode({"service": service, "preset": "structlog"} if service else {"preset": "structlog"})
        self.url = f"{base_url.rstrip('/')}/v1/json-logs?{query}"
        self.headers = {"Content-Type": "application/x-ndjson"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.batch_size, self.interval, self.timeout = batch_size, interval, timeout
        self.dropped = 0
        self.sent = 0
        self._queue: queue.Queue[object] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="seamline-log-sink", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        """Queue one line; never blocks the request."""
        try:
            self._queue.put_nowait(orjson.dumps(record))
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Send what is queued and stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(self.timeout * 4)

    def _run(self) -> None:
        batch: list[bytes] = []
        deadline = 0.0
        while True:
            wait = max(0.0, deadline - time.monotonic()) if batch else None
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                if batch:
                    self._post(batch)
                return
            if isinstance(item, bytes):
                if not batch:
                    deadline = time.monotonic() + self.interval
                batch.append(item)
            if batch and (len(batch) >= self.batch_size or time.monotonic() >= deadline):
                self._post(batch)
                batch = []

    def _post(self, lines: list[bytes]) -> None:
        body = b"\n".join(lines) + b"\n"
        for attempt in range(3):
            request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout):
                    self.sent += len(lines)
                    return
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    break  # refused for good: resending the same lines cannot help
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(min(self.timeout, 0.2 * 2**attempt))
        self.dropped += len(lines)


def open_sink(target: str | Path | IO[bytes] | IO[str] | Sink | None, service: str | None = None) -> Sink:
    """A sink from a target: an http(s) URL of Seamline, "-" for stdout, a path, a stream, or a sink."""
    if target is None or target == "-":
        return StreamSink(sys.stdout)
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        return HttpSink(target, service=service)
    if isinstance(target, str | Path):
        return FileSink(target)
    if hasattr(target, "write") and hasattr(target, "close") and not hasattr(target, "flush"):
        return target  # type: ignore[return-value]
    if hasattr(target, "flush"):
        return StreamSink(target)  # type: ignore[arg-type]
    return target  # type: ignore[return-value]
