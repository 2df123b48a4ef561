"""The Stability provider end to end: the official openai SDK → the gateway → the Stability emulator."""

from __future__ import annotations

import base64
import io
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from PIL import Image

from tests.emulators.stability_dialect import API_KEY, FAILURES, StabilityEmulator
from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image
from tests.support.servers import serve_aiohttp

ROUTES = """
server:
  retry: {{max_attempts: 1}}  # translation tests: the gateway's retries are tested in test_resilience_*
providers:
  stability: {{plugin: stability, api_key: "${{STABILITY_API_KEY}}", base_url: "{base_url}"}}
models:
  sd3.5-large: [{{provider: stability}}]
  stable-image-core: [{{provider: stability, upstream_model: core}}]
  stable-image-ultra: [{{provider: stability, upstream_model: ultra}}]
  anime: [{{provider: stability, upstream_model: sd3.5-medium, params: {{style_preset: anime}}}}]
  anime-by-default: [{{provider: stability, upstream_model: sd3.5-medium, defaults: {{style_preset: anime}}}}]
  erase: [{{provider: stability, upstream_model: core, edit: erase}}]
  outpaint: [{{provider: stability, upstream_model: core, edit: outpaint}}]
  remove-background: [{{provider: stability, upstream_model: core, edit: remove-background}}]
"""


@pytest.fixture
def emulator() -> Iterator[tuple[StabilityEmulator, str]]:
    emulator = StabilityEmulator()
    with serve_aiohttp(emulator.app) as base_url:
        yield emulator, base_url


@pytest.fixture
def upstream(emulator: tuple[StabilityEmulator, str]) -> StabilityEmulator:
    return emulator[0]


