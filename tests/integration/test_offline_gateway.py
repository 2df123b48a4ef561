"""The gateway end to end on the offline provider, through the official openai SDK and raw HTTP."""

from __future__ import annotations

import base64
import importlib.metadata
import io

import httpx
import openai
import pytest
from PIL import Image

from tests.support.images import describe, make_image

MODEL = "imagegate-offline"


def decode(item: object) -> bytes:
    return base64.b64decode(item.b64_json)  # type: ignore[attr-defined]


def test_generate_b64_with_size_n_and_format(offline_client: openai.OpenAI) -> None:
    result = offline_client.images.generate(
        model=MODEL,
        prompt="a lighthouse at dusk",
        n=3,
        size="1536x1024",
        output_format="webp",
        output_compression=70,
    )
    assert len(result.data) == 3
    described = [describe(decode(item)) for item in result.data]
    assert all(d[:3] == ("webp", 1536, 1024) for d in described)
    assert len({item.b64_json for item in result.data}) == 3  # three distinct images
    assert result.size == "1536x1024" and result.output_format == "webp"


def test_generation_is_deterministic_from_prompt(offline_client: openai.OpenAI) -> None:
    first = offline_client.images.generate(model=MODEL, prompt="same prompt", size="256x256")
    second = offline_client.images.generate(model=MODEL, prompt="same prompt", size="256x256")
    other = offline_client.images.generate(model=MODEL, prompt="another prompt", size="256x256")
    assert first.data[0].b64_json == second.data[0].b64_json != other.data[0].b64_json


def test_transparent_background_keeps_alpha(offline_client: openai.OpenAI) -> None:
    result = offline_client.images.generate(
        model=MODEL, prompt="sticker", background="transparent", size="512x512"
    )
    fmt, width, height, mode = describe(decode(result.data[0]))
    assert (fmt, width, height, mode) == ("png", 512, 512, "RGBA")
    with Image.open(io.BytesIO(decode(result.data[0]))) as image:
        assert image.getchannel("A").getextrema()[0] == 0  # some pixels really are transparent


def test_url_response_serves_the_image(offline_client: openai.OpenAI) -> None:
    result = offline_client.images.generate(
        model=MODEL, prompt="a url please", response_format="url", size="512x512", output_format="jpeg"
    )
    url = result.data[0].url
    assert url and "/v1/images/hosted/" in url and result.data[0].b64_json is None
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert describe(response.content)[:3] == ("jpeg", 512, 512)


def test_edit_with_two_images_and_mask(offline_client: openai.OpenAI) -> None:
    first = make_image(512, 512, "png", color=(200, 30, 30))
    second = make_image(256, 256, "jpeg", color=(30, 200, 30))
    mask_image = Image.new("RGBA", (512, 512), (0, 0, 0, 255))
    mask_image.paste((0, 0, 0, 0), (0, 0, 256, 512))  # left half transparent: edit there
    mask = io.BytesIO()
    mask_image.save(mask, "PNG")
    result = offline_client.images.edit(
        model=MODEL,
        prompt="add a moon",
        image=[("a.png", first, "image/png"), ("b.jpg", second, "image/jpeg")],
        mask=("mask.png", mask.getvalue(), "image/png"),
    )
    edited = decode(result.data[0])
    assert describe(edited)[:3] == ("png", 512, 512)
    with Image.open(io.BytesIO(edited)) as image:
        rgb = image.convert("RGB")
        assert rgb.getpixel((400, 100)) == (200, 30, 30)  # outside the mask: untouched
        assert rgb.getpixel((100, 100)) != (200, 30, 30)  # inside the mask: repainted


def test_edit_with_single_image_part(offline_client: openai.OpenAI) -> None:
    result = offline_client.images.edit(
        model=MODEL, prompt="tint", image=("x.webp", make_image(320, 240, "webp"), "image/webp")
    )
    assert describe(decode(result.data[0]))[:3] == ("png", 320, 240)


def test_edit_with_repeated_image_fields_over_raw_http(offline_gateway: str) -> None:
    files = [
        ("image", ("a.png", make_image(64, 64), "image/png")),
        ("image", ("b.png", make_image(64, 64), "image/png")),
    ]
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        files=files,
        data={"model": MODEL, "prompt": "two", "n": "2", "size": "128x128"},
    )
    assert response.status_code == 200, response.text
    assert [describe(base64.b64decode(i["b64_json"]))[1:3] for i in response.json()["data"]] == [
        (128, 128)
    ] * 2


