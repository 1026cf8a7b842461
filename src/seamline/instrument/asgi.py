"""ASGI middleware: trace context in, Server-Timing and X-Request-ID out, one JSON log line per request.

    app.add_middleware(SeamlineMiddleware, service="shop", sink="logs/shop.ndjson",
                       cors_origins=["https://shop.example"])

or wrap any ASGI app: `app = SeamlineMiddleware(app, service="shop", sink=...)`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import IO, Any

from seamline.instrument._common import Options, access_record, emit, origins, preflight_headers, response_headers
from seamline.instrument._context import _current, start_request
from seamline.instrument._sinks import Sink, open_sink

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}


def _route(scope: Scope) -> str | None:
    route = scope.get("route")  # set by Starlette's and FastAPI's routers on a match
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return path if isinstance(path, str) else None


class SeamlineMiddleware:
    """Wraps an ASGI app; see the module docstring. HTTP only: other scopes pass through."""

    def __init__(
        self,
        app: ASGIApp,
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
    ) -> None:
        self.app = app
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        opts = self.options
        started, t0 = time.time(), time.perf_counter()
        headers = _headers(scope)
        ctx = start_request(headers.get("traceparent"), headers.get("x-request-id"), opts.sample_rate)
        origin = headers.get("origin")
        state: dict[str, Any] = {"status": 500, "bytes": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                raw = list(message.get("headers") or ())
                present = {k.decode("latin-1").lower() for k, _ in raw}
                app_ms = (time.perf_counter() - t0) * 1000
                extra = response_headers(opts, ctx, origin, app_ms, present)
                message["headers"] = raw + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body") or b"")
            await send(message)

        exception = None
        token = _current.set(ctx)
        try:
            if scope["method"] == "OPTIONS" and opts.allowed(origin) and "access-control-request-method" in headers:
                assert origin is not None
                state["status"] = 204
                pre = preflight_headers(opts, origin, ctx.request_id)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pre],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
            else:
                await self.app(scope, receive, send_with_headers)
        except BaseException:
            exception = traceback.format_exc()
            raise
        finally:
            _current.reset(token)
            client = scope.get("client")
            record = access_record(
                opts,
                ctx,
                started=started,
                method=scope["method"],
                path=scope.get("path") or "/",
                route=_route(scope),
                status=state["status"],
                duration_ms=(time.perf_counter() - t0) * 1000,
                user_agent=headers.get("user-agent"),
                response_bytes=state["bytes"],
                client_ip=client[0] if client else None,
                exception=exception,
            )
            emit(opts, ctx, record)

    def close(self) -> None:
        """Deliver pending log lines (call at shutdown when posting to Seamline)."""
        if self.options.sink is not None:
            self.options.sink.close()
