"""UpstreamCall → Stability's multipart request (fields, headers, endpoint), from literal expectations."""

from __future__ import annotations

import io
from typing import Any

import pytest
from imagegate import FilePart, UpstreamCall
from imagegate.config import RoutesError, parse_routes
from imagegate.errors import InvalidRequest
from imagegate.request import InputImage
from imagegate_stability import StabilityProvider
from imagegate_stability.config import StabilityAccount, StabilityTarget
from PIL import Image

from tests.support.images import make_image

PROVIDER = StabilityProvider()
ACCOUNT = StabilityAccount(api_key="sk-test", base_url="https://stability.example/")


def upload(data: bytes, filename: str = "image.png") -> InputImage:
    with Image.open(io.BytesIO(data)) as image:
        width, height, fmt = image.width, image.height, (image.format or "").lower()
        alpha = image.has_transparency_data
    return InputImage(io.BytesIO(data), filename, f"image/{fmt}", fmt, width, height, alpha)


def make_call(
    operation: str = "generate",
    model: str = "sd3.5-large",
    *,
    edit: str | None = None,
    params: dict[str, Any] | None = None,
    **fields: Any,
) -> UpstreamCall:
    values: dict[str, Any] = {
        "prompt": "a lighthouse on a cliff",
    }
    values.update(fields)
    return UpstreamCall(
        operation=operation,
        upstream_model=model,
        account=ACCOUNT,  # type: ignore[arg-type]
        options=StabilityTarget(edit=edit),
        params=params or {},
        **values,
    )


def text_fields(form: list[tuple[str, Any]]) -> dict[str, str]:
    return {name: value for name, value in form if isinstance(value, str)}


def file_parts(form: list[tuple[str, Any]]) -> dict[str, FilePart]:
    return {name: value for name, value in form if isinstance(value, FilePart)}


def test_sd3_generation_is_multipart_with_model_aspect_ratio_and_format() -> None:
    request = PROVIDER.build(make_call(aspect_ratio="3:2", output_format="webp", user="user-7"))
    assert request.method == "POST"
    assert request.url == "https://stability.example/v2beta/stable-image/generate/sd3"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.headers["Accept"] == "image/*"
    assert request.headers["stability-client-user-id"] == "user-7"
    assert request.json is None
    assert request.form == [
        ("model", "sd3.5-large"),
        ("prompt", "a lighthouse on a cliff"),
        ("aspect_ratio", "3:2"),
        ("output_format", "webp"),
    ]


@pytest.mark.parametrize(("model", "path"), [("ultra", "ultra"), ("core", "core")])
def test_ultra_and_core_have_their_own_endpoints_and_no_model_field(model: str, path: str) -> None:
    request = PROVIDER.build(make_call(model=model))
    assert request.url.endswith(f"/v2beta/stable-image/generate/{path}")
    assert request.form == [("prompt", "a lighthouse on a cliff")]


def test_unset_fields_are_not_sent() -> None:
    form = PROVIDER.build(make_call()).form
    assert form is not None
    assert {name for name, _ in form} == {"model", "prompt"}


def test_extra_params_are_checked_and_sent_as_text() -> None:
    params = {"negative_prompt": "blurry", "seed": 42, "style_preset": "anime", "cfg_scale": 4.5}
    fields = text_fields(PROVIDER.build(make_call(params=params)).form or [])
    assert fields["negative_prompt"] == "blurry"
    assert fields["seed"] == "42"
    assert fields["style_preset"] == "anime"
    assert fields["cfg_scale"] == "4.5"


def test_multipart_strings_are_accepted_as_numbers() -> None:
    fields = text_fields(PROVIDER.build(make_call(params={"seed": "7", "cfg_scale": "5"})).form or [])
    assert (fields["seed"], fields["cfg_scale"]) == ("7", "5")


