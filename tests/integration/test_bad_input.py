"""Bad input is the client's 4xx, never the gateway's 500: sizes, broken and oversized images, broken JSON.

Each case here answered 500 (or was decoded at a cost of seconds and gigabytes) before the hardening of
issue #10; the gateway serves the offline model, which decodes its inputs."""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tests.support.images import describe, make_image

MODEL = "imagegate-offline"
# Pillow warns (once) when a header declares more than 89 Mpx; the gateway refuses those before decoding.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@pytest.fixture(scope="module")
def http(offline_gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=offline_gateway, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """20 KB of PNG declaring 13000x13000 one-bit pixels: 169 Mpx, under Pillow's own limit of 178 Mpx."""
    buffer = io.BytesIO()
    Image.new("1", (13000, 13000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def error_of(response: httpx.Response, status: int = 400) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def edit(http: httpx.Client, files: list[tuple[str, tuple[str, bytes, str]]]) -> httpx.Response:
    return http.post("/v1/images/edits", data={"model": MODEL, "prompt": "night"}, files=files)


def generate(http: httpx.Client, **fields: object) -> httpx.Response:
    return http.post("/v1/images/generations", json={"model": MODEL, "prompt": "a fox", **fields})


@pytest.mark.parametrize(
    "size",
    [
        "\u00b2x\u00b2",  # "²x²": str.isdigit() is true, int() fails
        "\u0661\u0660\u0662\u0664x\u0661\u0660\u0662\u0664",  # Arabic-Indic 1024x1024: int() takes it
        "64x64x64",
        "x64",
        "64 x64",
        "1" * 5000 + "x64",
    ],
)
def test_a_size_that_is_not_ascii_width_x_height_is_a_400(http: httpx.Client, size: str) -> None:
    error = error_of(generate(http, size=size))
    assert error["param"] == "size" and "WIDTHxHEIGHT" in str(error["message"])


def test_an_uppercase_x_in_the_size_is_taken(http: httpx.Client) -> None:
    response = generate(http, size="64X48")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["size"] == "64x48"
    assert describe(base64.b64decode(body["data"][0]["b64_json"]))[1:3] == (64, 48)


@pytest.mark.parametrize("field", ["image", "mask", "second image"])
def test_a_truncated_png_is_a_400_naming_its_field(http: httpx.Client, field: str) -> None:
    png = make_image(64, 64, "png", alpha=True)
    truncated = png[: len(png) // 2]
    files = [("image[]", ("whole.png", png, "image/png"))]
    if field == "mask":
        files.append(("mask", ("mask.png", truncated, "image/png")))
    else:
        files.insert(0 if field == "image" else 1, ("image[]", ("cut.png", truncated, "image/png")))
    error = error_of(edit(http, files))
    assert error["param"] == ("mask" if field == "mask" else "image")
    assert error["code"] == "invalid_image" and "truncated" in str(error["message"])


def test_pixel_data_corrupt_past_a_sound_header_is_a_400(http: httpx.Client) -> None:
    noise = Image.frombytes("RGB", (64, 64), random.Random(7).randbytes(64 * 64 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    png = bytearray(buffer.getvalue())
    middle = len(png) // 2
    png[middle : middle + 32] = bytes(32)  # the IDAT data no longer inflates; header and IEND are intact
    error = error_of(edit(http, [("image", ("corrupt.png", bytes(png), "image/png"))]))
    assert error["param"] == "image" and error["code"] == "invalid_image"


@pytest.mark.parametrize("field", ["image", "mask"])
def test_a_decompression_bomb_is_refused_from_its_header(http: httpx.Client, bomb: bytes, field: str) -> None:
    files = [("image", ("bomb.png", bomb, "image/png"))]
    if field == "mask":
        files = [
            ("image", ("img.png", make_image(64, 64), "image/png")),
            ("mask", ("bomb.png", bomb, "image/png")),
        ]
    error = error_of(edit(http, files))
    assert (error["param"], error["code"]) == (field, "image_too_large")
    assert "13000x13000" in str(error["message"]) and "40 megapixels" in str(error["message"])


def test_a_bomb_as_variation_and_as_json_data_url_is_refused(http: httpx.Client, bomb: bytes) -> None:
    variation = http.post(
        "/v1/images/variations", data={"model": MODEL}, files={"image": ("bomb.png", bomb, "image/png")}
    )
    assert error_of(variation)["code"] == "image_too_large"
    data_url = "data:image/png;base64," + base64.b64encode(bomb).decode()
    response = http.post(
        "/v1/images/edits", json={"model": MODEL, "prompt": "x", "images": [{"image_url": data_url}]}
    )
    error = error_of(response)
    assert (error["param"], error["code"]) == ("images", "image_too_large")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"model": "imagegate-offline", "prompt": "\xff\xfe"}', "UTF-8"),
        (b'{"model": "imagegate-offline", "prompt": "caf\xe9"}', "UTF-8"),
    ],
)
def test_json_too_deep_or_not_utf8_is_a_400(http: httpx.Client, body: bytes, words: str) -> None:
    response = http.post("/v1/images/generations", content=body, headers={"content-type": "application/json"})
    error = error_of(response)
    assert error["code"] == "invalid_json" and words in str(error["message"])
