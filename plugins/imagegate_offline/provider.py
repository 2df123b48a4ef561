"""An offline image model: deterministic pictures from the prompt (or ``seed``), drawn with Pillow.

It honours every parameter that changes a result, so each feature of the API can be tried with no keys:

- generations draw a gradient and shapes laid out from a hash of the prompt; ``quality`` (low .. max) sets how
  many shapes, ``complexity`` how much detail each has (:mod:`.drawing`);
- edits start from the first input image (fitted to the requested size), repaint the area a mask marks as
  transparent (or blend the whole image; ``input_fidelity=high`` keeps more of it), draw a ``markup`` image
  over it as the guidance, and inset every other input image in rows along the bottom;
- variations shift the input's hues;
- ``output_format`` png/jpeg/webp with ``output_compression`` and ``background``; ``gif`` is a real animation of
  ``frame_count`` frames of ``frame_duration_ms`` each, the shapes drifting; ``svg`` is a real SVG document,
  with ``svg_usage`` reporting tokens as the OpenAI API does (``svg.model`` names the author).

Streaming clients get real previews: the picture part-drawn, at an eighth of its resolution, before the finished
one. There is no content filter, so ``moderation=low`` is honoured as it stands; end-user ids go to the access
log.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import math
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

from imagegate import (
    InputImage,
    ModelCapabilities,
    OpenStream,
    Operation,
    PartialImage,
    Price,
    Provider,
    ProviderResult,
    ResultImage,
    Send,
    SizeSpec,
    StreamItem,
    UpstreamCall,
    decode_input,
    int_param,
)
from PIL import Image, ImageChops, ImageDraw, ImageOps

from .drawing import Scene

PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
DEFAULT_FRAME_COUNT = 9
DEFAULT_FRAME_DURATION_MS = 200
MAX_FRAME_DURATION_MS = 655_350  # what a GIF can encode (centiseconds in 16 bits)
BLEND_BY_FIDELITY = {"high": 0.15, "low": 0.5, None: 0.35}  # how much of an edited image is repainted
INSETS_PER_ROW = 5
REASONING_TOKENS = {
    "none": 0,
    "minimal": 16,
    "low": 64,
    "medium": 256,
    "high": 1024,
    "xhigh": 2048,
    "max": 4096,
}
SVG_AUTHOR = "imagegate-offline-svg"

CAPABILITIES = ModelCapabilities(
    operations=frozenset({"generate", "edit", "variation"}),
    sizes=SizeSpec(
        sizes=("256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "auto"),
        multiple_of=16,
        min_side=16,
        max_side=2048,
        max_ratio=4.0,
    ),
    max_n=10,
    max_images_per_call=10,
    output_formats=frozenset({"png", "jpeg", "webp", "gif", "svg"}),
    output_compression=True,
    backgrounds=frozenset({"transparent", "opaque", "auto"}),
    qualities=frozenset({"low", "medium", "high", "xhigh", "max", "auto"}),
    complexities=frozenset({"low", "medium", "high"}),
    moderation=True,
    input_fidelity=True,
    markup=True,
    max_input_images=16,
    mask=True,
    delivery="bytes",
    streaming=True,  # previews drawn while the picture is (see OfflineProvider.stream)
    extra_params=frozenset({"seed"}),
)

FREE = Price(usd_per_image=0.0)


class OfflineProvider(Provider):
    name = "offline"

    def capabilities(self, upstream_model: str, options: Any) -> ModelCapabilities:
        return CAPABILITIES

    def price(self, upstream_model: str, options: Any, operation: Operation) -> Price:
        return FREE  # drawn on this machine: nothing to pay

    async def run(self, call: UpstreamCall, send: Send) -> ProviderResult:
        return await asyncio.to_thread(render, call)

    async def stream(
        self, call: UpstreamCall, send: Send, open_stream: OpenStream
    ) -> AsyncIterator[StreamItem]:
        """Real previews: the picture while it is being drawn (coarse), then the finished picture. Each stage
        is drawn in a worker thread and yielded as soon as it is encoded."""
        stages = render_stages(call, call.partial_images or 0)
        while (item := await asyncio.to_thread(next, stages, None)) is not None:
            yield item


def render(call: UpstreamCall) -> ProviderResult:
    results = [item for item in render_stages(call, 0) if isinstance(item, ProviderResult)]
    first = results[0]
    first.images = [image for result in results for image in result.images]
    if first.output_format == "svg":
        first.svg_usage = _svg_usage(call, first.images)
    return first


def render_stages(call: UpstreamCall, partials: int) -> Iterator[StreamItem]:
    """For each of the call's images: ``partials`` previews, then the image (a one-image result). gif and
    svg are never streamed (the core refuses that), so previews are always raster."""
    width, height = _size(call)
    fmt = call.output_format or "png"
    transparent = call.background == "transparent" and fmt != "jpeg"
    quality = call.quality or "medium"
    metadata = {
        "size": f"{width}x{height}",
        "output_format": fmt,
        "quality": quality,
        "background": "transparent" if transparent else "opaque",
    }
    for offset in range(call.n):
        seed = _seed(call) + call.index * 1000 + offset
        scene = Scene.lay_out(random.Random(seed), width, height, quality, call.complexity)
        for stage in range(partials):
            drawn = len(scene.shapes) * (stage + 1) // (partials + 1)
            preview = _coarse(_picture(call, scene, seed, transparent, 0.0, drawn))
            data = _encode(preview, fmt, call.output_compression, transparent)
            yield PartialImage(image=ResultImage(data=data), index=stage, **metadata)
        if fmt == "svg":
            data = _svg(call, scene, seed, transparent)
        elif fmt == "gif":
            data = _gif(call, scene, seed, transparent)
        else:
            picture = _picture(call, scene, seed, transparent, 0.0)
            data = _encode(picture, fmt, call.output_compression, transparent)
        yield ProviderResult(images=[ResultImage(data=data)], **metadata)


def _picture(
    call: UpstreamCall, scene: Scene, seed: int, transparent: bool, phase: float, drawn: int | None = None
) -> Image.Image:
    """The picture at ``phase`` of an animation, with its first ``drawn`` shapes (all by default)."""
    if call.operation == "generate":
        return scene.raster(phase, transparent, drawn)
    if call.operation == "edit":
        return _edit(call, scene, phase, drawn)
    return _vary(call, random.Random(seed), scene.width, scene.height, phase)


def _seed(call: UpstreamCall) -> int:
    seed = int_param(call.params, "seed")
    if seed is not None:
        return seed
    return int.from_bytes(hashlib.sha256((call.prompt or "").encode()).digest()[:8], "big")


def _size(call: UpstreamCall) -> tuple[int, int]:
    if call.width and call.height:
        return call.width, call.height
    if call.images:
        return call.images[0].width, call.images[0].height
    return 1024, 1024


def _open(upload: InputImage, width: int, height: int) -> Image.Image:
    with decode_input(upload) as image:
        return ImageOps.fit(image.convert("RGBA"), (width, height))


def _edit(call: UpstreamCall, scene: Scene, phase: float, drawn: int | None) -> Image.Image:
    width, height = scene.width, scene.height
    base = _open(call.images[0], width, height)
    painted = scene.raster(phase, False, drawn)
    if call.mask is not None:
        # OpenAI's convention: fully transparent mask pixels mark the area to edit.
        alpha = _open(call.mask, width, height).getchannel("A")
        base.paste(painted, mask=ImageChops.invert(alpha.point(lambda value: 255 if value else 0)))
    else:
        base = Image.blend(base, painted, BLEND_BY_FIDELITY[call.input_fidelity])
    if call.markup is not None:
        base.alpha_composite(_open(call.markup, width, height))
    _inset(base, call.images[1:])
    return base


def _inset(base: Image.Image, uploads: list[Any]) -> None:
    """Every other input image, in rows of five fifth-size insets filling upwards from the bottom edge."""
    width, height = base.size
    cell_width, cell_height = max(1, width // INSETS_PER_ROW), max(1, height // INSETS_PER_ROW)
    for position, upload in enumerate(uploads):
        row, column = divmod(position, INSETS_PER_ROW)
        base.paste(
            _open(upload, cell_width, cell_height), (column * cell_width, height - (row + 1) * cell_height)
        )


def _vary(call: UpstreamCall, rng: random.Random, width: int, height: int, phase: float) -> Image.Image:
    base = _open(call.images[0], width, height)
    red, green, blue, alpha = base.split()
    channels = [red, green, blue]
    rng.shuffle(channels)
    return ImageChops.offset(Image.merge("RGBA", (*channels, alpha)), round(width * phase / 4), 0)


def _coarse(picture: Image.Image) -> Image.Image:
    """A preview: the picture at an eighth of its resolution, blown back up."""
    small = picture.resize((max(1, picture.width // 8), max(1, picture.height // 8)), Image.Resampling.BOX)
    return small.resize(picture.size, Image.Resampling.NEAREST)


def _encode(picture: Image.Image, fmt: str, compression: int | None, transparent: bool) -> bytes:
    if fmt == "jpeg" or not transparent:
        picture = picture.convert("RGB")
    out = io.BytesIO()
    options: dict[str, Any] = {"compress_level": 1} if fmt == "png" else {"quality": compression or 90}
    picture.save(out, format=PIL_FORMATS[fmt], **options)
    return out.getvalue()


def frame_duration(requested: int | None) -> int:
    """OpenAI's rule: rounded to the nearest 10 ms, at most 655,350 ms (and at least one tick)."""
    milliseconds = DEFAULT_FRAME_DURATION_MS if requested is None else requested
    return min(MAX_FRAME_DURATION_MS, max(10, round(milliseconds / 10) * 10))


