"""The core checks what upstreams answer, whatever the plugin: images are verified inside the attempt (a bad
body is retried, counted toward cooldown and fallen back from), the size reported is read from the image,
``Retry-After`` is read from every upstream answer, and the request's deadline ends in 504
``deadline_exceeded`` without charging the target it cut short.

Upstreams: scripted OpenAI-dialect emulators (tests/emulators/faulty.py) and the example Pixelworks plugin,
which parses no ``Retry-After`` of its own. The gateway's clock is fake (waits cost nothing) except in the
deadline tests, where the deadline must pass in real time."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from aiohttp import web
from imagegate.router import Router
from PIL import Image

from tests.emulators import pixelworks
from tests.emulators.faulty import API_KEY, AsUrl, Claims, FaultyUpstream, Garbage, Ok, Slow, serve_faulty
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image
from tests.support.servers import serve_aiohttp

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  retry: {{max_attempts: 2, backoff_seconds: 1, max_retry_after_seconds: 30}}
  cooldown: {{failures: 2, window_seconds: 60, duration_seconds: 30}}
providers:
  a: {{plugin: openai, api_key: {key}, base_url: "{a}/v1"}}
  b: {{plugin: openai, api_key: {key}, base_url: "{b}/v1"}}
  pixel: {{plugin: pixelworks, api_key: pixel-key, base_url: "{pixel}"}}
models:
  gpt-image-1: [{{provider: a}}, {{provider: b}}]
  a-only: [{{provider: a, upstream_model: gpt-image-1}}]
  png-only:   # the gateway transcodes anything else, so it decodes what a answers
    - {{provider: a, upstream_model: gpt-image-1, capabilities: {{output_formats: [png], output_compression: false}}}}
  by-url:
    - provider: a
      upstream_model: dall-e-3
      capabilities: {{response_formats: [], delivery: url, download_hosts: ["127.0.0.1"]}}
    - {{provider: b, upstream_model: gpt-image-1}}
  pixel-v1: [{{provider: pixel}}]
  priced: [{{provider: a, upstream_model: dall-e-3, price: {{usd_per_image: 0.5}}}}]   # streamed by the gateway
"""


@dataclass
class Setup:
    client: openai.OpenAI
    base_url: str
    a: FaultyUpstream
    b: FaultyUpstream
    pixel: web.Application
    clock: FakeClock


PIXEL_APPS: list[web.Application] = []


def make_pixel_app() -> web.Application:
    PIXEL_APPS.append(pixelworks.make_app())
    return PIXEL_APPS[-1]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    clock = FakeClock()
    with serve_faulty("a", "b") as upstreams, serve_aiohttp(make_pixel_app) as pixel:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        routes = ROUTES.format(store=tmp_path / "images", key=API_KEY, a=a_url, b=b_url, pixel=pixel)
        router = Router(clock=clock, rng=random.Random(3))
        with serve_gateway(routes, tmp_path, router=router) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0)
            yield Setup(client, base_url, a, b, PIXEL_APPS[-1], clock)


def generate(
    setup: Setup, model: str = "gpt-image-1", size: str = "1024x1024", **options: object
) -> openai.types.ImagesResponse:
    return setup.client.images.generate(model=model, prompt="a lighthouse", size=size, **options)  # type: ignore[arg-type]


def images_of(result: openai.types.ImagesResponse) -> list[tuple[str, int, int]]:
    assert result.data is not None
    return [describe(base64.b64decode(image.b64_json or ""))[:3] for image in result.data]


