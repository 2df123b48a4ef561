"""An offline image model: deterministic pictures from the prompt (or ``seed``), drawn with Pillow.

Generations draw a gradient and shapes whose colours and layout come from a hash of the prompt; quality sets
how many shapes. Edits start from the first input image (resized to the requested size), repaint the area a
mask marks as transparent (or the whole image, tinted, without a mask) and inset the other inputs.
Variations shift the input's hues. Output is encoded in the requested format with the requested compression
and background, so the core does nothing but deliver it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from typing import Any

import msgspec
from imagegate import (
    InputImage,
    InvalidRequest,
    ModelCapabilities,
    Operation,
    Price,
    Provider,
    ProviderResult,
    ResultImage,
    Send,
    SizeSpec,
    UpstreamCall,
    decode_input,
)
from PIL import Image, ImageChops, ImageDraw, ImageOps

SHAPES_BY_QUALITY = {"low": 6, "medium": 16, "high": 40}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

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
    output_formats=frozenset({"png", "jpeg", "webp"}),
    output_compression=True,
    backgrounds=frozenset({"transparent", "opaque", "auto"}),
    qualities=frozenset({"low", "medium", "high", "auto"}),
    max_input_images=16,
    mask=True,
    delivery="bytes",
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


def render(call: UpstreamCall) -> ProviderResult:
    width, height = _size(call)
    fmt = call.output_format or "png"
    transparent = call.background == "transparent" and fmt != "jpeg"
    images = []
    for offset in range(call.n):
        rng = random.Random(_seed(call) + call.index * 1000 + offset)
        if call.operation == "generate":
            picture = _generate(rng, width, height, call.quality, transparent)
        elif call.operation == "edit":
            picture = _edit(call, rng, width, height)
        else:
            picture = _vary(call, rng, width, height)
        images.append(ResultImage(data=_encode(picture, fmt, call.output_compression, transparent)))
    return ProviderResult(
        images=images,
        size=f"{width}x{height}",
        output_format=fmt,
        quality=call.quality,
        background="transparent" if transparent else "opaque",
    )


def _seed(call: UpstreamCall) -> int:
    if "seed" in call.params:
        return _whole_number(call.params["seed"], "seed")
    return int.from_bytes(hashlib.sha256((call.prompt or "").encode()).digest()[:8], "big")


def _whole_number(value: Any, param: str) -> int:
    """An extra field as an integer; multipart sends "42", JSON 42."""
    try:
        return msgspec.convert(value, int, strict=False)
    except msgspec.ValidationError:
        raise InvalidRequest(f"'{param}' must be a whole number; got {value!r}.", param=param) from None


def _size(call: UpstreamCall) -> tuple[int, int]:
    if call.width and call.height:
        return call.width, call.height
    if call.images:
        return call.images[0].width, call.images[0].height
    return 1024, 1024


def _colour(rng: random.Random, alpha: int = 255) -> tuple[int, int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256), alpha


def _generate(
    rng: random.Random, width: int, height: int, quality: str | None, transparent: bool
) -> Image.Image:
    if transparent:
        picture = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        top, bottom = _colour(rng), _colour(rng)
        gradient = Image.linear_gradient("L").resize((width, height))
        picture = Image.composite(
            Image.new("RGBA", (width, height), bottom), Image.new("RGBA", (width, height), top), gradient
        )
    draw = ImageDraw.Draw(picture)
    for _ in range(SHAPES_BY_QUALITY.get(quality or "medium", 16)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = min(width, x0 + rng.randrange(8, max(9, width // 3)))
        y1 = min(height, y0 + rng.randrange(8, max(9, height // 3)))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=_colour(rng))
    return picture


def _open(upload: InputImage, width: int, height: int) -> Image.Image:
    with decode_input(upload) as image:
        return ImageOps.fit(image.convert("RGBA"), (width, height))


def _edit(call: UpstreamCall, rng: random.Random, width: int, height: int) -> Image.Image:
    base = _open(call.images[0], width, height)
    painted = _generate(rng, width, height, call.quality, transparent=False)
    if call.mask is not None:
        # OpenAI's convention: fully transparent mask pixels mark the area to edit.
        alpha = _open(call.mask, width, height).getchannel("A")
        base.paste(painted, mask=ImageChops.invert(alpha.point(lambda value: 255 if value else 0)))
    else:
        base = Image.blend(base, painted, 0.35)
    for position, upload in enumerate(call.images[1:], start=1):
        inset = _open(upload, max(1, width // 5), max(1, height // 5))
        base.paste(inset, ((position - 1) % 5 * (width // 5), height - height // 5))
    return base


def _vary(call: UpstreamCall, rng: random.Random, width: int, height: int) -> Image.Image:
    base = _open(call.images[0], width, height)
    red, green, blue, alpha = base.split()
    channels = [red, green, blue]
    rng.shuffle(channels)
    return Image.merge("RGBA", (*channels, alpha))


def _encode(picture: Image.Image, fmt: str, compression: int | None, transparent: bool) -> bytes:
    if fmt == "jpeg" or not transparent:
        picture = picture.convert("RGB")
    out = io.BytesIO()
    options: dict[str, Any] = {"compress_level": 1} if fmt == "png" else {"quality": compression or 90}
    picture.save(out, format=PIL_FORMATS[fmt], **options)
    return out.getvalue()
