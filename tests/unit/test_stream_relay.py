"""What one call's stream becomes for the client (imagegate.stream.relay): numbering across a fan-out, usage
on a call's last image, and a call retried after some of its images went out sending only the rest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from imagegate.accesslog import RequestRecord
from imagegate.adapt import Delivery
from imagegate.config import Timeout
from imagegate.errors import UpstreamError
from imagegate.planner import make_plan
from imagegate.provider import PartialImage, ProviderResult, ResultImage, StreamItem, Usage
from imagegate.request import ImageParams, ImageRequest
from imagegate.results import ResultChecks
from imagegate.stream.relay import CallRelay, StreamedImages
from imagegate.stream.response import EventStream
from imagegate_offline.provider import CAPABILITIES

from tests.support.images import make_image

TIMEOUT = Timeout(connect=1, total=5)


def image(colour: int) -> ResultImage:
    return ResultImage(data=make_image(16, 16, color=(colour, 0, 0)))


def result(*colours: int, usage: Usage | None = None) -> ProviderResult:
    return ProviderResult(images=[image(c) for c in colours], size="16x16", output_format="png", usage=usage)


async def items(*yielded: StreamItem | Exception) -> AsyncIterator[StreamItem]:
    for item in yielded:
        if isinstance(item, Exception):
            raise item
        yield item


def setup(count: int, first_index: int = 0) -> tuple[EventStream, StreamedImages, CallRelay, list]:
    request = ImageRequest(
        operation="generate", params=ImageParams(prompt="x", size="16x16"), model="m", extra={}, images=[]
    )
    plan = make_plan(request, CAPABILITIES, "m", {})
    events = EventStream("generate", 15, RequestRecord())
    images = StreamedImages()
    priced: list[ProviderResult] = []
    delivery = Delivery(store=None, public_base_url="http://gateway")  # type: ignore[arg-type]  # base64 only
    checks = ResultChecks(transport=None, download_max_bytes=1, max_pixels=10**6)  # type: ignore[arg-type]
    relay = CallRelay(events, images, plan, CAPABILITIES, delivery, checks, first_index, count, priced.extend)
    return events, images, relay, priced


def sent(events: EventStream) -> list[tuple[str, dict]]:
    """The queued events: (type, data) each."""
    out = []
    while not events._queue.empty():
        framed = b"".join(events._queue.get_nowait().pieces)  # type: ignore[union-attr]
        name, _, data = framed.decode().strip().partition("\ndata: ")
        out.append((name.removeprefix("event: "), json.loads(data)))
    return out


async def test_previews_then_images_numbered_from_the_calls_first_index() -> None:
    events, images, relay, priced = setup(count=2, first_index=3)
    usage = Usage(input_tokens=5, output_tokens=10, total_tokens=15)
    preview = PartialImage(image=image(9), index=0, size="16x16", output_format="png")
    made = await relay.relay(items(preview, result(1, 2, usage=usage)), TIMEOUT)
    assert len(made.images) == 2 and len(priced) == 1
    queued = sent(events)
    assert [(name, data["image_index"]) for name, data in queued] == [
        ("image_generation.partial_image", 3),
        ("image_generation.completed", 3),
        ("image_generation.completed", 4),
    ]
    assert queued[0][1]["partial_image_index"] == 0 and "usage" not in queued[1][1]
    assert queued[2][1]["usage"]["total_tokens"] == 15  # the call's usage goes with its last image
    assert {data["size"] for _, data in queued} == {"16x16"}
    body = images.body()
    assert [item["b64_json"] for item in body["data"]] == [data["b64_json"] for _, data in queued[1:]]
    assert body["usage"]["total_tokens"] == 15


async def test_a_retry_sends_only_what_the_failed_attempt_did_not() -> None:
    events, _, relay, _ = setup(count=2)
    with pytest.raises(UpstreamError):
        await relay.relay(items(result(1), UpstreamError("lost")), TIMEOUT)
    first_attempt = sent(events)
    assert [data["image_index"] for _, data in first_attempt] == [0]
    again = PartialImage(image=image(9), index=0)  # a preview of image 0, already sent whole: skipped
    made = await relay.relay(
        items(again, result(3), PartialImage(image=image(8), index=0), result(4)), TIMEOUT
    )
    second_attempt = sent(events)
    assert [(name, data["image_index"]) for name, data in second_attempt] == [
        ("image_generation.partial_image", 1),
        ("image_generation.completed", 1),
    ]
    assert len(made.images) == 2


async def test_a_stream_that_ends_early_is_an_upstream_error() -> None:
    _, _, relay, _ = setup(count=1)
    with pytest.raises(UpstreamError, match="ended after 0 of 1"):
        await relay.relay(items(PartialImage(image=image(9), index=0)), TIMEOUT)
