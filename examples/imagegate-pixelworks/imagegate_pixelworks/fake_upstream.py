"""A fake Pixelworks render API, for tests (this package's own, and yours): one PNG per call, raw bytes.

Each call draws a distinct image (its colour follows the seed, or a counter), after an optional delay, so
fan-out and latency can be observed. ``app["received"]`` records each request's JSON body and headers;
``app["fail_after"]`` makes calls after the first N answer 500.
"""

from __future__ import annotations

import asyncio
import itertools
import warnings
from typing import Any

from aiohttp import web
from imagegate.testing import make_image


def make_app(
    *, api_key: str = "pixel-key", latency: float = 0.0, fail_after: int | None = None
) -> web.Application:
    app = web.Application()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["api_key"] = api_key
        app["latency"] = latency
        app["fail_after"] = fail_after
        app["received"] = []
        app["counter"] = itertools.count(1)
    app.router.add_post("/render", _render)
    return app


async def _render(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Token {request.app['api_key']}":
        return web.json_response({"detail": "invalid token"}, status=401)
    body: dict[str, Any] = await request.json()
    request.app["received"].append({"body": body, "headers": dict(request.headers)})
    number = next(request.app["counter"])
    if request.app["fail_after"] is not None and number > request.app["fail_after"]:
        return web.json_response({"detail": "render farm on fire"}, status=500)
    width, height = body["width"], body["height"]
    if width % 64 or height % 64:
        return web.json_response({"detail": "width and height must be multiples of 64"}, status=422)
    await asyncio.sleep(request.app["latency"])
    seed = int(body.get("seed", number))
    colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    return web.Response(
        body=make_image(width, height, "png", color=colour),
        content_type="image/png",
        headers={"X-Seed": str(seed)},
    )
