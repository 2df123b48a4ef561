"""A fake Pixelworks render API, for tests (this package's own, and yours): one PNG per call, raw bytes.

Each call draws a distinct image (its colour follows the seed, or a counter), after an optional delay, so
fan-out and latency can be observed. ``app["received"]`` records each request's JSON body and headers;
``app["fail_after"]`` makes calls after the first N answer 500. Per seed, ``app["gates"]`` (a
``threading.Event`` each) hold a call until the test opens its gate, and ``app["failures"]`` makes the first
calls of a seed answer 500; a call whose client hangs up while held is listed in ``app["cancelled"]``. Each
``(status, headers)`` appended to ``app["scripted"]`` is the answer to one next call (a 429 with
``Retry-After``, say, which the plugin does not read: imagegate's core does).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import warnings
from collections import deque
from typing import Any

from aiohttp import web
from imagegate.testing import make_image


def make_app(
    *,
    api_key: str = "pixel-key",
    latency: float = 0.0,
    fail_after: int | None = None,
    gates: dict[int, threading.Event] | None = None,
    failures: dict[int, int] | None = None,
) -> web.Application:
    app = web.Application()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["api_key"] = api_key
        app["latency"] = latency
        app["fail_after"] = fail_after
        app["gates"] = gates or {}
        app["failures"] = failures or {}
        app["received"] = []
        app["cancelled"] = []
        app["counter"] = itertools.count(1)
        app["scripted"] = deque()
    app.router.add_post("/render", _render)
    return app


async def _render(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Token {request.app['api_key']}":
        return web.json_response({"detail": "invalid token"}, status=401)
    body: dict[str, Any] = await request.json()
    request.app["received"].append({"body": body, "headers": dict(request.headers)})
    if request.app["scripted"]:
        status, headers = request.app["scripted"].popleft()
        return web.json_response({"detail": "scripted answer"}, status=status, headers=headers)
    number = next(request.app["counter"])
    if request.app["fail_after"] is not None and number > request.app["fail_after"]:
        return web.json_response({"detail": "render farm on fire"}, status=500)
    width, height = body["width"], body["height"]
    if width % 64 or height % 64:
        return web.json_response({"detail": "width and height must be multiples of 64"}, status=422)
    await asyncio.sleep(request.app["latency"])
    seed = int(body.get("seed", number))
    gate = request.app["gates"].get(seed)
    while gate is not None and not gate.is_set():
        if request.transport is None or request.transport.is_closing():
            request.app["cancelled"].append(seed)
            return web.Response(status=499)
        await asyncio.sleep(0.01)
    if request.app["failures"].get(seed, 0) > 0:
        request.app["failures"][seed] -= 1
        return web.json_response({"detail": "render node lost"}, status=500)
    colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    return web.Response(
        body=make_image(width, height, "png", color=colour),
        content_type="image/png",
        headers={"X-Seed": str(seed)},
    )
