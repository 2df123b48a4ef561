"""OpenAI dialect, upstream → gateway: documented 200 bodies and error bodies, from literal fixtures."""

from __future__ import annotations

import base64

import msgspec
import pytest
from imagegate import Provider, UpstreamResponse, Usage
from imagegate.errors import (
    ContentPolicyViolation,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from imagegate_openai import OpenAIProvider
from imagegate_openai.dialect import error_from_response, parse_images
from multidict import CIMultiDict

from tests.unit.test_openai_requests import make_call

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


def answer(status: int, body: str | bytes, **headers: str) -> UpstreamResponse:
    raw = body.encode() if isinstance(body, str) else body
    return UpstreamResponse(status=status, headers=CIMultiDict(headers), body=raw)


GPT_IMAGE_BODY = f"""{{
  "created": 1713833628,
  "background": "opaque",
  "data": [{{"b64_json": "{PNG_B64}"}}, {{"b64_json": "{PNG_B64}", "seed": 7}}],
  "output_format": "webp",
  "quality": "high",
  "size": "1536x1024",
  "usage": {{
    "input_tokens": 50,
    "input_tokens_details": {{"image_tokens": 40, "text_tokens": 10}},
    "output_tokens": 50,
    "output_tokens_details": {{"image_tokens": 50, "text_tokens": 0}},
    "total_tokens": 100
  }}
}}"""

DALL_E_3_URL_BODY = """{
  "created": 1589478378,
  "data": [{
    "url": "https://oaidalleapiprodscus.blob.core.windows.net/private/org-x/img-1.png?sig=abc",
    "revised_prompt": "A red fox sitting in fresh snow, photographed at dawn."
  }]
}"""


def test_gpt_image_result() -> None:
    result = parse_images(make_call(), answer(200, GPT_IMAGE_BODY))
    assert result.created == 1713833628
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1536x1024",
        "high",
        "opaque",
        "webp",
    )
    assert result.usage == Usage(
        input_tokens=50,
        output_tokens=50,
        total_tokens=100,
        input_tokens_details={"image_tokens": 40, "text_tokens": 10},
        output_tokens_details={"image_tokens": 50, "text_tokens": 0},
    )
    first, second = result.images
    assert first.b64() == PNG_B64
    assert first.data() == b"\x89PNG\r\n\x1a\nfake"
    assert first.url is None and first.extra == {}
    assert second.extra == {"seed": 7}  # unknown per-image keys are kept


def test_dall_e_3_url_result_with_revised_prompt() -> None:
    result = parse_images(make_call(upstream_model="dall-e-3"), answer(200, DALL_E_3_URL_BODY))
    (image,) = result.images
    assert image.url is not None and image.url.startswith(
        "https://oaidalleapiprodscus.blob.core.windows.net/"
    )
    assert not image.has_bytes
    assert image.revised_prompt == "A red fox sitting in fresh snow, photographed at dawn."
    assert result.usage is None and result.size is None


def test_unexpected_usage_shape_keeps_the_images() -> None:
    body = f'{{"created": 1, "data": [{{"b64_json": "{PNG_B64}"}}], "usage": {{"total_tokens": "many"}}}}'
    result = parse_images(make_call(), answer(200, body))
    assert result.usage is None and len(result.images) == 1


