"""Every current Images API parameter (openai SDK 3.57) through the gateway to the offline model: the images
are decoded and checked (GIF frames and durations, SVG documents, sizes, what an edit shows)."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator

import httpx
import openai
import pytest
from aiohttp import web
from openai.types import ImagesResponse
from PIL import Image, ImageStat

from tests.emulators.openai_dialect import make_app
from tests.support.gateway import serve_gateway
from tests.support.images import describe, gif_frames, make_image, svg_size
from tests.support.sdk import decoded, error_of
from tests.support.servers import serve_aiohttp

MODEL = "imagegate-offline"

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  image_urls: {{allow_private_networks: true}}  # the image server of these tests is on loopback
providers:
  local: {{plugin: offline}}
  emu: {{plugin: openai, api_key: emu-key, base_url: "{upstream}/v1"}}
models:
  imagegate-offline: [{{provider: local}}]
  gpt-image-2: [{{provider: emu}}]
  gpt-image-2.5-sunburst: [{{provider: emu}}]
"""


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    """Serves /red.png, /big.png (over the limit below), /moved (a redirect to /red.png) and /text."""

    def factory() -> web.Application:
        app = web.Application()
        red = make_image(64, 48, color=(220, 20, 20))

        async def red_png(request: web.Request) -> web.Response:
            return web.Response(body=red, content_type="image/png")

        async def moved(request: web.Request) -> web.Response:
            raise web.HTTPFound("/red.png")

        async def text(request: web.Request) -> web.Response:
            return web.Response(text="not an image")

        app.router.add_get("/red.png", red_png)
        app.router.add_get("/moved", moved)
        app.router.add_get("/text", text)
        return app

    with serve_aiohttp(factory) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("current-offline")
    with serve_aiohttp(lambda: make_app(api_key="emu-key")) as upstream:
        routes = ROUTES.format(store=directory / "images", upstream=upstream)
        with serve_gateway(routes, directory, environ={}) as base_url:
            yield base_url


