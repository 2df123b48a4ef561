"""The streaming response: events as the gateway makes them, in place of one body.

The production (routing, calls, adaptation) runs as its own task and queues framed events; this response
writes them. Until the first event, nothing is sent: a failure then is an ordinary HTTP error (retries and
fallback having had their turn). While nothing is ready, a comment line goes out every
``server.stream_keepalive_seconds``, so proxies and clients do not time out; the first one commits the
answer to 200. After that, a failure is an ``error`` event (OpenAI's error object, on which the SDK raises)
and the stream closes. A client that disconnects cancels the production, and with it every upstream call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import msgspec
from starlette.types import Receive, Scope, Send

from ..accesslog import RequestRecord, StreamRecord
from ..capabilities import Operation
from ..errors import GatewayError
from ..verbatim import Piece
from .sse import comment, frame

log = logging.getLogger("imagegate")

EVENT_PREFIXES = {"generate": "image_generation", "edit": "image_edit"}
QUEUED_EVENTS = 8  # events made but not yet written; a slow client holds production back past this
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass events on at once
]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name


KEEPALIVE = _Marker("keepalive")  # nothing was ready within the interval
DONE = _Marker("done")  # the production finished
CLOSED = _Marker("closed")  # the client went away


class _Event:
    __slots__ = ("partial", "pieces")

    def __init__(self, pieces: list[Piece], partial: bool) -> None:
        self.pieces, self.partial = pieces, partial


_Item = _Event | GatewayError | _Marker


class EventStream:
    """One streamed answer, an ASGI response. The gateway :meth:`start` s it with the production, queues
    events through :meth:`send_partial` / :meth:`send_completed`, and awaits :meth:`first` before handing it
    to the server."""

    def __init__(
        self,
        operation: Operation,
        keepalive_seconds: float,
        record: RequestRecord,
        completed_fields: dict[str, Any] | None = None,
    ) -> None:
        self.prefix = EVENT_PREFIXES[operation]
        self.completed_fields = completed_fields or {}  # added to every completed event
        self.keepalive_seconds = keepalive_seconds
        self.request = record
        self.record = record.stream = StreamRecord()
        self.started = False  # an image event is on its way: the images can no longer come from elsewhere
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(QUEUED_EVENTS)
        self._first: _Item = KEEPALIVE
        self._finished = False
        self._tasks: list[asyncio.Task[None]] = []
        self._encoder = msgspec.json.Encoder()

    # --- the production's side ------------------------------------------------------------------------

    async def send_partial(self, body: dict[str, Any]) -> None:
        await self._send(f"{self.prefix}.partial_image", body, partial=True)

    async def send_completed(self, body: dict[str, Any]) -> None:
        await self._send(f"{self.prefix}.completed", {**body, **self.completed_fields}, partial=False)

    async def _send(self, event: str, body: dict[str, Any], *, partial: bool) -> None:
        self.started = True
        pieces = frame(event, {"type": event, **body}, self._encoder)
        await self._queue.put(_Event(pieces, partial))

    def start(self, production: Coroutine[Any, Any, None], receive: Receive) -> None:
        """Run ``production`` (which queues the events) and watch for the client leaving."""
        self._tasks = [
            asyncio.create_task(self._produce(production)),
            asyncio.create_task(self._watch_disconnect(receive)),
        ]

    async def _produce(self, production: Coroutine[Any, Any, None]) -> None:
        try:
            await production
            ending: _Item = DONE
        except GatewayError as error:
            ending = error
        except Exception:
            log.exception("streaming production failed")
            ending = GatewayError(
                "The gateway failed unexpectedly; the request id identifies it in the logs."
            )
        await self._queue.put(ending)

    async def _watch_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if self._finished:
            return
        self.record.outcome = "disconnected"
        self._tasks[0].cancel()  # the production, and every upstream call it has in flight
        while not self._queue.empty():  # nothing more will be written: make room to wake the writer
            self._queue.get_nowait()
        self._queue.put_nowait(CLOSED)

    # --- the server's side ----------------------------------------------------------------------------

    async def first(self) -> None:
        """Wait for the first event, or for the keep-alive interval to pass with none. An error before
        either is raised here, to be answered as an ordinary HTTP error."""
        self._first = await self._next()
        if isinstance(self._first, GatewayError):
            self.record.outcome = self._first.code or self._first.type
            self.close()
            raise self._first

    async def _next(self) -> _Item:
        try:
            async with asyncio.timeout(self.keepalive_seconds):
                return await self._queue.get()
        except TimeoutError:
            return KEEPALIVE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        try:
            item = self._first
            while item is not DONE and item is not CLOSED:
                for piece in self._pieces(item):
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                if isinstance(item, GatewayError):
                    break
                item = await self._next()
            if item is DONE:
                self.record.outcome = "completed"
            self._finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.close()

    def _pieces(self, item: _Item) -> list[Piece]:
        """The bytes for ``item``, noting what was sent."""
        record = self.record
        if item is KEEPALIVE:
            record.keepalives += 1
            return [comment("keep-alive")]
        if isinstance(item, GatewayError):
            record.outcome = item.code or item.type
            return frame("error", {"type": "error", **item.body()}, self._encoder)
        assert isinstance(item, _Event)
        if record.first_event_ms is None:
            record.first_event_ms = round((time.perf_counter() - self.request.started) * 1000)
        record.events += 1
        record.partial_images += item.partial
        return item.pieces

    def close(self) -> None:
        """Stop the production (if still running) and the disconnect watch."""
        for task in self._tasks:
            task.cancel()
