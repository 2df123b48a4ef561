"""OpenAI dialect, gateway → upstream: planned calls become the JSON and multipart bodies OpenAI documents."""

from __future__ import annotations

import io
from typing import Any

import pytest
from imagegate import FilePart, UpstreamCall
from imagegate.request import InputImage
from imagegate_openai import OpenAIAccount, OpenAIProvider
from imagegate_openai.dialect import json_body, multipart_form

ACCOUNT = OpenAIAccount(api_key="sk-test", organization="org-1", project="proj-1")


def upload(filename: str, content_type: str, fmt: str = "png", size: int = 64) -> InputImage:
    return InputImage(
        file=io.BytesIO(b"\x89PNG fake"),
        filename=filename,
        content_type=content_type,
        format=fmt,
        width=size,
        height=size,
        has_alpha=False,
    )


def make_call(**overrides: Any) -> UpstreamCall:
    fields: dict[str, Any] = {
        "operation": "generate",
        "upstream_model": "gpt-image-1",
        "account": ACCOUNT,
        "options": None,
        "prompt": "a red fox",
    }
    fields.update(overrides)
    return UpstreamCall(**fields)


def test_generation_body_has_only_planned_fields() -> None:
    call = make_call(size="1536x1024", quality="high", output_format="webp", output_compression=80, n=3)
    assert json_body(call) == {
        "model": "gpt-image-1",
        "prompt": "a red fox",
        "n": 3,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "webp",
        "output_compression": 80,
    }


def test_generation_body_never_carries_none() -> None:
    body = json_body(make_call(params={"safety_identifier": None}))
    assert None not in body.values()
    assert "response_format" not in body


def test_dall_e_3_body() -> None:
    call = make_call(
        upstream_model="dall-e-3", size="1792x1024", quality="hd", style="natural", response_format="b64_json"
    )
    assert json_body(call) == {
        "model": "dall-e-3",
        "prompt": "a red fox",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "response_format": "b64_json",
    }


def test_params_pass_through_but_planned_fields_win() -> None:
    call = make_call(
        quality="low",
        params={"safety_identifier": "u-1", "quality": "high", "model": "other", "moderation": "low"},
    )
    body = json_body(call)
    assert body["safety_identifier"] == "u-1"
    assert body["moderation"] == "low"  # a route default when the client left it unset
    assert body["quality"] == "low"  # the planned value wins
    assert body["model"] == "gpt-image-1"  # the route's model, never a param


def test_body_without_model_for_deployment_urls() -> None:
    assert "model" not in json_body(make_call(), include_model=False)
    assert all(
        name != "model" for name, _ in multipart_form(make_call(operation="edit"), include_model=False)
    )


def text_fields(form: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in form if isinstance(value, str)]


def file_fields(form: list[tuple[str, Any]]) -> list[tuple[str, FilePart]]:
    return [(name, value) for name, value in form if isinstance(value, FilePart)]


def test_edit_with_several_images_sends_repeated_image_brackets_and_mask() -> None:
    first, second = upload("cat.png", "image/png"), upload("dog.webp", "image/webp", "webp")
    mask = upload("mask.png", "image/png")
    call = make_call(
        operation="edit", images=[first, second], mask=mask, n=2, size="1024x1024", input_fidelity="high"
    )
    form = multipart_form(call)
    assert text_fields(form) == [
        ("model", "gpt-image-1"),
        ("prompt", "a red fox"),
        ("n", "2"),
        ("size", "1024x1024"),
        ("input_fidelity", "high"),
    ]
    files = file_fields(form)
    assert [name for name, _ in files] == ["image[]", "image[]", "mask"]
    assert [(part.filename, part.content_type) for _, part in files] == [
        ("cat.png", "image/png"),
        ("dog.webp", "image/webp"),
        ("mask.png", "image/png"),
    ]
    assert files[0][1].content is first  # the upload itself, streamed by the core, not a copy
    assert files[2][1].content is mask


def test_edit_with_one_image_sends_part_image() -> None:
    form = multipart_form(make_call(operation="edit", images=[upload("in.jpg", "image/jpeg", "jpeg")]))
    assert [name for name, _ in file_fields(form)] == ["image"]


def test_nameless_octet_stream_upload_gets_a_name_and_image_type() -> None:
    form = multipart_form(
        make_call(operation="edit", images=[upload("", "application/octet-stream", "jpeg")])
    )
    (_, part), *_ = file_fields(form)
    assert (part.filename, part.content_type) == ("image.jpg", "image/jpeg")


def test_multipart_values_are_written_as_the_sdk_writes_them() -> None:
    call = make_call(
        operation="edit",
        output_compression=0,
        params={"stream": False, "partial_images": 2, "svg": {"model": "m"}, "tags": ["a", "b"]},
    )
    fields = text_fields(multipart_form(call))
    assert ("output_compression", "0") in fields
    assert ("stream", "false") in fields
    assert ("partial_images", "2") in fields
    assert ("svg[model]", "m") in fields
    assert [value for name, value in fields if name == "tags[]"] == ["a", "b"]


def test_file_names_in_params_are_never_sent() -> None:
    form = multipart_form(make_call(operation="edit", params={"image": "x", "image[]": "y", "mask": "z"}))
    assert not [name for name, _ in form if name in ("image", "image[]", "mask")]


def test_variation_form() -> None:
    image = upload("square.png", "image/png")
    call = make_call(
        operation="variation",
        upstream_model="dall-e-2",
        prompt=None,
        n=2,
        size="512x512",
        response_format="url",
        images=[image],
    )
    form = multipart_form(call)
    assert text_fields(form) == [
        ("model", "dall-e-2"),
        ("n", "2"),
        ("size", "512x512"),
        ("response_format", "url"),
    ]
    assert [(name, part.content) for name, part in file_fields(form)] == [("image", image)]


@pytest.mark.parametrize(
    ("operation", "path"),
    [("generate", "/images/generations"), ("edit", "/images/edits"), ("variation", "/images/variations")],
)
def test_build_targets_the_operation_endpoint(operation: str, path: str) -> None:
    request = OpenAIProvider().build(make_call(operation=operation, images=[upload("a.png", "image/png")]))
    assert request.method == "POST"
    assert request.url == "https://api.openai.com/v1" + path
    assert request.headers == {
        "Authorization": "Bearer sk-test",
        "OpenAI-Organization": "org-1",
        "OpenAI-Project": "proj-1",
    }
    if operation == "generate":
        assert request.json is not None and request.form is None
    else:
        assert request.form is not None and request.json is None


def test_build_against_a_compatible_base_url() -> None:
    account = OpenAIAccount(api_key="k", base_url="http://127.0.0.1:9000/v1/")
    request = OpenAIProvider().build(make_call(account=account))
    assert request.url == "http://127.0.0.1:9000/v1/images/generations"
    assert request.headers == {"Authorization": "Bearer k"}
