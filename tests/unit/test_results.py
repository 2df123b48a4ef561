"""Verifying an upstream's image inside the attempt: the quick check of base64's two ends, and the whole
image whenever the ends leave a doubt."""

from __future__ import annotations

import base64
import io
import random

import msgspec
import pytest
from imagegate.capabilities import ModelCapabilities
from imagegate.config import Timeout
from imagegate.errors import UpstreamBadImage
from imagegate.planner import make_plan
from imagegate.provider import ResultImage
from imagegate.request import ImageParams, ImageRequest
from imagegate.results import ResultChecks, prepare_image
from PIL import Image


def make_noise_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(5).randbytes(width * height * 3)).save(
        buffer, "PNG"
    )
    return buffer.getvalue()


PNG = make_noise_png(256, 256)  # 190 KB: longer than the two ends the quick check decodes
PLAN = make_plan(
    ImageRequest(operation="generate", params=ImageParams(prompt="x"), model="m", extra={}, images=[]),
    ModelCapabilities(),
    "m",
    {},
)
CHECKS = ResultChecks(transport=None, download_max_bytes=1 << 20, max_pixels=40_000_000)  # type: ignore[arg-type]


def literal(text: str) -> ResultImage:
    return ResultImage(b64_json=msgspec.Raw(b'"' + text.encode() + b'"'))


async def check(image: ResultImage) -> ResultImage:
    await prepare_image(image, PLAN, ModelCapabilities(), CHECKS, Timeout())
    return image


async def test_a_base64_image_is_checked_from_its_ends_without_decoding_it_all() -> None:
    image = await check(literal(base64.b64encode(PNG).decode()))
    assert image.header is not None and image.header.size == "256x256"
    assert image._data is None  # type: ignore[attr-defined]  # never decoded: the client gets the text as is


@pytest.mark.parametrize("where", ["everywhere", "middle"])
async def test_escaped_slashes_anywhere_are_still_checked_right(where: str) -> None:
    text = base64.b64encode(PNG).decode()
    if where == "everywhere":
        text = text.replace("/", "\\/")
    else:
        middle = len(text) // 2
        text = text[:middle] + text[middle : middle + 400].replace("/", "\\/") + text[middle + 400 :]
    assert (await check(literal(text))).header.size == "256x256"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data", [PNG[:-20], PNG[: len(PNG) // 2], b"not an image at all" * 100], ids=["no-iend", "half", "text"]
)
async def test_what_the_ends_doubt_is_decided_on_the_whole_image(data: bytes) -> None:
    with pytest.raises(UpstreamBadImage):
        await check(literal(base64.b64encode(data).decode()))