def test_fanned_out_calls_advance_a_fixed_seed_so_images_differ() -> None:
    seeds = [
        text_fields(PROVIDER.build(make_call(params={"seed": 41}, index=i)).form or [])["seed"]
        for i in range(3)
    ]
    assert seeds == ["41", "42", "43"]
    top = text_fields(PROVIDER.build(make_call(params={"seed": 4294967294}, index=1)).form or [])["seed"]
    assert top == "1"
    random = text_fields(PROVIDER.build(make_call(params={"seed": 0}, index=2)).form or [])["seed"]
    assert random == "0"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 4294967295}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"style_preset": "watercolour"}, "style_preset"),
        ({"cfg_scale": 11}, "cfg_scale"),
        ({"cfg_scale": "lots"}, "cfg_scale"),
        ({"negative_prompt": ""}, "negative_prompt"),
    ],
)
def test_bad_values_are_the_clients_400_naming_the_param(params: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        PROVIDER.build(make_call(params=params))
    assert caught.value.param == param
    assert caught.value.status == 400


def test_param_for_the_targets_other_endpoint_is_left_out() -> None:
    # strength serves this target's image-to-image edits; a route may fix it for all calls.
    form = PROVIDER.build(make_call(params={"strength": 0.5})).form or []
    assert "strength" not in text_fields(form)


def test_route_param_no_endpoint_takes_is_a_load_error() -> None:
    routes = "providers: {s: {plugin: stability, api_key: k}}\nmodels: {m: [{provider: s, upstream_model: sd3.5-large, params: {stregth: 0.5}}]}"
    with pytest.raises(RoutesError) as error:
        parse_routes(routes, "routes.yaml", {"stability": PROVIDER}, {})
    assert error.value.path == "models.m.targets[0].params.stregth"


def test_edit_without_mask_is_sd3_image_to_image_without_aspect_ratio() -> None:
    image = upload(make_image(640, 480))
    call = make_call("edit", images=[image], aspect_ratio="5:4", params={"strength": 0.6, "cfg_scale": 3})
    request = PROVIDER.build(call)
    assert request.url.endswith("/v2beta/stable-image/generate/sd3")
    fields = text_fields(request.form or [])
    assert fields == {
        "model": "sd3.5-large",
        "mode": "image-to-image",
        "prompt": "a lighthouse on a cliff",
        "strength": "0.6",
        "cfg_scale": "3",
    }
    part = file_parts(request.form or [])["image"]
    assert part.content is image  # the upload itself, streamed by the core, not a copy
    assert (part.filename, part.content_type) == ("image.png", "image/png")


def test_image_to_image_needs_strength() -> None:
    with pytest.raises(InvalidRequest) as caught:
        PROVIDER.build(make_call("edit", images=[upload(make_image(64, 64))]))
    assert caught.value.param == "strength"


def test_ultra_image_to_image_sends_image_and_strength_without_mode() -> None:
    call = make_call("edit", "ultra", images=[upload(make_image(64, 64))], params={"strength": 1})
    request = PROVIDER.build(call)
    assert request.url.endswith("/generate/ultra")
    assert text_fields(request.form or []) == {"prompt": "a lighthouse on a cliff", "strength": "1"}


def test_core_edit_without_mask_is_refused_naming_mask() -> None:
    with pytest.raises(InvalidRequest) as caught:
        PROVIDER.build(make_call("edit", "core", images=[upload(make_image(64, 64))]))
    assert caught.value.param == "mask"


def openai_mask(width: int, height: int, hole: tuple[int, int, int, int]) -> bytes:
    """OpenAI's convention: opaque everywhere except a fully transparent rectangle, the area to edit."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), hole)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def test_edit_with_mask_is_inpaint_with_a_white_is_edit_grayscale_mask() -> None:
    image = upload(make_image(64, 48))
    call = make_call(
        "edit",
        images=[image],
        mask=upload(openai_mask(64, 48, (8, 8, 24, 24)), "mask.png"),
        params={"grow_mask": 10, "cfg_scale": 3, "seed": 5},
        output_format="jpeg",
    )
    request = PROVIDER.build(call)
    assert request.url.endswith("/v2beta/stable-image/edit/inpaint")
    assert text_fields(request.form or []) == {
        "prompt": "a lighthouse on a cliff",
        "output_format": "jpeg",
        "grow_mask": "10",
        "seed": "5",
    }  # no cfg_scale, no model
    mask_part = file_parts(request.form or [])["mask"]
    assert mask_part.content_type == "image/png"
    assert isinstance(mask_part.content, bytes)
    with Image.open(io.BytesIO(mask_part.content)) as mask:
        assert mask.mode == "L"
        assert mask.size == (64, 48)
        assert mask.getpixel((10, 10)) == 255  # transparent in OpenAI's mask → white, edited
        assert mask.getpixel((40, 40)) == 0  # opaque → black, kept


def test_mask_without_alpha_is_taken_as_white_is_edit() -> None:
    gray = Image.new("L", (32, 32), 0)
    gray.paste(255, (0, 0, 16, 16))
    out = io.BytesIO()
    gray.save(out, format="PNG")
    call = make_call("edit", images=[upload(make_image(32, 32))], mask=upload(out.getvalue()))
    mask_part = file_parts(PROVIDER.build(call).form or [])["mask"]
    with Image.open(io.BytesIO(mask_part.content)) as mask:  # type: ignore[arg-type]
        assert (mask.getpixel((4, 4)), mask.getpixel((20, 20))) == (255, 0)


def test_mask_of_another_size_is_refused() -> None:
    call = make_call(
        "edit", images=[upload(make_image(32, 32))], mask=upload(openai_mask(16, 16, (0, 0, 4, 4)))
    )
    with pytest.raises(InvalidRequest) as caught:
        PROVIDER.build(call)
    assert caught.value.param == "mask"


def test_erase_sends_no_prompt_and_keeps_the_mask() -> None:
    call = make_call(
        "edit",
        "core",
        edit="erase",
        images=[upload(make_image(32, 32))],
        mask=upload(openai_mask(32, 32, (0, 0, 8, 8))),
        params={"grow_mask": 20},
    )
    request = PROVIDER.build(call)
    assert request.url.endswith("/v2beta/stable-image/edit/erase")
    assert text_fields(request.form or []) == {"grow_mask": "20"}
    assert set(file_parts(request.form or [])) == {"image", "mask"}


def test_erase_grow_mask_range_is_smaller_than_inpaints() -> None:
    call = make_call(
        "edit", "core", edit="erase", images=[upload(make_image(32, 32))], params={"grow_mask": 50}
    )
    with pytest.raises(InvalidRequest, match="between 0 and 20"):
        PROVIDER.build(call)


def test_outpaint_sends_its_sides_and_needs_one() -> None:
    image = upload(make_image(32, 32))
    request = PROVIDER.build(
        make_call("edit", "core", edit="outpaint", images=[image], params={"left": 200, "creativity": 0.3})
    )
    assert request.url.endswith("/edit/outpaint")
    assert text_fields(request.form or []) == {
        "prompt": "a lighthouse on a cliff",
        "left": "200",
        "creativity": "0.3",
    }
    with pytest.raises(InvalidRequest) as caught:
        PROVIDER.build(make_call("edit", "core", edit="outpaint", images=[image], params={"up": 0}))
    assert caught.value.param == "left"


def test_outpaint_prompt_is_optional() -> None:
    call = make_call(
        "edit", "core", edit="outpaint", images=[upload(make_image(32, 32))], prompt=None, params={"down": 64}
    )
    assert "prompt" not in text_fields(PROVIDER.build(call).form or [])


@pytest.mark.parametrize(
    ("edit", "param"), [("search-and-replace", "search_prompt"), ("search-and-recolor", "select_prompt")]
)
def test_search_endpoints_need_their_search_prompt(edit: str, param: str) -> None:
    image = upload(make_image(32, 32))
    with pytest.raises(InvalidRequest) as caught:
        PROVIDER.build(make_call("edit", "core", edit=edit, images=[image]))
    assert caught.value.param == param
    request = PROVIDER.build(make_call("edit", "core", edit=edit, images=[image], params={param: "the cat"}))
    assert request.url.endswith(f"/edit/{edit}")
    assert text_fields(request.form or [])[param] == "the cat"


def test_remove_background_sends_only_image_and_format() -> None:
    call = make_call(
        "edit", "core", edit="remove-background", images=[upload(make_image(32, 32))], output_format="webp"
    )
    request = PROVIDER.build(call)
    assert request.url.endswith("/edit/remove-background")
    assert text_fields(request.form or []) == {"output_format": "webp"}


def test_edit_size_of_another_shape_than_the_input_is_refused() -> None:
    call = make_call(
        "edit", images=[upload(make_image(640, 480))], aspect_ratio="16:9", params={"strength": 1}
    )
    with pytest.raises(InvalidRequest) as caught:
        PROVIDER.build(call)
    assert caught.value.param == "size"
    assert "640x480" in caught.value.message
