"""Azure provider, upstream → gateway: images with their filter results, every content-filter shape, 429
delays and Azure's other errors, from literal bodies in Azure's documented formats."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest
from imagegate import UpstreamResponse
from imagegate.errors import (
    ContentPolicyViolation,
    GatewayError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
)
from imagegate_azure import AzureProvider, AzureTarget
from multidict import CIMultiDict

from tests.unit.test_azure_requests import make_call

REQUEST_ID = "5d7a0f43-1c2b-4f6e-9a8b-0c1d2e3f4a5b"

SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def response(status: int, body: Any, **headers: str) -> UpstreamResponse:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    all_headers = CIMultiDict(
        {"apim-request-id": REQUEST_ID, **{k.replace("_", "-"): v for k, v in headers.items()}}
    )
    return UpstreamResponse(status=status, headers=all_headers, body=raw)


def parse(status: int, body: Any, **headers: str) -> Any:
    return AzureProvider().parse(make_call(), response(status, body, **headers))


def failure(status: int, body: Any, **headers: str) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        parse(status, body, **headers)
    return caught.value


# --- success --------------------------------------------------------------------------------------------


def test_dall_e_3_answer_keeps_url_revised_prompt_and_filter_results() -> None:
    # Azure's documented example (2024-10-21, image_generation.json), abridged.
    prompt_filter = {**SAFE, "profanity": {"detected": False, "filtered": False}}
    body = {
        "created": 1698342300,
        "data": [
            {
                "revised_prompt": "A vivid, natural representation of Microsoft Clippy wearing a cowboy hat.",
                "prompt_filter_results": prompt_filter,
                "url": "https://dalletipusw2.blob.core.windows.net/private/images/e5451cc6/generated_00.png?se=x",
                "content_filter_results": SAFE,
            }
        ],
    }
    result = parse(200, body)
    assert result.created == 1698342300
    [image] = result.images
    assert (
        image.url
        == "https://dalletipusw2.blob.core.windows.net/private/images/e5451cc6/generated_00.png?se=x"
    )
    assert image.revised_prompt.startswith("A vivid, natural representation")
    assert image.extra == {"prompt_filter_results": prompt_filter, "content_filter_results": SAFE}


def test_gpt_image_answer_keeps_base64_usage_and_metadata() -> None:
    # Azure's documented edit example (2025-04-01-preview, image_edits.json) with the GPT metadata fields.
    body = {
        "created": 1698342300,
        "data": [{"b64_json": "iVBORw0KGgo=", "content_filter_results": SAFE}],
        "output_format": "png",
        "size": "1024x1024",
        "quality": "high",
        "background": "opaque",
        "usage": {
            "total_tokens": 100,
            "input_tokens": 50,
            "output_tokens": 50,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
        },
    }
    result = parse(200, body)
    assert result.images[0].b64() == "iVBORw0KGgo="
    assert result.images[0].extra == {"content_filter_results": SAFE}
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1024x1024",
        "high",
        "opaque",
        "png",
    )
    assert result.usage is not None
    assert result.usage.total_tokens == 100
    assert result.usage.input_tokens_details == {"text_tokens": 10, "image_tokens": 40}


# --- content filtering ----------------------------------------------------------------------------------


def test_dall_e_content_policy_violation_with_inner_error_names_the_categories() -> None:
    body = {
        "error": {
            "code": "content_policy_violation",
            "message": "Your request was rejected as a result of our safety system.",
            "type": "invalid_request_error",
            "inner_error": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_results": {
                    **SAFE,
                    "sexual": {"filtered": True, "severity": "high"},
                    "violence": {"filtered": True, "severity": "medium"},
                },
                "revised_prompt": "something",
            },
        }
    }
    error = failure(400, body)
    assert isinstance(error, ContentPolicyViolation)
    assert (error.status, error.code, error.type) == (
        400,
        "content_policy_violation",
        "invalid_request_error",
    )
    assert "sexual (high severity), violence (medium severity)" in error.message
    assert "Your request was rejected as a result of our safety system." in error.message
    assert REQUEST_ID in error.message
    assert "hate" not in error.message  # only what was filtered


@pytest.mark.parametrize(
    "message",
    [
        "Your task failed as a result of our safety system.",
        "Generated image was filtered as a result of our safety system.",
    ],
)
def test_content_filter_camel_case_code_from_the_image_how_to(message: str) -> None:
    error = failure(400, {"created": 1698435368, "error": {"code": "contentFilter", "message": message}})
    assert isinstance(error, ContentPolicyViolation)
    assert error.code == "content_policy_violation"
    assert message in error.message


def test_content_filter_snake_case_code_with_innererror_and_singular_results() -> None:
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
            "policy.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {**SAFE, "jailbreak": {"filtered": True, "detected": True}},
            },
        }
    }
    error = failure(400, body)
    assert isinstance(error, ContentPolicyViolation)
    assert error.param == "prompt"
    assert "jailbreak (detected)" in error.message


@pytest.mark.parametrize("inner_key", ["inner_error", "innererror"])
def test_responsible_ai_inner_error_alone_marks_a_content_block(inner_key: str) -> None:
    body = {
        "error": {
            "code": "BadRequest",
            "message": "The request was blocked.",
            inner_key: {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_results": {
                    "custom_blocklists": {
                        "filtered": True,
                        "details": [{"id": "brand-names", "filtered": True}],
                    },
                },
            },
        }
    }
    error = failure(400, body)
    assert isinstance(error, ContentPolicyViolation)
    assert "custom_blocklists (brand-names)" in error.message


def test_gpt_image_moderation_blocked_is_a_content_block_too() -> None:
    body = {
        "error": {"code": "moderation_blocked", "message": "Your request was rejected by the safety system."}
    }
    assert isinstance(failure(400, body), ContentPolicyViolation)


def test_an_inner_error_with_another_code_is_not_a_content_block() -> None:
    body = {
        "error": {"code": "invalid_request_error", "message": "Bad size.", "innererror": {"code": "Other"}}
    }
    error = failure(400, body)
    assert isinstance(error, UpstreamRejected)
    assert error.message.startswith("Bad size.")


# --- other failures -------------------------------------------------------------------------------------


def test_429_with_retry_after_headers_leaves_the_delay_to_the_core() -> None:
    body = {"error": {"code": "429", "message": "Requests ... Please retry after 7 seconds."}}
    error = failure(429, body, retry_after="7", retry_after_ms="6500")
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after is None  # the core reads the headers (6.5 s here), not the message
    assert REQUEST_ID in error.message


def test_429_without_headers_uses_the_delay_in_the_message() -> None:
    body = {"error": {"code": "429", "message": "Rate limit of S0 exceeded. Please retry after 12 seconds."}}
    assert failure(429, body).retry_after == 12


def test_unknown_deployment_is_an_upstream_not_found_with_the_request_id() -> None:
    body = {
        "error": {
            "code": "DeploymentNotFound",
            "message": "The API deployment for this resource does not exist. If you created the deployment within "
            "the last 5 minutes, please wait a moment and try again.",
        }
    }
    error = failure(404, body)
    assert type(error) is UpstreamNotFound
    assert error.code == "upstream_not_found"
    assert error.fallback  # another target may have the deployment
    assert "The API deployment for this resource does not exist." in (error.detail or "")  # for the log
    assert "deployment for this resource" not in error.message and REQUEST_ID in error.message


def test_refused_key_is_the_operators_problem() -> None:
    body = {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}
    error = failure(401, body)
    assert isinstance(error, UpstreamAuthError)
    assert error.status == 502
    assert REQUEST_ID in error.message


def test_a_non_json_error_page_keeps_its_text_for_the_log() -> None:
    error = failure(502, b"<html>Bad Gateway</html>")
    assert error.status == 502
    assert "Bad Gateway" in (error.detail or "") and "Bad Gateway" not in error.message


def test_errors_are_logged_with_the_apim_request_id(caplog: pytest.LogCaptureFixture) -> None:
    call = make_call(options=AzureTarget(deployment="image-prod"))
    answer = response(404, {"error": {"code": "DeploymentNotFound", "message": "missing"}})
    with caplog.at_level(logging.WARNING, logger="imagegate.azure"), pytest.raises(UpstreamError):
        AzureProvider().parse(call, answer)
    [record] = caplog.records
    assert record.name == "imagegate.azure"
    assert REQUEST_ID in record.getMessage()
    assert "image-prod" in record.getMessage()


def test_successes_are_logged_at_debug_with_the_apim_request_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="imagegate.azure"):
        parse(200, {"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]})
    assert any(REQUEST_ID in record.getMessage() for record in caplog.records)