@pytest.fixture(scope="module")
def client(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/v1", api_key="client-key", max_retries=0)


# --- identity and hints ------------------------------------------------------------------------------


def test_safety_identifier_is_echoed_and_logged(
    client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagegate.access")
    result = client.images.generate(model=MODEL, prompt="a fox", size="256x256", safety_identifier="hash-42")
    assert result.safety_identifier == "hash-42"
    fallback = client.images.generate(model=MODEL, prompt="a fox", size="256x256", user="user-7")
    assert fallback.safety_identifier == "user-7"
    both = client.images.generate(
        model=MODEL, prompt="a fox", size="256x256", user="user-7", safety_identifier="hash-42"
    )
    assert both.safety_identifier == "hash-42"  # a non-empty safety_identifier wins, as OpenAI's rule has it
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
    assert [line["end_user"] for line in lines[-3:]] == ["hash-42", "user-7", "hash-42"]


def test_hints_never_break_a_request(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model=MODEL, prompt="a fox", size="256x256", moderation="low", quality="auto", background="auto"
    )
    assert describe(decoded(result))[:3] == ("png", 256, 256)


# --- result-changing parameters ----------------------------------------------------------------------


def test_every_quality_and_complexity_changes_the_picture(client: openai.OpenAI) -> None:
    pictures = set()
    for quality in ("low", "medium", "high", "xhigh", "max"):
        result = client.images.generate(model=MODEL, prompt="a city", size="256x256", quality=quality)
        assert result.quality == quality
        pictures.add(decoded(result))
    for complexity in ("low", "high"):
        result = client.images.generate(model=MODEL, prompt="a city", size="256x256", complexity=complexity)
        pictures.add(decoded(result))
    assert len(pictures) == 7


def test_gif_has_its_frames_and_durations(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model=MODEL,
        prompt="a bouncing ball",
        size="256x256",
        output_format="gif",
        frame_count=5,
        frame_duration_ms=123,
    )
    data = decoded(result)
    assert describe(data)[:3] == ("gif", 256, 256) and result.output_format == "gif"
    assert gif_frames(data) == [120] * 5  # rounded to the nearest 10 ms, as OpenAI does
    default = client.images.generate(
        model=MODEL, prompt="a bouncing ball", size="256x256", output_format="gif"
    )
    assert gif_frames(decoded(default)) == [200] * 9  # OpenAI's defaults


def test_transparent_gif_and_a_gif_edit(client: openai.OpenAI) -> None:
    sticker = client.images.generate(
        model=MODEL,
        prompt="sticker",
        size="128x128",
        output_format="gif",
        frame_count=3,
        background="transparent",
    )
    with Image.open(io.BytesIO(decoded(sticker))) as image:
        assert "transparency" in image.info and image.n_frames == 3
    edited = client.images.edit(
        model=MODEL,
        prompt="make it move",
        image=("photo.png", make_image(160, 96), "image/png"),
        output_format="gif",
        frame_count=4,
    )
    assert describe(decoded(edited))[:3] == ("gif", 160, 96) and len(gif_frames(decoded(edited))) == 4


def test_svg_is_a_real_document_with_its_usage(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model=MODEL,
        prompt="a logo",
        size="512x256",
        output_format="svg",
        svg={"model": "author-1", "reasoning": {"effort": "high"}},
        n=2,  # OpenAI authors one SVG per call: the gateway makes two
    )
    assert result.data is not None and len(result.data) == 2
    assert all(svg_size(decoded(result, index)) == (512, 256) for index in range(2))
    assert decoded(result, 0) != decoded(result, 1)
    usage = result.svg_usage
    assert usage is not None and usage.model == "author-1" and usage.reasoning_tokens == 2 * 1024
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens + usage.reasoning_tokens
    assert result.output_format == "svg" and result.size == "512x256"


def test_svg_by_url_is_served_inert(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model=MODEL, prompt="a logo", size="256x256", output_format="svg", response_format="url"
    )
    assert result.data is not None and result.data[0].url is not None
    hosted = httpx.get(result.data[0].url)
    assert hosted.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in hosted.headers["content-security-policy"]
    assert svg_size(hosted.content) == (256, 256)


def test_svg_edit_keeps_the_edited_picture(client: openai.OpenAI) -> None:
    result = client.images.edit(
        model=MODEL,
        prompt="vectorise",
        image=("a.png", make_image(200, 100), "image/png"),
        output_format="svg",
    )
    data = decoded(result)
    assert svg_size(data) == (200, 100) and b"data:image/png;base64," in data


def test_sixteen_image_edit_shows_all_sixteen(client: openai.OpenAI) -> None:
    colours = [(16 * index, 255 - 12 * index, (40 * index) % 256) for index in range(16)]
    images = [(f"{index}.png", make_image(100, 100, color=c), "image/png") for index, c in enumerate(colours)]
    result = client.images.edit(model=MODEL, prompt="a collage", image=images, size="640x640")
    with Image.open(io.BytesIO(decoded(result))) as picture:
        rgb = picture.convert("RGB")
        for position, colour in enumerate(colours[1:]):  # the first image is the base, the rest are insets
            row, column = divmod(position, 5)
            centre = (column * 128 + 64, 640 - row * 128 - 40)
            assert rgb.getpixel(centre) == colour, (position, centre)


def test_input_fidelity_changes_how_much_of_the_input_stays(client: openai.OpenAI) -> None:
    photo = ("photo.png", make_image(128, 128, color=(250, 250, 250)), "image/png")
    kept = {}
    for fidelity in ("high", "low"):
        result = client.images.edit(model=MODEL, prompt="paint", image=photo, input_fidelity=fidelity)
        with Image.open(io.BytesIO(decoded(result))) as picture:
            kept[fidelity] = sum(ImageStat.Stat(picture.convert("RGB")).sum)
    assert kept["high"] > kept["low"]  # a white photo stays whiter when more of it is kept


def test_markup_is_drawn_over_the_first_image(client: openai.OpenAI) -> None:
    guide = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    guide.paste((0, 255, 0, 255), (0, 0, 32, 32))
    buffer = io.BytesIO()
    guide.save(buffer, "PNG")
    result = client.images.edit(
        model=MODEL,
        prompt="follow the guide",
        image=("photo.png", make_image(128, 128), "image/png"),
        markup=("markup.png", buffer.getvalue(), "image/png"),
    )
    with Image.open(io.BytesIO(decoded(result))) as picture:
        assert picture.convert("RGB").getpixel((10, 10)) == (0, 255, 0)


def test_markup_rules(client: openai.OpenAI) -> None:
    photo = ("photo.png", make_image(128, 128), "image/png")
    mask = ("mask.png", make_image(128, 128, alpha=True), "image/png")
    cases = [
        ({"markup": mask, "mask": mask}, "markup"),  # not both
        ({"markup": ("m.jpg", make_image(128, 128, "jpeg"), "image/jpeg")}, "markup"),  # a transparent PNG
        ({"markup": ("m.png", make_image(64, 64, alpha=True), "image/png")}, "markup"),  # the image's size
    ]
    for kwargs, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            client.images.edit(model=MODEL, prompt="x", image=photo, **kwargs)
        assert error_of(caught)["param"] == param


# --- refusals that say where it would work -----------------------------------------------------------


def test_gif_on_a_model_without_it_names_where_it_works(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="a ball", output_format="gif")
    error = error_of(caught)
    assert error["param"] == "output_format" and error["code"] == "unsupported_value"
    assert "cannot convert" in error["message"]
    assert "serve this request as sent: imagegate-offline, gpt-image-2.5-sunburst." in error["message"]


def test_unknown_parameter_on_a_translated_model_names_where_it_works(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=MODEL, prompt="a ball", extra_body={"prompt_rewriter": "off"})
    error = error_of(caught)
    assert (error["param"], error["code"]) == ("prompt_rewriter", "unknown_parameter")
    assert "gpt-image-2, gpt-image-2.5-sunburst" in error["message"]  # they pass it on to OpenAI


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"frame_count": 4}, "frame_count"),  # without output_format=gif
        ({"output_format": "svg", "frame_duration_ms": 100}, "frame_duration_ms"),
        ({"svg": {"model": "a"}}, "svg"),
        ({"output_format": "gif", "output_compression": 50}, "output_compression"),
        ({"output_format": "gif", "frame_count": 17}, "frame_count"),
        ({"output_format": "gif", "frame_count": 1}, "frame_count"),
    ],
)
def test_format_options_belong_to_their_format(client: openai.OpenAI, kwargs: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=MODEL, prompt="x", size="256x256", **kwargs)
    assert error_of(caught)["param"] == param


