"""Faults injected in front of a fake upstream, for the conformance suite.

:class:`FaultInjector` is an aiohttp middleware added to the plugin author's own fake upstream. While a
:class:`Fault` is active every request gets it: an error status (with a body the suite asks the test class
for), the upstream's real answer with every image in it replaced by bytes that are not an image, or the real
answer cut off halfway through its ``Content-Length``. Requests are recorded either way.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pybase64 import b64decode, b64encode

NOT_AN_IMAGE = b"<html><body>502 Bad Gateway (this is not an image)</body></html>"
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


@dataclass(frozen=True, slots=True)
class Fault:
    """One way an upstream can fail: ``name`` is what test ids and :class:`Expect` overrides use."""

    name: str
    kind: Literal["status", "not_image", "truncated"]
    status: int = 200
    retry_after: str | None = None  # sent as the Retry-After header


FAULTS: tuple[Fault, ...] = (
    Fault("400", "status", 400),
    Fault("401", "status", 401),
    Fault("403", "status", 403),
    Fault("404", "status", 404),
    Fault("408", "status", 408),
    Fault("429", "status", 429),
    Fault("429-retry-after", "status", 429, retry_after="2"),
    Fault("500", "status", 500),
    Fault("503", "status", 503),
    Fault("non-image-200", "not_image"),
    Fault("truncated", "truncated"),
)


@dataclass(slots=True)
class Received:
    method: str
    path: str


@dataclass
class FaultInjector:
    """Turns a fake upstream into a failing one while :attr:`active` is set (from the test's thread)."""

    error_response: Callable[[int], web.Response]
    active: Fault | None = None
    received: list[Received] = field(default_factory=list)
    images_replaced: int = 0  # by the last not_image fault's answers

    def install(self, app: web.Application) -> web.Application:
        app.middlewares.append(self.middleware)
        return app

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.received.append(Received(request.method, request.path))
        fault = self.active
        if fault is None:
            return await handler(request)
        if fault.kind == "status":
            await request.read()
            response = self.error_response(fault.status)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            return response
        answer = await handler(request)
        if not isinstance(answer, web.Response) or not isinstance(answer.body, bytes):
            raise TypeError(
                "the conformance suite changes the fake upstream's answers: its handlers must return "
                f"web.Response objects with a bytes body, not {type(answer).__name__}"
            )
        if fault.kind == "not_image":
            return self._without_images(answer)
        return await _truncated(request, answer)

    def _without_images(self, answer: web.Response) -> web.Response:
        body = answer.body
        assert isinstance(body, bytes)
        if body.startswith(IMAGE_MAGIC) or body[8:12] == b"WEBP":
            replaced, count = NOT_AN_IMAGE, 1
        else:
            try:
                document = json.loads(body)
            except ValueError:
                return answer
            document, count = _replace_base64_images(document)
            replaced = json.dumps(document).encode()
        self.images_replaced += count
        headers = {
            k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-type")
        }
        return web.Response(
            status=answer.status, body=replaced, headers=headers, content_type=answer.content_type
        )


def _replace_base64_images(value: Any) -> tuple[Any, int]:
    """``value`` with every string that is a base64-encoded image replaced by base64 of something else."""
    if isinstance(value, dict):
        items = [(key, *_replace_base64_images(item)) for key, item in value.items()]
        return {key: item for key, item, _ in items}, sum(count for _, _, count in items)
    if isinstance(value, list):
        pairs = [_replace_base64_images(item) for item in value]
        return [item for item, _ in pairs], sum(count for _, count in pairs)
    if isinstance(value, str) and len(value) >= 16:
        try:
            head = b64decode(value[:64], validate=True)
        except (binascii.Error, ValueError):
            return value, 0
        if head.startswith(IMAGE_MAGIC) or head[8:12] == b"WEBP":
            return b64encode(NOT_AN_IMAGE).decode(), 1
    return value, 0


async def _truncated(request: web.Request, answer: web.Response) -> web.StreamResponse:
    """The real answer's headers and first half, then the connection closes."""
    body = answer.body
    assert isinstance(body, bytes)
    headers = {
        k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "transfer-encoding")
    }
    response = web.StreamResponse(status=answer.status, headers={**headers, "Content-Length": str(len(body))})
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    assert request.transport is not None
    request.transport.close()
    return response
