"""An upstream that speaks the OpenAI Images dialect as cheaply as possible, so it never limits a run.

``POST /v1/images/generations`` and ``/v1/images/edits`` answer at once with gpt-image-style bodies (base64 PNG
in JSON, ``usage``, ``size``...) prepared at start for n = 1..MAX_N; ``/lat/<ms>/v1/images/...`` answers the
same after ``ms`` milliseconds. A generation with ``"stream": true`` is answered in server-sent events, as
OpenAI streams: ``partial_images`` previews (the same PNG) and the completed event, each prepared at start.
Request bodies are read in full (as a real upstream must) but not parsed beyond ``n``, ``stream`` and
``partial_images``. ``python -m bench.emulator --port P --image result.png``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import time
from pathlib import Path

import msgspec
import uvloop
from aiohttp import web

MAX_N = 4
API_KEY = "bench-key"
_MULTIPART_N = re.compile(rb'name="n"\r\n\r\n(\d+)\r\n')


class _Generation(msgspec.Struct):
    n: int = 1
    stream: bool = False
    partial_images: int = 0


class Events(msgspec.Struct, frozen=True):
    """A streamed answer's frames, prepared once: the previews, then the completed event."""

    partials: list[bytes]
    completed: bytes


def prepared_events(png: bytes) -> Events:
    b64 = base64.b64encode(png).decode("ascii")
    common = {"b64_json": b64, "background": "opaque", "output_format": "png", "quality": "high"}
    common |= {"size": "1024x1024", "created_at": int(time.time())}

    def frame(kind: str, **fields: object) -> bytes:
        data = msgspec.json.encode({"type": f"image_generation.{kind}", **common, **fields})
        return b"event: image_generation." + kind.encode() + b"\ndata: " + data + b"\n\n"

    usage = {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210}
    return Events(
        partials=[frame("partial_image", partial_image_index=index) for index in range(3)],
        completed=frame(
            "completed", usage=usage | {"input_tokens_details": {"text_tokens": 50, "image_tokens": 0}}
        ),
    )


def prepared_bodies(png: bytes) -> dict[int, bytes]:
    """The 200 body for each n, as gpt-image-1 shapes it."""
    b64 = base64.b64encode(png).decode("ascii")
    bodies = {}
    for n in range(1, MAX_N + 1):
        bodies[n] = msgspec.json.encode(
            {
                "created": int(time.time()),
                "data": [{"b64_json": b64} for _ in range(n)],
                "background": "opaque",
                "output_format": "png",
                "quality": "high",
                "size": "1024x1024",
                "usage": {
                    "input_tokens": 50,
                    "output_tokens": 4160 * n,
                    "total_tokens": 50 + 4160 * n,
                    "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                },
            }
        )
    return bodies


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")


def make_app(bodies: dict[int, bytes], events: Events) -> web.Application:
    async def images(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if request.match_info["operation"] == "generations":
            try:
                generation = msgspec.json.decode(body, type=_Generation)
            except msgspec.DecodeError:
                return _error(400, "We could not parse the JSON body of your request.")
            if generation.stream:
                return await stream(request, generation.partial_images)
            n = generation.n
        else:
            found = _MULTIPART_N.search(body)
            n = int(found.group(1)) if found else 1
        if n not in bodies:
            return _error(400, f"n must be between 1 and {MAX_N} on this emulator.", "invalid_value")
        delay_ms = request.match_info.get("delay_ms")
        if delay_ms:
            await asyncio.sleep(int(delay_ms) / 1000)
        return web.Response(body=bodies[n], content_type="application/json")

    async def stream(request: web.Request, partials: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for frame in [*events.partials[:partials], events.completed]:
            await response.write(frame)
        await response.write_eof()
        return response

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/v1/images/{operation:generations|edits}", images)
    app.router.add_post("/lat/{delay_ms:\\d+}/v1/images/{operation:generations|edits}", images)
    app.router.add_get("/ready", ready)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--image", type=Path, required=True, help="the PNG every answer carries")
    args = parser.parse_args()
    png = args.image.read_bytes()
    app = make_app(prepared_bodies(png), prepared_events(png))
    web.run_app(
        app, host="127.0.0.1", port=args.port, print=None, access_log=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