# --- the seed API's spellings ------------------------------------------------------------------------


def test_response_format_as_an_image_format(gateway: str) -> None:
    body = {"model": MODEL, "prompt": "x", "size": "256x256", "response_format": "webp"}
    answer = httpx.post(gateway + "/v1/images/generations", json=body).json()
    assert describe(base64.b64decode(answer["data"][0]["b64_json"]))[0] == "webp"
    assert answer["output_format"] == "webp"


def test_output_format_as_a_delivery(gateway: str) -> None:
    body = {"model": MODEL, "prompt": "x", "size": "256x256", "output_format": "url"}
    answer = httpx.post(gateway + "/v1/images/generations", json=body).json()
    assert "b64_json" not in answer["data"][0]
    assert describe(httpx.get(answer["data"][0]["url"]).content)[0] == "png"
    swapped = {**body, "output_format": "url", "response_format": "jpeg"}
    answer = httpx.post(gateway + "/v1/images/generations", json=swapped).json()
    assert describe(httpx.get(answer["data"][0]["url"]).content)[0] == "jpeg"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "png", "output_format": "jpeg"}, "response_format"),
        ({"output_format": "url", "response_format": "b64_json"}, "output_format"),
    ],
)
def test_conflicting_spellings_are_a_400(gateway: str, fields: dict, param: str) -> None:
    response = httpx.post(gateway + "/v1/images/generations", json={"model": MODEL, "prompt": "x", **fields})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["code"] == "conflicting_parameters"


def test_seed_spellings_in_a_multipart_edit(gateway: str) -> None:
    response = httpx.post(
        gateway + "/v1/images/edits",
        files=[("image", ("a.png", make_image(64, 64), "image/png"))],
        data={"model": MODEL, "prompt": "x", "response_format": "jpeg"},
    )
    assert response.status_code == 200, response.text
    assert describe(base64.b64decode(response.json()["data"][0]["b64_json"]))[0] == "jpeg"


# --- JSON edits with image references ----------------------------------------------------------------


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def json_edit(client: openai.OpenAI, **body: object) -> ImagesResponse:
    return client.post("/images/edits", body={"model": MODEL, "prompt": "x", **body}, cast_to=ImagesResponse)


def test_json_edit_with_data_and_http_urls(client: openai.OpenAI, image_server: str) -> None:
    result = json_edit(
        client,
        images=[{"image_url": data_url(make_image(64, 48))}, {"image_url": image_server + "/moved"}],
        size="320x240",
    )
    with Image.open(io.BytesIO(decoded(result))) as picture:
        assert picture.size == (320, 240)
        assert picture.convert("RGB").getpixel((32, 240 - 24)) == (220, 20, 20)  # the fetched image, inset


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        ({"file_id": "file-abc"}, "unsupported_image_reference"),
        ({"image_url": "/text"}, "invalid_image"),
        ({"image_url": "/missing.png"}, "invalid_image_url"),
        ({"image_url": "ftp://example.com/a.png"}, None),
    ],
)
def test_json_edit_reference_refusals(
    client: openai.OpenAI, image_server: str, reference: dict, code: str | None
) -> None:
    if reference.get("image_url", "").startswith("/"):
        reference = {"image_url": image_server + reference["image_url"]}
    with pytest.raises(openai.BadRequestError) as caught:
        json_edit(client, images=[reference])
    error = error_of(caught)
    assert error["param"] == "images"
    if code is not None:
        assert error["code"] == code


def test_a_json_edit_without_images_is_told_how_to_send_them(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        json_edit(client, images=[])
    error = error_of(caught)
    assert (error["param"], error["code"]) == ("images", "missing_required_parameter")
    assert "image_url" in error["message"] and "part" not in error["message"]  # no multipart advice to JSON


def test_private_addresses_are_not_fetched_by_default(
    offline_client: openai.OpenAI, image_server: str
) -> None:
    for url in (
        image_server + "/red.png",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:1/x.png",
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            json_edit(offline_client, images=[{"image_url": url}])
        error = error_of(caught)
        assert error["code"] == "invalid_image_url" and "public" in error["message"], error