def declaring(width: int, height: int) -> bytes:
    """A complete little PNG whose header declares ``width`` x ``height``: a decompression bomb's header."""
    png = bytearray(make_image(8, 8, "png"))
    ihdr = png[12:29]
    ihdr[4:12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    png[12:33] = bytes(ihdr) + zlib.crc32(bytes(ihdr)).to_bytes(4, "big")
    return bytes(png)


def test_a_200_that_is_not_an_image_is_retried_counted_and_fallen_back_from(setup: Setup) -> None:
    setup.a.then(Garbage(), Garbage())
    assert images_of(generate(setup)) == [("png", 1024, 1024)]
    assert setup.a.steps_taken == ["Garbage", "Garbage"] and setup.b.steps_taken == ["Ok"]
    assert len(setup.clock.sleeps) == 1  # retried once on a (max_attempts: 2)
    # Two bad bodies were two failures: a cools down and the next request goes straight to b.
    assert images_of(generate(setup)) == [("png", 1024, 1024)]
    assert len(setup.a.received) == 2 and setup.b.steps_taken == ["Ok", "Ok"]


def test_a_streamed_bad_image_is_retried_and_not_charged(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream prices each image as it is made; an image that fails its check was not made: the retry's
    image is the only one the request costs."""
    caplog.set_level(logging.INFO, logger="imagegate.access")
    setup.a.then(Garbage(), Ok())
    events = list(setup.client.images.generate(model="priced", prompt="x", size="1024x1024", stream=True))
    assert [event.type for event in events] == ["image_generation.completed"]
    assert setup.a.steps_taken == ["Garbage", "Ok"]
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
    assert (line["images"], line["cost_usd"]) == (1, 0.5)


@pytest.mark.parametrize(
    "garbage",
    [
        Garbage(),  # text
        Garbage(data=make_image(64, 64, "png")[:-30]),  # a PNG cut short
        Garbage(data=make_image(64, 64, "jpeg")[:-40]),  # a JPEG cut short
        Garbage(b64_text="@@@ not base64 @@@"),
    ],
)
def test_a_bad_image_never_reaches_the_client(setup: Setup, garbage: Garbage) -> None:
    setup.a.then(garbage, garbage)
    with pytest.raises(openai.APIStatusError) as failed:
        generate(setup, "a-only")
    assert failed.value.status_code == 502
    assert failed.value.body["code"] == "upstream_bad_image"  # type: ignore[index]


def test_a_retried_bad_body_then_a_good_one_is_a_success(setup: Setup) -> None:
    setup.a.then(Garbage())
    assert images_of(generate(setup, "a-only")) == [("png", 1024, 1024)]
    assert setup.a.steps_taken == ["Garbage", "Ok"]


def big_exif_jpeg() -> bytes:
    """A real JPEG whose header runs past 64 KB (a long EXIF block): its ends alone do not show its header."""
    image = Image.new("RGB", (1024, 1024), (10, 80, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=b"Exif\x00\x00" + bytes(65_000))
    return buffer.getvalue()


def test_a_good_image_the_quick_check_cannot_vouch_for_is_still_delivered(setup: Setup) -> None:
    setup.a.then(Garbage(data=big_exif_jpeg()))
    result = generate(setup, "a-only")
    assert images_of(result)[0][1:] == (1024, 1024) and setup.a.steps_taken == ["Garbage"]


def test_the_size_reported_is_read_from_the_image_not_the_upstreams_claim(setup: Setup) -> None:
    setup.a.then(Claims("4096x4096"))
    result = generate(setup, "a-only")
    assert result.size == "1024x1024" and images_of(result) == [("png", 1024, 1024)]


def test_an_upstream_image_to_transcode_is_checked_against_the_pixel_limit(setup: Setup) -> None:
    setup.a.then(Garbage(data=declaring(9000, 9000)), Garbage(data=declaring(9000, 9000)))
    with pytest.raises(openai.APIStatusError) as failed:
        generate(setup, "png-only", output_format="webp")
    assert failed.value.status_code == 502 and "megapixels" in failed.value.message
    setup.clock.advance(31)  # past the cooldown that the two bad answers started
    assert images_of(generate(setup, "png-only", output_format="webp")) == [("webp", 1024, 1024)]


def test_a_bad_image_behind_an_upstream_url_is_retried_and_fallen_back_from(setup: Setup) -> None:
    setup.a.then(AsUrl(b"<html>expired</html>"), AsUrl(b"<html>expired</html>"))
    result = generate(setup, "by-url", response_format="b64_json")
    assert images_of(result) == [("png", 1024, 1024)]
    assert setup.a.steps_taken == ["AsUrl", "AsUrl"] and setup.b.steps_taken == ["Ok"]


def test_a_good_image_behind_an_upstream_url_is_fetched_and_measured(setup: Setup) -> None:
    setup.a.then(AsUrl())
    result = generate(setup, "by-url", response_format="b64_json")
    assert images_of(result) == [("png", 1024, 1024)] and result.size == "1024x1024"


def test_retry_after_is_read_by_the_core_for_a_plugin_that_ignores_it(setup: Setup) -> None:
    setup.pixel["scripted"].append((429, {"Retry-After": "7"}))
    result = setup.client.images.generate(model="pixel-v1", prompt="a fox", size="512x512")
    assert describe(base64.b64decode(result.data[0].b64_json or ""))[:3] == ("png", 512, 512)  # type: ignore[index]
    assert setup.clock.sleeps == [7.0]


def test_the_clients_429_carries_the_upstreams_retry_after(setup: Setup) -> None:
    setup.pixel["scripted"].extend([(429, {"Retry-After": "7"})] * 2)
    response = httpx.post(
        setup.base_url + "/v1/images/generations", json={"model": "pixel-v1", "prompt": "a fox"}
    )
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


# --- deadlines, in real time ------------------------------------------------------------------------------

DEADLINE_ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  cooldown: {{failures: 1, window_seconds: 60, duration_seconds: 30}}
providers:
  a: {{plugin: openai, api_key: {key}, base_url: "{a}/v1", timeout: {{total: 0.5}}}}
  a-patient: {{plugin: openai, api_key: {key}, base_url: "{a}/v1"}}
  b: {{plugin: openai, api_key: {key}, base_url: "{b}/v1"}}
models:
  no-time-for-the-fallback:
    targets: [{{provider: a, upstream_model: gpt-image-1}}, {{provider: b, upstream_model: gpt-image-1}}]
    retry: {{deadline_seconds: 0.6, min_attempt_seconds: 0.2}}
  cut-short:
    targets: [{{provider: a-patient, upstream_model: gpt-image-1}}]
    retry: {{deadline_seconds: 1, min_attempt_seconds: 0.1}}
"""


@pytest.fixture
def deadline_setup(tmp_path: Path) -> Iterator[Setup]:
    with serve_faulty("a", "b") as upstreams:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        routes = DEADLINE_ROUTES.format(store=tmp_path / "images", key=API_KEY, a=a_url, b=b_url)
        with serve_gateway(routes, tmp_path) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0)
            yield Setup(client, base_url, a, b, web.Application(), FakeClock())


def test_no_attempt_starts_with_less_than_the_minimum_slice(deadline_setup: Setup) -> None:
    deadline_setup.a.then(Slow(30))  # a times out after its own 0.5 s; 0.1 s of the deadline is left
    with pytest.raises(openai.APIStatusError) as failed:
        generate(deadline_setup, "no-time-for-the-fallback")
    assert failed.value.status_code == 504 and failed.value.body["code"] == "deadline_exceeded"  # type: ignore[index]
    assert deadline_setup.b.received == []  # never tried with a sliver of time, never charged


def test_an_attempt_cut_short_by_the_deadline_is_not_charged_to_the_target(deadline_setup: Setup) -> None:
    deadline_setup.a.then(Slow(30))  # the deadline (1 s) ends the attempt, not a's timeout (300 s)
    with pytest.raises(openai.APIStatusError) as failed:
        generate(deadline_setup, "cut-short")
    assert failed.value.status_code == 504 and failed.value.body["code"] == "deadline_exceeded"  # type: ignore[index]
    assert "deadline of 1 s" in failed.value.message
    # One failure would cool the target down (cooldown.failures: 1): it was not counted as one.
    assert images_of(generate(deadline_setup, "cut-short")) == [("png", 1024, 1024)]