def _gif(call: UpstreamCall, scene: Scene, seed: int, transparent: bool) -> bytes:
    count = call.frame_count or DEFAULT_FRAME_COUNT
    frames = []
    for index in range(count):
        frame = _picture(call, scene, seed, transparent, index / count)
        # A progress tick along the bottom edge keeps every frame distinct (GIF writers merge equal frames).
        ImageDraw.Draw(frame).rectangle(
            (0, scene.height - 2, max(1, scene.width * (index + 1) // count), scene.height),
            fill=(255, 255, 255, 255),
        )
        frames.append(frame if transparent else frame.convert("RGB"))
    out = io.BytesIO()
    frames[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[frame_duration(call.frame_duration_ms)] * count,
        loop=0,
        disposal=2,
    )
    return out.getvalue()


def _svg(call: UpstreamCall, scene: Scene, seed: int, transparent: bool) -> bytes:
    title = call.prompt or ""
    if call.operation == "generate":
        return scene.svg(transparent, title)
    underlay = _encode(_picture(call, scene, seed, transparent, 0.0), "png", None, transparent)
    return replace(scene, shapes=()).svg(True, title, base64.b64encode(underlay).decode("ascii"))


def _svg_usage(call: UpstreamCall, images: list[ResultImage]) -> dict[str, Any]:
    options = call.svg or {}
    effort = (options.get("reasoning") or {}).get("effort") or "medium"
    input_tokens = len((call.prompt or "").split())
    output_tokens = sum(math.ceil(len(image.data()) / 4) for image in images)
    reasoning_tokens = REASONING_TOKENS[effort] * len(images)
    return {
        "input_tokens": input_tokens,
        "model": options.get("model") or SVG_AUTHOR,
        "output_tokens": output_tokens,
        "reasoning_tokens": reasoning_tokens,
        "total_tokens": input_tokens + output_tokens + reasoning_tokens,
    }