@pytest.fixture
def client(emulator: tuple[StabilityEmulator, str], tmp_path: Path) -> Iterator[openai.OpenAI]:
    routes = ROUTES.format(base_url=emulator[1])
    with serve_gateway(routes, tmp_path, environ={"STABILITY_API_KEY": API_KEY}) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def decoded(b64: str | None) -> tuple[str, int, int, str]:
    assert b64 is not None
    return describe(base64.b64decode(b64))


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_n3_at_1536x1024_gives_three_3_2_images_each_with_its_seed(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    result = client.images.generate(model="sd3.5-large", prompt="a lighthouse", n=3, size="1536x1024")
    assert [decoded(item.b64_json)[:3] for item in result.data or []] == [("png", 1216, 832)] * 3
    assert result.size == "1216x832"  # what was produced, not what was asked
    assert len(upstream.received) == 3  # one image per Stability call, fanned out by the core
    for received in upstream.received:
        assert received.path == "/v2beta/stable-image/generate/sd3"
        assert received.content_type == "multipart/form-data"
        assert received.headers["Authorization"] == f"Bearer {API_KEY}"
        assert received.headers["Accept"] == "image/*"
        assert received.fields == {"model": "sd3.5-large", "prompt": "a lighthouse", "aspect_ratio": "3:2"}
    seeds = [item.model_dump()["seed"] for item in result.data or []]
    assert len(set(seeds)) == 3


def test_end_user_id_goes_in_stabilitys_header(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    result = client.images.generate(model="stable-image-core", prompt="a fox", safety_identifier="hash-3")
    assert result.safety_identifier == "hash-3"
    assert upstream.received[0].headers["stability-client-user-id"] == "hash-3"
    client.images.generate(model="stable-image-core", prompt="a fox", user="user-4")
    assert upstream.received[1].headers["stability-client-user-id"] == "user-4"


def test_openai_square_and_portrait_sizes_map_to_ratios(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    square = client.images.generate(model="stable-image-core", prompt="a fox", size="1024x1024")
    portrait = client.images.generate(model="stable-image-ultra", prompt="a fox", size="1024x1792")
    assert decoded((square.data or [])[0].b64_json)[1:3] == (1024, 1024)
    assert decoded((portrait.data or [])[0].b64_json)[1:3] == (768, 1344)
    assert [r.path.rsplit("/", 1)[1] for r in upstream.received] == ["core", "ultra"]
    assert [r.fields["aspect_ratio"] for r in upstream.received] == ["1:1", "9:16"]


def test_url_mode_serves_the_image_from_the_gateway(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model="sd3.5-large", prompt="a lighthouse", size="1536x1024", response_format="url"
    )
    url = (result.data or [])[0].url
    assert url is not None
    with urllib.request.urlopen(url) as response:
        assert describe(response.read())[:3] == ("png", 1216, 832)


def test_webp_is_asked_of_stability_natively(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    result = client.images.generate(model="sd3.5-large", prompt="a lighthouse", output_format="webp")
    assert decoded((result.data or [])[0].b64_json)[:3] == ("webp", 1024, 1024)
    assert result.output_format == "webp"
    assert upstream.received[0].fields["output_format"] == "webp"


def test_output_compression_is_done_by_the_core(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    result = client.images.generate(
        model="sd3.5-large", prompt="a lighthouse", output_format="jpeg", output_compression=40
    )
    assert decoded((result.data or [])[0].b64_json)[0] == "jpeg"
    assert upstream.received[0].fields["output_format"] == "jpeg"
    assert "output_compression" not in upstream.received[0].fields


def test_stability_parameters_as_extra_body(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    extra = {"negative_prompt": "fog", "seed": 41, "style_preset": "cinematic", "cfg_scale": 4.5}
    result = client.images.generate(model="sd3.5-large", prompt="a lighthouse", n=2, extra_body=extra)
    fields = [received.fields for received in upstream.received]
    assert all(f["negative_prompt"] == "fog" and f["style_preset"] == "cinematic" for f in fields)
    assert all(f["cfg_scale"] == "4.5" for f in fields)
    assert sorted(f["seed"] for f in fields) == ["41", "42"]  # a fixed seed advances per fanned-out call
    assert sorted(item.model_dump()["seed"] for item in result.data or []) == [41, 42]


def test_route_fixed_parameters_are_sent(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    client.images.generate(model="anime", prompt="a lighthouse")
    assert upstream.received[0].fields["style_preset"] == "anime"
    assert upstream.received[0].fields["model"] == "sd3.5-medium"


def test_a_client_value_against_a_fixed_route_parameter_is_a_400_naming_it(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="anime", prompt="a fox", extra_body={"style_preset": "photographic"})
    assert refused.value.body["param"] == "style_preset"  # type: ignore[index]
    assert refused.value.code == "fixed_by_route" and upstream.received == []
    client.images.generate(
        model="anime", prompt="a fox", extra_body={"style_preset": "anime"}
    )  # the same: fine
    assert upstream.received[0].fields["style_preset"] == "anime"


def test_a_route_default_gives_way_to_the_clients_value(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    client.images.generate(model="anime-by-default", prompt="a fox")
    client.images.generate(
        model="anime-by-default", prompt="a fox", extra_body={"style_preset": "photographic"}
    )
    assert [r.fields["style_preset"] for r in upstream.received] == ["anime", "photographic"]


def test_unknown_extra_is_refused_naming_it(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="sd3.5-large", prompt="a lighthouse", extra_body={"steps": 30})
    assert caught.value.param == "steps"  # type: ignore[attr-defined]
    assert "steps" in caught.value.message
    assert upstream.received == []


def test_cfg_scale_is_not_a_core_parameter(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="stable-image-core", prompt="a fox", extra_body={"cfg_scale": 3})
    assert caught.value.param == "cfg_scale"  # type: ignore[attr-defined]
    assert upstream.received == []


@pytest.mark.parametrize(
    ("extra", "param"), [({"style_preset": "watercolour"}, "style_preset"), ({"seed": -5}, "seed")]
)
def test_bad_extra_values_are_refused_before_any_call(
    client: openai.OpenAI, upstream: StabilityEmulator, extra: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="sd3.5-large", prompt="a lighthouse", extra_body=extra)
    assert caught.value.param == param  # type: ignore[attr-defined]
    assert upstream.received == []


def test_filtered_result_is_a_content_policy_violation(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    upstream.content_filtered = True
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="sd3.5-large", prompt="something unsafe")
    assert caught.value.code == "content_policy_violation"
    assert len(upstream.received) == 1


def test_inpaint_converts_the_openai_mask_to_white_is_edit(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    image = make_image(512, 384)
    mask = Image.new("RGBA", (512, 384), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (100, 100, 200, 200))  # transparent: the area to edit, in OpenAI's convention
    result = client.images.edit(
        model="sd3.5-large",
        image=("photo.png", image, "image/png"),
        mask=("mask.png", png(mask), "image/png"),
        prompt="a red door",
        extra_body={"grow_mask": 8},
    )
    assert decoded((result.data or [])[0].b64_json)[:3] == ("png", 512, 384)
    received = upstream.received[0]
    assert received.path == "/v2beta/stable-image/edit/inpaint"
    assert received.fields == {"prompt": "a red door", "grow_mask": "8"}
    assert received.files["image"].data == image  # the upload, passed through untouched
    with Image.open(io.BytesIO(received.files["mask"].data)) as sent:
        assert sent.mode == "L"
        assert sent.getpixel((150, 150)) == 255  # white: edit
        assert sent.getpixel((10, 10)) == 0  # black: keep


def test_edit_without_mask_is_image_to_image(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    image = make_image(640, 448)
    result = client.images.edit(
        model="sd3.5-large",
        image=("photo.png", image, "image/png"),
        prompt="in winter",
        size="1536x1024",  # the input's shape (about 3:2); the output keeps the input's dimensions
        extra_body={"strength": 0.35},
    )
    assert decoded((result.data or [])[0].b64_json)[1:3] == (640, 448)  # follows the input image
    assert result.size == "640x448"
    received = upstream.received[0]
    assert received.path == "/v2beta/stable-image/generate/sd3"
    assert received.fields == {
        "model": "sd3.5-large",
        "mode": "image-to-image",
        "prompt": "in winter",
        "strength": "0.35",
    }


def test_edit_size_of_another_shape_is_refused(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="sd3.5-large",
            image=("p.png", make_image(640, 448), "image/png"),
            prompt="x",
            size="1024x1536",
            extra_body={"strength": 0.5},
        )
    assert caught.value.param == "size"  # type: ignore[attr-defined]
    assert upstream.received == []


def test_image_to_image_without_strength_is_refused(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(model="sd3.5-large", image=("p.png", make_image(64, 64), "image/png"), prompt="x")
    assert caught.value.param == "strength"  # type: ignore[attr-defined]
    assert upstream.received == []


def test_erase_route_uses_the_erase_endpoint(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    mask = Image.new("RGBA", (128, 128), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 32))
    client.images.edit(
        model="erase",
        image=("p.png", make_image(128, 128), "image/png"),
        mask=("m.png", png(mask), "image/png"),
        prompt="remove it",
    )
    received = upstream.received[0]
    assert received.path == "/v2beta/stable-image/edit/erase"
    assert received.fields == {}  # erase takes no prompt
    assert set(received.files) == {"image", "mask"}


def test_outpaint_route_takes_its_sides_as_extras(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    result = client.images.edit(
        model="outpaint",
        image=("p.png", make_image(256, 256), "image/png"),
        prompt="more sky",
        extra_body={"up": 128, "creativity": 0.4},
    )
    assert decoded((result.data or [])[0].b64_json)[1:3] == (256, 384)
    assert upstream.received[0].fields == {"prompt": "more sky", "up": "128", "creativity": "0.4"}


def test_remove_background_gives_transparency(client: openai.OpenAI, upstream: StabilityEmulator) -> None:
    result = client.images.edit(
        model="remove-background", image=("p.png", make_image(96, 64), "image/png"), prompt="-"
    )
    assert decoded((result.data or [])[0].b64_json) == ("png", 96, 64, "RGBA")
    assert upstream.received[0].fields == {}


@pytest.mark.parametrize(
    ("failure", "error_type", "status", "code"),
    [
        ("bad_request", openai.BadRequestError, 400, "upstream_rejected"),
        ("unauthorized", openai.InternalServerError, 502, "upstream_auth_failed"),
        ("payment_required", openai.InternalServerError, 502, "upstream_payment"),
        ("content_moderation", openai.BadRequestError, 400, "content_policy_violation"),
        ("rate_limit_exceeded", openai.RateLimitError, 429, "rate_limit_exceeded"),
        ("internal_error", openai.InternalServerError, 502, "upstream_unavailable"),
    ],
)
def test_stability_error_shapes(
    client: openai.OpenAI,
    upstream: StabilityEmulator,
    failure: str,
    error_type: type[openai.APIStatusError],
    status: int,
    code: str,
) -> None:
    upstream.fail_with = failure
    with pytest.raises(error_type) as caught:
        client.images.generate(model="sd3.5-large", prompt="a lighthouse")
    error = caught.value
    assert error.status_code == status
    assert error.code == code  # type: ignore[attr-defined]
    if failure in ("bad_request", "content_moderation"):
        assert FAILURES[failure][1]["errors"][0] in error.message  # Stability's own words reach the client
    if failure == "rate_limit_exceeded":
        assert error.response.headers["retry-after"] == "60"
    if failure in ("unauthorized", "payment_required"):
        assert API_KEY not in error.message


def test_missing_key_is_an_operator_error_without_upstream_call(
    emulator: tuple[StabilityEmulator, str], tmp_path: Path
) -> None:
    with serve_gateway(ROUTES.format(base_url=emulator[1]), tmp_path, environ={}) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            client.images.generate(model="sd3.5-large", prompt="a lighthouse")
    assert caught.value.status_code == 503
    assert "STABILITY_API_KEY" in caught.value.message or "api_key" in caught.value.message
    assert emulator[0].received == []


def test_a_200_whose_body_is_not_an_image_is_an_upstream_bad_image_not_a_200(
    client: openai.OpenAI, upstream: StabilityEmulator
) -> None:
    upstream.not_an_image = 1
    with pytest.raises(openai.APIStatusError) as failed:
        client.images.generate(model="sd3.5-large", prompt="a lighthouse")
    assert failed.value.status_code == 502
    assert failed.value.body["code"] == "upstream_bad_image"  # type: ignore[index]
    result = client.images.generate(model="sd3.5-large", prompt="a lighthouse", response_format="url")
    assert result.data and result.data[0].url  # the next answer is an image again, hosted as asked
