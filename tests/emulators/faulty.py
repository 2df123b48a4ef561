"""A faulty OpenAI-dialect upstream, and the harness to run the gateway against it with a fake clock.

:class:`FaultyUpstream` serves ``POST /v1/images/generations`` the OpenAI way (Bearer key, JSON body with
``model``, ``prompt``, ``n``, ``size``; real PNG bytes as ``b64_json``). What it does with each request is
scripted: every request takes the next step of :attr:`FaultyUpstream.script`, and :class:`Ok` once the script
is empty. Steps: :class:`Ok`, :class:`Fail` (an OpenAI error body with any status, ``retry-after`` and
``retry-after-ms``), :class:`Reset` (the connection is dropped without an answer), :class:`Slow` (answers
after a delay, meant to be longer than the gateway's timeout), :class:`Truncated` (the body stops halfway
through its ``Content-Length``), :class:`Hold` (answers only once :meth:`FaultyUpstream.release` is called),
:class:`Garbage` (a well-formed 200 whose ``b64_json`` is not an image), :class:`Claims` (a 200 whose ``size``
is not the image's), :class:`AsUrl` (a 200 giving the image as a URL on this emulator, optionally with a bad
body behind it), :class:`Verbatim` (a 200 with a given body, byte for byte).
Every request is recorded in :attr:`FaultyUpstream.received` with the step it got.

:class:`FakeClock` is the gateway's clock in these tests (and the unit tests of retries, cooldown and routing):
time moves only when slept or advanced, and ``sleep`` records the delay and returns at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.images import make_image
from tests.support.servers import serve_aiohttp

API_KEY = "faulty-key"


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Fail:
    status: int = 500
    message: str = "The server had an error while processing your request."
    type: str = "server_error"
    code: str | None = None
    retry_after: str | None = None  # sent as the retry-after header, verbatim
    retry_after_ms: str | None = None


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Slow:
    seconds: float = 30.0


@dataclass(frozen=True)
class Truncated:
    pass


@dataclass(frozen=True)
class Hold:
    pass


@dataclass(frozen=True)
class Garbage:
    """200 with ``b64_json`` holding ``data`` (default: text), or ``b64_text`` verbatim if given."""

    data: bytes = b"<html>upstream glitch: this is not an image</html>"
    b64_text: str | None = None


@dataclass(frozen=True)
class Claims:
    size: str  # what the body's `size` says; the image is the requested size


@dataclass(frozen=True)
class AsUrl:
    body: bytes | None = None  # what the URL serves (default: the real image)


@dataclass(frozen=True)
class Verbatim:
    """200 with ``body`` as the JSON answer, byte for byte (however it is laid out)."""

    body: bytes


Step = Ok | Fail | Reset | Slow | Truncated | Hold | Garbage | Claims | AsUrl | Verbatim


@dataclass
class Received:
    body: dict[str, Any]
    step: Step
    at: float  # time.monotonic() on arrival


@dataclass
class FaultyUpstream:
    name: str = "faulty"
    script: deque[Step] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _released: asyncio.Event | None = None
    _closing: asyncio.Event | None = None
    _files: dict[str, bytes] = field(default_factory=dict)

    def then(self, *steps: Step) -> FaultyUpstream:
        """Append steps to the script (safe from the test's thread)."""
        self.script.extend(steps)
        return self

    def release(self) -> None:
        """Let every :class:`Hold` request (waiting or still to come) answer."""
        assert self._loop is not None and self._released is not None
        self._loop.call_soon_threadsafe(self._released.set)

    @property
    def steps_taken(self) -> list[str]:
        return [type(r.step).__name__ for r in self.received]

    def make_app(self) -> web.Application:
        """The aiohttp application; called inside the server's event loop by ``serve_aiohttp``."""
        self._loop = asyncio.get_running_loop()
        self._released, self._closing = asyncio.Event(), asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/images/generations", self._generations)
        app.router.add_get("/files/{name}", self._file)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        assert self._closing is not None
        self._closing.set()  # slow and held handlers end now, so the server stops without waiting for them

    async def _generations(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        body = await request.json()
        if not isinstance(body, dict) or not body.get("prompt") or not body.get("model"):
            return _error(400, "prompt and model are required.", "invalid_request_error", None)
        step = self.script.popleft() if self.script else Ok()
        self.received.append(Received(body=body, step=step, at=time.monotonic()))
        if isinstance(step, Fail):
            headers = {
                name: value
                for name, value in (
                    ("retry-after", step.retry_after),
                    ("retry-after-ms", step.retry_after_ms),
                )
                if value is not None
            }
            return _error(step.status, step.message, step.type, step.code, headers)
        if isinstance(step, Reset):
            assert request.transport is not None
            request.transport.abort()
            return web.Response()  # never sent: the connection is gone
        if isinstance(step, Slow | Hold):
            assert self._closing is not None and self._released is not None
            waits = [asyncio.ensure_future(self._closing.wait())]
            waits.append(
                asyncio.ensure_future(
                    self._released.wait() if isinstance(step, Hold) else asyncio.sleep(step.seconds)
                )
            )
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        if isinstance(step, Verbatim):
            return web.Response(body=step.body, content_type="application/json")
        answer = _images_body(body)
        if isinstance(step, Garbage):
            text = step.b64_text if step.b64_text is not None else base64.b64encode(step.data).decode()
            answer["data"] = [{"b64_json": text}]
        if isinstance(step, Claims):
            answer["size"] = step.size
        if isinstance(step, AsUrl):
            name = f"{len(self._files)}.png"
            self._files[name] = (
                step.body if step.body is not None else base64.b64decode(answer["data"][0]["b64_json"])
            )
            answer["data"] = [{"url": f"{request.scheme}://{request.host}/files/{name}"}]
        payload = json.dumps(answer).encode()
        if isinstance(step, Truncated):
            response = web.StreamResponse(
                headers={"Content-Type": "application/json", "Content-Length": str(len(payload))}
            )
            await response.prepare(request)
            await response.write(payload[: len(payload) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=payload, content_type="application/json")

    async def _file(self, request: web.Request) -> web.Response:
        data = self._files.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/png")


def _images_body(body: dict[str, Any]) -> dict[str, Any]:
    width, height = (int(side) for side in str(body.get("size") or "1024x1024").split("x"))
    png = base64.b64encode(make_image(width, height, "png")).decode()
    return {
        "created": int(time.time()),
        "data": [{"b64_json": png} for _ in range(int(body.get("n") or 1))],
        "output_format": "png",
        "size": f"{width}x{height}",
        "quality": "low",
        "background": "opaque",
    }


def _error(
    status: int, message: str, type_: str, code: str | None, headers: dict[str, str] | None = None
) -> web.Response:
    error = {"message": message, "type": type_, "param": None, "code": code}
    return web.json_response({"error": error}, status=status, headers=headers)


@contextlib.contextmanager
def serve_faulty(*names: str) -> Iterator[dict[str, tuple[str, FaultyUpstream]]]:
    """Serve one faulty upstream per name: ``{name: (base_url, upstream)}``."""
    with contextlib.ExitStack() as stack:
        served: dict[str, tuple[str, FaultyUpstream]] = {}
        for name in names:
            upstream = FaultyUpstream(name)
            served[name] = (stack.enter_context(serve_aiohttp(upstream.make_app)), upstream)
        yield served