def test_variations(offline_client: openai.OpenAI) -> None:
    result = offline_client.images.create_variation(
        model=MODEL, image=("in.png", make_image(256, 256), "image/png"), n=2, size="256x256"
    )
    assert [describe(decode(item))[:3] for item in result.data] == [("png", 256, 256)] * 2


def test_models_list(offline_client: openai.OpenAI) -> None:
    assert {model.id for model in offline_client.models.list()} == {MODEL, "gpt-image-1"}


def test_models_retrieve(offline_client: openai.OpenAI) -> None:
    """The SDK's ``models.retrieve`` (GET /v1/models/{id}), which clients use to check a model exists."""
    model = offline_client.models.retrieve(MODEL)
    assert (model.id, model.object, model.owned_by) == (MODEL, "model", "imagegate")
    with pytest.raises(openai.NotFoundError) as missing:
        offline_client.models.retrieve("gpt-image-9")
    assert missing.value.code == "model_not_found" and set(missing.value.body) == {  # type: ignore[arg-type]
        "message",
        "type",
        "param",
        "code",
    }


def test_request_id_is_echoed_or_made(offline_gateway: str) -> None:
    mine = httpx.get(offline_gateway + "/healthz", headers={"x-request-id": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    made = httpx.post(offline_gateway + "/v1/images/generations", json={"model": "nope", "prompt": "x"})
    assert made.headers["x-request-id"].startswith("req_")


def test_health_ready_and_openapi(offline_gateway: str) -> None:
    assert httpx.get(offline_gateway + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(offline_gateway + "/readyz").json()
    assert ready["status"] == "ready" and ready["models"] == 2 and ready["reload_error"] is None
    assert ready["shared_state"] == {"backend": "memory", "healthy": True, "error": None}
    assert ready["image_store"] == {"backend": "local"}
    document = httpx.get(offline_gateway + "/openapi.json").json()
    assert "/v1/images/edits" in document["paths"]
    assert "prompt" in document["components"]["schemas"]["ImageParams"]["properties"]
    assert document["info"]["version"] == importlib.metadata.version("imagegate")  # one version, not two


def assert_error(response: httpx.Response, status: int, param: str | None, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["message"]
    if code is not None:
        assert error["code"] == code
    assert "Traceback" not in response.text
    return error


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"model": "no-such-model", "prompt": "x"}, 404, "model", "model_not_found"),
        ({"model": MODEL}, 400, "prompt", "missing_required_parameter"),
        ({"model": MODEL, "prompt": "x", "n": 11}, 400, "n", None),
        ({"model": MODEL, "prompt": "x", "n": 0}, 400, "n", None),
        ({"model": MODEL, "prompt": "x", "n": "two"}, 400, "n", "invalid_value"),
        ({"model": MODEL, "prompt": "x", "size": "1000x1000"}, 400, "size", "unsupported_value"),
        ({"model": MODEL, "prompt": "x", "size": "big"}, 400, "size", None),
        ({"model": MODEL, "prompt": "x", "quality": "ultra"}, 400, "quality", "unsupported_value"),
        ({"model": MODEL, "prompt": "x", "style": "vivid"}, 400, "style", "unsupported_value"),
        ({"model": MODEL, "prompt": "x", "output_format": "bmp"}, 400, "output_format", "invalid_value"),
        (
            {"model": MODEL, "prompt": "x", "output_compression": 101, "output_format": "jpeg"},
            400,
            "output_compression",
            None,
        ),
        (
            {"model": MODEL, "prompt": "x", "background": "transparent", "output_format": "jpeg"},
            400,
            "background",
            None,
        ),
        ({"model": MODEL, "prompt": "x", "stream": True, "partial_images": 4}, 400, "partial_images", None),
        (
            {"model": MODEL, "prompt": "x", "stream": True, "size": "100x100"},
            400,
            "size",
            "unsupported_value",
        ),
        ({"model": MODEL, "prompt": "x", "nonsense_field": 1}, 400, "nonsense_field", "unknown_parameter"),
        ({"model": MODEL, "prompt": 42}, 400, "prompt", "invalid_value"),
        ({"model": MODEL, "prompt": "x", "seed": "abc"}, 400, "seed", None),
        ({"model": MODEL, "prompt": "x", "seed": [1]}, 400, "seed", None),
    ],
)
def test_bad_generation_requests(
    offline_gateway: str, body: dict, status: int, param: str, code: str | None
) -> None:
    assert_error(httpx.post(offline_gateway + "/v1/images/generations", json=body), status, param, code)


