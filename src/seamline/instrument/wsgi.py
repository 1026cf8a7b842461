"""WSGI middleware: the same trace context, headers and log line as the ASGI one.

Wrap the WSGI callable, e.g. for Flask:
`app.wsgi_app = SeamlineWSGIMiddleware(app.wsgi_app, service="shop", sink="logs/shop.ndjson")`.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from seamline.instrument._common import Options, access_record, emit, origins, preflight_headers, response_headers
from seamline.instrument._context import RequestContext, _current, start_request
from seamline.instrument._sinks import Sink, open_sink

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class _Body:
    """The app's response iterable; closing it ends the request (and writes its log line)."""

    def __init__(self, inner: Iterable[bytes], done: Callable[[int, str | None], None]) -> None:
        self._inner = inner
        self._done = done
        self._bytes = 0
        self._exception: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._bytes += len(chunk)
                yield chunk
        except BaseException:
            self._exception = traceback.format_exc()
            raise

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._done(self._bytes, self._exception)


class SeamlineWSGIMiddleware:
    """Wraps a WSGI app. `route_of(environ)` may name the route template (WSGI has no standard key)."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        service: str,
        sink: str | Path | IO[bytes] | IO[str] | Sink | None = None,
        sample_rate: float = 1.0,
        cors_origins: Iterable[str] = (),
        allow_headers: Iterable[str] = (),
        environment: str | None = None,
        release: str | None = None,
        log_unsampled: bool = True,
        log_client_ip: bool = False,
        route_of: Callable[[Environ], str | None] | None = None,
    ) -> None:
        self.app = app
        self.route_of = route_of
        self.options = Options(
            service=service,
            sink=open_sink(sink, service) if sink is not None else None,
            sample_rate=sample_rate,
            cors_origins=origins(cors_origins),
            allow_headers=tuple(h.lower() for h in allow_headers),
            environment=environment,
            release=release,
            log_unsampled=log_unsampled,
            log_client_ip=log_client_ip,
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        opts = self.options
        started, t0 = time.time(), time.perf_counter()
        ctx = start_request(environ.get("HTTP_TRACEPARENT"), environ.get("HTTP_X_REQUEST_ID"), opts.sample_rate)
        origin = environ.get("HTTP_ORIGIN")
        status = [500]

        def finish(nbytes: int, exception: str | None) -> None:
            self._log(environ, ctx, started, t0, status[0], nbytes, exception)
            with contextlib.suppress(ValueError):  # close() ran in another context than the call
                _current.reset(token)

        token = _current.set(ctx)
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS" and opts.allowed(origin) and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            assert origin is not None
            status[0] = 204
            start_response("204 No Content", preflight_headers(opts, origin, ctx.request_id))
            return _Body([], finish)

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            status[0] = int(status_line.split(" ", 1)[0])
            present = {k.lower() for k, _ in headers}
            app_ms = (time.perf_counter() - t0) * 1000
            return start_response(status_line, headers + response_headers(opts, ctx, origin, app_ms, present), exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            finish(0, traceback.format_exc())
            raise
        return _Body(body, finish)

    def _log(
        self,
        environ: Environ,
        ctx: RequestContext,
        started: float,
        t0: float,
        status: int,
        nbytes: int,
        exception: str | None,
    ) -> None:
        route = self.route_of(environ) if self.route_of else None
        path = environ.get("PATH_INFO") or "/"
        script = environ.get("SCRIPT_NAME") or ""
        record = access_record(
            self.options,
            ctx,
            started=started,
            method=environ.get("REQUEST_METHOD", "GET"),
            path=script + path,
            route=route,
            status=status,
            duration_ms=(time.perf_counter() - t0) * 1000,
            user_agent=environ.get("HTTP_USER_AGENT"),
            response_bytes=nbytes,
            client_ip=environ.get("REMOTE_ADDR"),
            exception=exception,
        )
        emit(self.options, ctx, record)

    def close(self) -> None:
        """Deliver pending log lines (call at shutdown when posting to Seamline)."""
        if self.options.sink is not None:
            self.options.sink.close()
