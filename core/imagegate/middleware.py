"""Pure ASGI middleware: a request id on every response (unexpected failures included), and a body size
limit and idle timeout enforced while reading."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import msgspec
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import GatewayError, PayloadTooLarge, RequestTimeout

REQUEST_ID_HEADER = b"x-request-id"

log = logging.getLogger("imagegate")


class RequestIdMiddleware:
    """Takes the client's ``x-request-id`` (if sane) or makes one; puts it in ``scope["state"]`` and on the
    response. The outermost of the gateway's middleware, it also answers an exception nothing else handled:
    a 500 with the id, and the traceback logged under it (Starlette's own last-resort handler sits outside
    all middleware, where the id is not added)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else f"req_{uuid.uuid4().hex}"
        scope.setdefault("state", {})["request_id"] = request_id

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                message["headers"] = [*headers, (REQUEST_ID_HEADER, request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # gone before its request was read: nobody to answer, nothing failed
            log.info("client left before sending its whole request, request id %s", request_id)
        except Exception:
            log.exception(
                "unhandled error on %s %s, request id %s", scope["method"], scope["path"], request_id
            )
            if started:
                raise  # the response is half sent: the server can only close the connection
            error = GatewayError("The gateway failed unexpectedly; the request id identifies it in the logs.")
            await send_error(send_with_id, error)


class BodyLimitMiddleware:
    """Refuses bodies over the limit: at once from ``Content-Length``, else as soon as the count passes it.
    While a body is being read, a wait of more than ``idle_seconds`` for its next part is a 408 (a client
    stalling its upload holds the connection no longer), and so is a body that, once it has taken longer
    than ``idle_seconds``, has come slower than ``min_bytes_per_second`` on average (a client trickling it a
    byte at a time); once the body is complete, receiving (the app waiting for a disconnect) is not limited."""

    def __init__(
        self,
        app: ASGIApp,
        limit_bytes: Callable[[], int],
        idle_seconds: Callable[[], float],
        min_bytes_per_second: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.app = app
        self.limit_bytes = limit_bytes
        self.idle_seconds = idle_seconds
        self.min_bytes_per_second = min_bytes_per_second

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_bytes()
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, _too_large(limit), close=True)
            return
        idle = self.idle_seconds()
        min_rate = self.min_bytes_per_second()
        received = 0
        complete = False
        started: float | None = None  # when the body was first asked for

        async def counting_receive() -> Message:
            nonlocal received, complete, started
            if complete:
                return await receive()
            if started is None:
                started = time.monotonic()
            try:
                async with asyncio.timeout(idle):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"No part of the request body arrived for {idle:g} s.", headers={"connection": "close"}
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
                complete = not message.get("more_body", False)
                elapsed = time.monotonic() - started
                if not complete and elapsed > idle and received < min_rate * elapsed:
                    raise RequestTimeout(
                        f"The request body arrived at {received / elapsed:.0f} bytes/s, under the "
                        f"{min_rate:g} bytes/s this gateway waits for.",
                        headers={"connection": "close"},
                    )
            return message

        await self.app(scope, counting_receive, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this gateway's limit of {limit // (1024 * 1024)} MB."
    )


async def send_error(send: Send, error: GatewayError, *, close: bool = False) -> None:
    """Answer with ``error`` from ASGI middleware, in place of the app. ``close``: the body was not read, so the
    connection is not reused."""
    body = msgspec.json.encode(error.body())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in error.response_headers().items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