def test_malformed_json(offline_gateway: str) -> None:
    response = httpx.post(
        offline_gateway + "/v1/images/generations",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, None, "invalid_json")
    response = httpx.post(offline_gateway + "/v1/images/generations", json=[1, 2])
    assert_error(response, 400, None, "invalid_json")


def test_unconfigured_account_is_a_clear_503_without_secrets(offline_gateway: str) -> None:
    response = httpx.post(
        offline_gateway + "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "x"}
    )
    error = assert_error(response, 503, None, "provider_not_configured")
    assert "OPENAI_API_KEY" in error["message"]


def test_body_over_limit_is_413(offline_gateway: str) -> None:
    big = b"x" * (9 * 1024 * 1024)
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        files={"image": ("big.png", big, "image/png")},
        data={"model": MODEL, "prompt": "x"},
    )
    assert_error(response, 413, None, "request_too_large")


def test_body_over_limit_without_content_length_is_413(offline_gateway: str) -> None:
    def chunks():  # a chunked body: the limit is enforced while reading
        for _ in range(10):
            yield b"y" * (1024 * 1024)

    response = httpx.post(
        offline_gateway + "/v1/images/generations",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert_error(response, 413, None, "request_too_large")


def test_multipart_without_image(offline_gateway: str) -> None:
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        data={"model": MODEL, "prompt": "x"},
        files={"unused": ("", b"", "application/octet-stream")},
    )
    assert_error(response, 400, "image", "missing_required_parameter")
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        data={"model": MODEL, "prompt": "x"},
        files={"photo": ("p.png", make_image(8, 8), "image/png")},
    )
    assert_error(response, 400, "photo")
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        data={"model": MODEL, "prompt": "x"},
        headers={"content-type": "multipart/form-data; boundary=abc"},
    )
    assert response.status_code == 400


def test_file_that_is_not_an_image(offline_gateway: str) -> None:
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        data={"model": MODEL, "prompt": "x"},
        files={"image": ("notes.png", b"hello, not a png", "image/png")},
    )
    assert_error(response, 400, "image", "invalid_image")


def test_mask_of_the_wrong_size(offline_gateway: str) -> None:
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        data={"model": MODEL, "prompt": "x"},
        files=[
            ("image", ("a.png", make_image(64, 64), "image/png")),
            ("mask", ("m.png", make_image(32, 32, alpha=True), "image/png")),
        ],
    )
    assert_error(response, 400, "mask")


def test_too_many_input_images(offline_gateway: str) -> None:
    files = [("image[]", (f"{i}.png", make_image(16, 16), "image/png")) for i in range(17)]
    response = httpx.post(
        offline_gateway + "/v1/images/edits", data={"model": MODEL, "prompt": "x"}, files=files
    )
    assert_error(response, 400, "image")


def test_unknown_path_and_method(offline_gateway: str) -> None:
    assert_error(httpx.get(offline_gateway + "/v1/nothing"), 404, None, "not_found")
    assert_error(httpx.get(offline_gateway + "/v1/images/generations"), 405, None, "method_not_allowed")


def test_sdk_raises_typed_errors(offline_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        offline_client.images.generate(model="nope", prompt="x")
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        offline_client.images.generate(model=MODEL, prompt="x", size="17x17")
    assert bad.value.param == "size"


def test_json_edit_with_data_url(offline_gateway: str) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(make_image(64, 48)).decode()
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        json={"model": MODEL, "prompt": "x", "images": [{"image_url": data_url}]},
    )
    assert response.status_code == 200, response.text
    assert describe(base64.b64decode(response.json()["data"][0]["b64_json"]))[1:3] == (64, 48)


def test_seed_extra_field_from_json_and_multipart(offline_client: openai.OpenAI) -> None:
    one = offline_client.images.generate(model=MODEL, prompt="a", size="64x64", extra_body={"seed": 7})
    two = offline_client.images.generate(model=MODEL, prompt="b", size="64x64", extra_body={"seed": 7})
    assert one.data[0].b64_json == two.data[0].b64_json  # the seed, not the prompt, decides
    edited = offline_client.images.edit(
        model=MODEL, prompt="x", image=("a.png", make_image(64, 64), "image/png"), extra_body={"seed": "7"}
    )
    assert describe(decode(edited.data[0]))[1:3] == (64, 64)


def test_json_edit_with_broken_data_url(offline_gateway: str) -> None:
    response = httpx.post(
        offline_gateway + "/v1/images/edits",
        json={
            "model": MODEL,
            "prompt": "x",
            "images": [{"image_url": "data:image/png;base64,!!not base64!!"}],
        },
    )
    assert_error(response, 400, "images")