@pytest.mark.parametrize(
    "body",
    [
        "<html>bad gateway</html>",
        '{"created": 1, "data": []}',
        '{"created": 1, "data": [{"revised_prompt": "no image"}]}',
        '{"error": {"message": "overloaded", "type": "server_error"}}',
    ],
)
def test_200_without_images_is_an_upstream_error(body: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_images(make_call(), answer(200, body))
    assert caught.value.status == 502


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return msgspec.json.encode({"error": {"message": message, "type": type_, "param": param, "code": code}})


def test_gpt_moderation_block_stays_a_400_with_its_code() -> None:
    body = error_body(
        "Your request was rejected by the safety system.", "image_generation_user_error", "moderation_blocked"
    )
    error = error_from_response(answer(400, body))
    assert isinstance(error, ContentPolicyViolation)
    assert (error.status, error.code) == (400, "moderation_blocked")
    assert error.message == "Your request was rejected by the safety system."


def test_dall_e_content_policy_violation() -> None:
    body = error_body(
        "Your request was rejected as a result of our safety system.",
        "invalid_request_error",
        "content_policy_violation",
    )
    error = error_from_response(answer(400, body))
    assert isinstance(error, ContentPolicyViolation)
    assert error.body()["error"] == {
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error",
        "param": None,
        "code": "content_policy_violation",
    }


def test_rate_limit_is_a_429_and_leaves_the_delay_to_the_core() -> None:
    body = error_body("Rate limit reached for images per minute.", "requests", "rate_limit_exceeded")
    error = error_from_response(answer(429, body, **{"retry-after-ms": "1500"}))
    assert isinstance(error, UpstreamRateLimited)
    assert error.status == 429
    assert error.retry_after is None  # the core reads retry-after(-ms) from every upstream answer


@pytest.mark.parametrize("status", [401, 403])
def test_refused_gateway_key_is_the_operators_problem(status: int) -> None:
    body = error_body("Incorrect API key provided: sk-abc***xyz.", "invalid_request_error", "invalid_api_key")
    error = error_from_response(answer(status, body))
    assert isinstance(error, UpstreamAuthError)
    assert (error.status, error.code) == (502, "upstream_auth_failed")
    assert "sk-abc" not in error.message  # nothing of the key reaches the client


def test_exhausted_quota_is_not_a_rate_limit() -> None:
    body = error_body("You exceeded your current quota.", "insufficient_quota", "insufficient_quota")
    error = error_from_response(answer(429, body))
    assert isinstance(error, UpstreamAuthError)
    assert (error.status, error.code, error.retryable) == (502, "upstream_payment", False)


def test_parameter_rejection_keeps_param_code_and_message() -> None:
    body = error_body(
        "Unknown parameter: 'response_format'.",
        "invalid_request_error",
        "unknown_parameter",
        "response_format",
    )
    error = error_from_response(answer(400, body))
    assert isinstance(error, UpstreamRejected)
    assert error.status == 400
    assert (error.param, error.code) == ("response_format", "unknown_parameter")
    assert error.message == "Unknown parameter: 'response_format'."


def test_server_error_and_non_json_bodies() -> None:
    error = error_from_response(answer(500, error_body("The server had an error.", "server_error", None)))
    assert isinstance(error, UpstreamUnavailable)
    assert error.detail == "The server had an error." and error.message == "The upstream failed (HTTP 500)."
    html = error_from_response(answer(502, b"<html><body>Bad Gateway</body></html>"))
    assert isinstance(html, UpstreamUnavailable)
    assert "Bad Gateway" in (html.detail or "") and "Bad Gateway" not in html.message
    empty = error_from_response(answer(503, b""))
    assert isinstance(empty, UpstreamUnavailable)


def test_compatible_upstream_error_shapes() -> None:
    plain = error_from_response(answer(400, '{"error": "prompt is required"}'))
    assert isinstance(plain, UpstreamRejected) and plain.message == "prompt is required"
    numeric = error_from_response(answer(400, '{"error": {"message": "bad", "code": 400}}'))
    assert numeric.code == "400"
    detail = error_from_response(answer(400, '{"message": "size too large"}'))
    assert detail.message == "size too large"


def test_provider_parse_raises_for_errors_and_reads_success() -> None:
    provider = OpenAIProvider()
    with pytest.raises(ContentPolicyViolation):
        provider.parse(make_call(), answer(400, error_body("blocked", "x", "moderation_blocked")))
    assert len(provider.parse(make_call(), answer(200, GPT_IMAGE_BODY)).images) == 2


@pytest.mark.parametrize(
    ("status", "code", "param", "unknown"),
    [
        (404, "model_not_found", None, True),
        (400, "model_not_found", None, True),  # OpenAI's codes for a model it does not serve (any longer)
        (400, "model_deprecated", None, True),
        (400, "invalid_value", "model", True),
        (400, "invalid_value", "size", False),
        (500, "model_not_found", None, False),  # an upstream fault, not an answer about the model
    ],
)
def test_which_answers_say_the_model_is_unknown(
    status: int, code: str, param: str | None, unknown: bool
) -> None:
    """What makes a retired model's error name its replacement: the dialect's codes are the provider's to
    know; the core's default knows only a 404 and a rejection naming `model`."""
    error = error_from_response(
        answer(status, error_body("The model does not exist.", "invalid_request_error", code, param))
    )
    assert isinstance(error, UpstreamError)
    assert OpenAIProvider().unknown_model(error) is unknown
    assert Provider().unknown_model(error) is (unknown and (status == 404 or param == "model"))
