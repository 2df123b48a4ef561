"""An offline image model: deterministic pictures from the prompt (or ``seed``), drawn with Pillow.

Generations draw a gradient and shapes whose colours and layout come from a hash of the prompt; quality sets
how many shapes. Edits start from the first input image (resized to the requested size), repaint the area a
mask marks as transparent (or the whole image, tinted, without a mask) and inset the other inputs.
Variations shift the input's hues. Output is encoded in the requested format with the requested compression
and background, so the core does nothing but deliver it. Streaming clients get real previews: the picture
part-drawn, at an eighth of its resolution, before the finished one.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
from imagegate import (
    InputImage,
    InvalidRequest,
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
    return first


def render_stages(call: UpstreamCall, partials: int) -> Iterator[StreamItem]:
    """For each of the call's images: ``partials`` previews, then the image (a one-image result)."""
    width, height = _size(call)
    fmt = call.output_format or "png"
    transparent = call.background == "transparent" and fmt != "jpeg"
    metadata = {
        "size": f"{width}x{height}",
        "output_format": fmt,
        "quality": call.quality,
        "background": "transparent" if transparent else "opaque",
    }
    for offset in range(call.n):
        rng = random.Random(_seed(call) + call.index * 1000 + offset)
        if call.operation == "generate":
            pictures = _generate(rng, width, height, call.quality, transparent, partials)
        elif call.operation == "edit":
            pictures = _edit(call, rng, width, height, partials)
        else:
            pictures = iter([_vary(call, rng, width, height)])
        for index, picture in enumerate(pictures):
            if index < partials:
                preview = _encode(_coarse(picture), fmt, call.output_compression, transparent)
                yield PartialImage(image=ResultImage(data=preview), index=index, **metadata)
            else:
                data = _encode(picture, fmt, call.output_compression, transparent)
                yield ProviderResult(images=[ResultImage(data=data)], **metadata)


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
    rng: random.Random, width: int, height: int, quality: str | None, transparent: bool, partials: int = 0
) -> Iterator[Image.Image]:
    """The picture after each of ``partials`` stages of drawing (copies), then the finished picture."""
    if transparent:
        picture = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        top, bottom = _colour(rng), _colour(rng)
        gradient = Image.linear_gradient("L").resize((width, height))
        picture = Image.composite(
            Image.new("RGBA", (width, height), bottom), Image.new("RGBA", (width, height), top), gradient
        )
    draw = ImageDraw.Draw(picture)
    shapes = SHAPES_BY_QUALITY.get(quality or "medium", 16)
    stage_ends = {shapes * (stage + 1) // (partials + 1) for stage in range(partials)}
    for number in range(shapes):
        if number in stage_ends:
            yield picture.copy()
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = min(width, x0 + rng.randrange(8, max(9, width // 3)))
        y1 = min(height, y0 + rng.randrange(8, max(9, height // 3)))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=_colour(rng))
    yield picture


def _coarse(picture: Image.Image) -> Image.Image:
    """A preview: the picture at an eighth of its resolution, blown back up."""
    small = picture.resize((max(1, picture.width // 8), max(1, picture.height // 8)), Image.Resampling.BOX)
    return small.resize(picture.size, Image.Resampling.NEAREST)


def _open(upload: InputImage, width: int, height: int) -> Image.Image:
    with decode_input(upload) as image:
        return ImageOps.fit(image.convert("RGBA"), (width, height))


def _edit(
    call: UpstreamCall, rng: random.Random, width: int, height: int, partials: int = 0
) -> Iterator[Image.Image]:
    """The edited picture at each stage of drawing the new content (see :func:`_generate`)."""
    base = _open(call.images[0], width, height)
    alpha = _open(call.mask, width, height).getchannel("A") if call.mask is not None else None
    insets = [_open(upload, max(1, width // 5), max(1, height // 5)) for upload in call.images[1:]]
    for painted in _generate(rng, width, height, call.quality, False, partials):
        if alpha is not None:
            # OpenAI's convention: fully transparent mask pixels mark the area to edit.
            edited = base.copy()
            edited.paste(painted, mask=ImageChops.invert(alpha.point(lambda value: 255 if value else 0)))
        else:
            edited = Image.blend(base, painted, 0.35)
        for position, inset in enumerate(insets, start=1):
            edited.paste(inset, ((position - 1) % 5 * (width // 5), height - height // 5))
        yield edited


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
