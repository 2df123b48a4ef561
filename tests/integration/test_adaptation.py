"""The core adapting what upstreams give to what clients ask: fan-out, transcoding, hosted URLs, base64 from
upstream URLs, and clear 400s for what cannot be done. Upstreams: the example Pixelworks plugin (installed
from examples/, found through its entry point: one PNG per call, raw bytes) and the OpenAI-dialect emulator."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import openai
import pytest
from aiohttp import web
from imagegate.parsing import UploadParser
from PIL import Image

from tests.emulators import openai_dialect, pixelworks
from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image
from tests.support.servers import serve_aiohttp

ROUTES = """
server:
  image_store: {{directory: "{store}", ttl_seconds: 2, cleanup_interval_seconds: 1}}
providers:
  pixel: {{plugin: pixelworks, api_key: pixel-key, base_url: "{pixel}"}}
  oa: {{plugin: openai, api_key: test-key, base_url: "{openai}/v1"}}
models:
  pixel-v1: [{{provider: pixel}}]
  dalle-by-url:
    - provider: oa
      upstream_model: dall-e-3
      capabilities: {{response_formats: [], delivery: url, download_hosts: ["127.0.0.1"]}}
  dalle-untrusted-host:
    - provider: oa
      upstream_model: dall-e-3
      capabilities: {{response_formats: [], delivery: url, download_hosts: ["images.example.com"]}}
  gpt-image-1: [{{provider: oa}}]
  gpt-image-one-per-call:
    - {{provider: oa, upstream_model: gpt-image-1, capabilities: {{max_images_per_call: 1}}}}
"""


def test_example_plugin_is_found_through_its_entry_point() -> None:
    found = {ep.name: ep for ep in metadata.entry_points(group="imagegate")}
    assert found["pixelworks"].dist is not None and found["pixelworks"].dist.name == "imagegate-pixelworks"


APPS: dict[str, web.Application] = {}


def make_pixel_app() -> web.Application:
    APPS["pixel"] = pixelworks.make_app()
    return APPS["pixel"]


def make_openai_app() -> web.Application:
    APPS["openai"] = openai_dialect.make_app()
    return APPS["openai"]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[str, str]]:
    with serve_aiohttp(make_pixel_app) as pixel, serve_aiohttp(make_openai_app) as oa:
        yield pixel, oa


@pytest.fixture(scope="module")
def gateway(upstreams: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("adapt")
    routes = ROUTES.format(store=directory / "images", pixel=upstreams[0], openai=upstreams[1])
    with serve_gateway(routes, Path(directory)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/v1", api_key="client-key", max_retries=0)


def images(result: object) -> list[bytes]:
    return [base64.b64decode(item.b64_json) for item in result.data]  # type: ignore[attr-defined]


def test_fan_out_returns_n_distinct_images_in_order(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model="pixel-v1", prompt="four", n=4, size="512x384", extra_body={"seed": 10}
    )
    decoded = images(result)
    assert [describe(data)[:3] for data in decoded] == [("png", 512, 384)] * 4
    assert len(set(decoded)) == 4
    assert [item.model_extra["seed"] for item in result.data] == [10, 11, 12, 13]  # order kept
    assert result.size == "512x384"


def test_transcoding_to_webp_with_compression(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model="pixel-v1", prompt="webp please", size="640x448", output_format="webp", output_compression=50
    )
    assert describe(images(result)[0])[:3] == ("webp", 640, 448)
    assert result.output_format == "webp"


def test_transcoding_to_jpeg_keeps_the_size(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model="pixel-v1", prompt="jpeg", size="256x128", output_format="jpeg", n=2
    )
    assert [describe(data)[:3] for data in images(result)] == [("jpeg", 256, 128)] * 2


def test_hosted_url_serves_then_expires(client: openai.OpenAI) -> None:
    result = client.images.generate(model="pixel-v1", prompt="host me", size="128x128", response_format="url")
    url = result.data[0].url
    assert url is not None and result.data[0].b64_json is None
    first = httpx.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert describe(first.content)[:3] == ("png", 128, 128)
    deadline = time.monotonic() + 10
    while httpx.get(url).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.25)  # the configured expiry is 2 s
    expired = httpx.get(url)
    assert expired.status_code == 404 and expired.json()["error"]["code"] == "not_found"


def test_hosted_url_for_a_gpt_model_that_only_returns_base64(client: openai.OpenAI, upstreams) -> None:
    result = client.images.generate(
        model="gpt-image-1", prompt="url", response_format="url", size="1024x1024"
    )
    assert result.data[0].url and describe(httpx.get(result.data[0].url).content)[:3] == ("png", 1024, 1024)


def test_base64_from_an_upstream_that_returns_urls(client: openai.OpenAI) -> None:
    result = client.images.generate(model="dalle-by-url", prompt="fetch it", response_format="b64_json")
    assert describe(images(result)[0])[:3] == ("png", 1024, 1024)
    assert result.data[0].revised_prompt  # dall-e-3's revised prompt survives


def test_upstream_url_passed_through_when_client_wants_a_url(client: openai.OpenAI, upstreams) -> None:
    result = client.images.generate(model="dalle-by-url", prompt="as is", response_format="url")
    assert result.data[0].url.startswith(upstreams[1])


def test_result_url_on_an_undeclared_host_is_not_fetched(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as failure:
        client.images.generate(model="dalle-untrusted-host", prompt="x", response_format="b64_json")
    assert failure.value.status_code == 502 and "undeclared host" in failure.value.message


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"background": "transparent"}, "background"),
        ({"size": "500x500"}, "size"),
        ({"quality": "high"}, "quality"),
        ({"extra_body": {"steps": 30}}, "steps"),
        ({"n": 11}, "n"),
    ],
)
def test_unsupported_combinations_are_clear_400s(
    client: openai.OpenAI, upstreams, kwargs: dict, param: str
) -> None:
    received = APPS["pixel"]["received"]
    calls_before = len(received)
    with pytest.raises(openai.BadRequestError) as refusal:
        client.images.generate(model="pixel-v1", prompt="x", **kwargs)
    assert refusal.value.param == param
    assert len(received) == calls_before  # refused before any upstream call


def test_fanned_out_edit_sends_a_disk_spooled_upload_whole_with_every_call(client: openai.OpenAI) -> None:
    # 6 MB of noise: past the in-memory limit the upload spools to disk, and three concurrent calls stream it
    # at their own offsets.
    big = Image.frombytes("RGB", (1408, 1408), os.urandom(1408 * 1408 * 3))
    buffer = io.BytesIO()
    big.save(buffer, "PNG", compress_level=0)
    upload = buffer.getvalue()
    assert len(upload) > UploadParser.spool_max_size
    received = APPS["openai"]["received"]
    before = len(received)
    result = client.images.edit(
        model="gpt-image-one-per-call",
        prompt="x",
        n=3,
        image=[("big.png", upload, "image/png"), ("small.png", make_image(64, 64), "image/png")],
    )
    assert len(result.data) == 3
    calls = received[before:]
    assert len(calls) == 3
    for call in calls:
        sizes = {file.filename: file.size for file in call.files}
        assert sizes == {"big.png": len(upload), "small.png": len(make_image(64, 64))}
    assert result.usage.output_tokens == 3 * 272  # the emulator's 272 per image, summed over the calls
