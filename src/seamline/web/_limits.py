"""Request body limits for every route: a deadline for the whole body and, outside ingest, a size cap.

uvicorn waits for a request body as long as the client keeps the connection open, so one
client trickling a byte a second could hold a worker slot for hours (a slow-body attack).
This ASGI middleware gives each body a total deadline (`body_timeout_seconds`) and answers
408 when it passes. Ingest routes (`/v1/...`) cap their own bodies with protocol-aware errors
(OTLP clients get a protobuf Status), so the size cap here covers only the other routes (the
UI's saved views), which would otherwise read any body whole into memory.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyRefused(Exception):
    """The body took too long, or is too large; carries the answer to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyLimits:
    """ASGI middleware bounding how long (and, outside /v1/, how large) a request body may be."""

    def __init__(self, app: ASGIApp, timeout_seconds: float, max_bytes: int) -> None:
        self.app = app
        self.timeout = timeout_seconds
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.timeout <= 0:
            await self.app(scope, receive, send)
            return
        capped = not scope["path"].startswith("/v1/")
        deadline = time.monotonic() + self.timeout
        received = 0
        started = False
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body only a disconnect can come; waiting for it is not slow input
                return await receive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _BodyRefused(408, f"request body not received within {self.timeout:g} s")
            try:
                message = await asyncio.wait_for(receive(), remaining)
            except TimeoutError:
                raise _BodyRefused(408, f"request body not received within {self.timeout:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if capped and received > self.max_bytes:
                    raise _BodyRefused(413, f"body exceeds the {self.max_bytes}-byte limit")
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyRefused as exc:
            if started:  # too late to answer; closing the connection is all that is left
                raise
            await _answer(send, exc.status, exc.message)


async def _answer(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read, so the connection cannot be reused
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
