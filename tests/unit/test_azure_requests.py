"""Azure provider, gateway → upstream: URL forms, api-version, auth headers, and the OpenAI body without or
with ``model`` (deployment URLs never carry it; v1 URLs name the deployment)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from imagegate import FilePart, UpstreamCall, UpstreamRequest
from imagegate.errors import UnsupportedValue
from imagegate.request import InputImage
from imagegate_azure import AzureAccount, AzureProvider, AzureTarget

ENDPOINT = "https://contoso.openai.azure.com"
KEY_ACCOUNT = AzureAccount(endpoint=ENDPOINT, api_version="2025-04-01-preview", api_key="azure-key")
TARGET = AzureTarget(deployment="image-prod", model="gpt-image-1")


def upload(filename: str, fmt: str = "png", size: int = 64) -> InputImage:
    return InputImage(
        file=io.BytesIO(b"\x89PNG fake"),
        filename=filename,
        content_type=f"image/{fmt}",
        format=fmt,
        width=size,
        height=size,
        has_alpha=fmt == "png",
    )


def make_call(**overrides: Any) -> UpstreamCall:
    fields: dict[str, Any] = {
        "operation": "generate",
        "upstream_model": "gpt-image-1",
        "account": KEY_ACCOUNT,
        "options": TARGET,
        "prompt": "a lighthouse at dusk",
    }
    fields.update(overrides)
    return UpstreamCall(**fields)


def build(**overrides: Any) -> UpstreamRequest:
    return AzureProvider().build(make_call(**overrides))


def test_deployment_url_generation_has_api_version_and_no_model() -> None:
    request = build(size="1536x1024", quality="high", output_format="jpeg", output_compression=70, n=2)
    assert request.url == f"{ENDPOINT}/openai/deployments/image-prod/images/generations"
    assert request.query == {"api-version": "2025-04-01-preview"}
    assert request.headers == {"api-key": "azure-key"}
    assert request.json == {
        "prompt": "a lighthouse at dusk",
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "jpeg",
        "output_compression": 70,
    }
    assert request.form is None


def test_route_params_are_sent_but_never_a_model() -> None:
    request = build(params={"model": "gpt-image-1", "partial_images": 0})
    assert request.json is not None
    assert "model" not in request.json
    assert request.json["partial_images"] == 0


def test_v1_url_names_the_deployment_as_model() -> None:
    account = AzureAccount(endpoint=ENDPOINT + "/", url_form="v1", api_key="azure-key")
    request = build(account=account, background="transparent")
    assert request.url == f"{ENDPOINT}/openai/v1/images/generations"
    assert request.query is None  # the v1 API needs no api-version
    assert request.json == {
        "model": "image-prod",
        "prompt": "a lighthouse at dusk",
        "n": 1,
        "background": "transparent",
    }


def test_v1_url_keeps_an_api_version_when_one_is_configured() -> None:
    account = AzureAccount(endpoint=ENDPOINT, url_form="v1", api_version="preview", api_key="k")
    assert build(account=account).query == {"api-version": "preview"}


def test_deployment_names_are_escaped_in_the_path() -> None:
    request = build(options=AzureTarget(deployment="team a/images"))
    assert request.url == f"{ENDPOINT}/openai/deployments/team%20a%2Fimages/images/generations"


def test_dall_e_3_generation() -> None:
    request = build(
        upstream_model="dall-e-3",
        options=AzureTarget(deployment="dalle3"),
        size="1792x1024",
        quality="hd",
        style="vivid",
        response_format="b64_json",
    )
    assert request.url == f"{ENDPOINT}/openai/deployments/dalle3/images/generations"
    assert request.json == {
        "prompt": "a lighthouse at dusk",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "vivid",
        "response_format": "b64_json",
    }


def test_edit_is_multipart_with_several_images_and_a_mask_and_no_model() -> None:
    images = [upload("a.png"), upload("b.jpg", "jpeg")]
    mask = upload("mask.png")
    request = build(operation="edit", images=images, mask=mask, size="1024x1024", n=2, input_fidelity="high")
    assert request.url == f"{ENDPOINT}/openai/deployments/image-prod/images/edits"
    assert request.query == {"api-version": "2025-04-01-preview"}
    assert request.json is None
    assert request.form is not None
    text = [(name, value) for name, value in request.form if isinstance(value, str)]
    assert text == [
        ("prompt", "a lighthouse at dusk"),
        ("n", "2"),
        ("size", "1024x1024"),
        ("input_fidelity", "high"),
    ]
    files = [(name, value) for name, value in request.form if isinstance(value, FilePart)]
    assert [(name, part.filename, part.content_type) for name, part in files] == [
        ("image[]", "a.png", "image/png"),
        ("image[]", "b.jpg", "image/jpeg"),
        ("mask", "mask.png", "image/png"),
    ]
    assert files[0][1].content is images[0]  # the upload itself, streamed by the core, not a copy


def test_v1_edit_sends_the_deployment_as_model_field() -> None:
    account = AzureAccount(endpoint=ENDPOINT, url_form="v1", api_key="k")
    request = build(account=account, operation="edit", images=[upload("a.png")])
    assert request.url == f"{ENDPOINT}/openai/v1/images/edits"
    assert request.form is not None
    assert ("model", "image-prod") in request.form
    assert [name for name, value in request.form if isinstance(value, FilePart)] == ["image"]


def test_entra_token_from_the_environment_is_a_bearer_header() -> None:
    account = AzureAccount(endpoint=ENDPOINT, api_version="2024-10-21", ad_token="eyJ0eXAi.token")
    assert build(account=account).headers == {"Authorization": "Bearer eyJ0eXAi.token"}


def test_credential_accounts_get_their_header_in_run_not_build() -> None:
    account = AzureAccount(endpoint=ENDPOINT, api_version="2024-10-21", credential="azure-identity")
    assert build(account=account).headers == {}


def test_variations_have_no_azure_endpoint() -> None:
    with pytest.raises(UnsupportedValue):
        build(operation="variation", images=[upload("a.png")])
