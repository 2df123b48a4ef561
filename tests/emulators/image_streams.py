"""The Images API's streamed answer, for the emulators that speak OpenAI's dialect (OpenAI, Azure).

:func:`stream_images` writes an images answer as OpenAI streams it: ``partials`` previews of each image (real
images of the same size and format, in another colour), then its completed event with usage; optionally
slowly, or failing after the first event. It notices a client that hangs up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, Literal

from aiohttp import web

from tests.support.images import make_image

StreamFailure = Literal["error_event", "drop"]
SERVER_ERROR = {
    "message": "The image could not be finished.",
    "type": "server_error",
    "param": None,
    "code": "server_error",
}


async def stream_images(
    request: web.Request,
    prefix: str,
    body: dict[str, Any],
    partials: int,
    *,
    delay: float = 0.0,
    failure: StreamFailure | None = None,
) -> tuple[web.StreamResponse, str]:
    """Stream ``body`` (a GPT model's answer: ``data[].b64_json``, ``size``, ``usage``...) as ``prefix``
    events (``image_generation`` or ``image_edit``). Returns the response and how the stream ended:
    completed, failed (an error event), dropped (connection closed) or cancelled (the client hung up)."""
    width, height = map(int, body["size"].split("x"))
    metadata = {key: body[key] for key in ("background", "output_format", "quality", "size") if key in body}
    events: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(body["data"]):
        for partial in range(partials):
            preview = make_image(
                width,
                height,
                body.get("output_format", "png"),
                color=(200, 40 * partial, 40 * index),
                alpha=body.get("background") == "transparent",
            )
            data = {"b64_json": base64.b64encode(preview).decode("ascii"), "partial_image_index": partial}
            events.append((f"{prefix}.partial_image", {**data, **metadata}))
        completed = {"b64_json": item["b64_json"], **metadata}
        if "usage" in body:  # all of it on the first image, its own output tokens on the others
            usage = body["usage"]
            completed["usage"] = usage if index == 0 else {**usage, "input_tokens": 0, "total_tokens": 272}
        events.append((f"{prefix}.completed", completed))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    try:
        for number, (name, data) in enumerate(events):
            if not await _pause(request, delay):
                return response, "cancelled"
            await response.write(_event(name, {"type": name, "created_at": int(time.time()), **data}))
            if number == 0 and failure == "error_event":
                await response.write(_event("error", {"type": "error", "error": SERVER_ERROR}))
                return response, "failed"
            if number == 0 and failure == "drop":
                assert request.transport is not None
                request.transport.close()
                return response, "dropped"
        await response.write_eof()
    except ConnectionResetError:
        return response, "cancelled"
    return response, "completed"


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _pause(request: web.Request, seconds: float) -> bool:
    """Wait ``seconds``; False as soon as the client has hung up."""
    deadline = time.monotonic() + seconds
    while True:
        if request.transport is None or request.transport.is_closing():
            return False
        if time.monotonic() >= deadline:
            return True
        await asyncio.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
