"""Stability's answers → images with their seeds, or the gateway's errors, from literal documented bodies."""

from __future__ import annotations

import pytest
from imagegate import UpstreamCall, UpstreamResponse
from imagegate.errors import (
    ContentPolicyViolation,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from imagegate_stability import StabilityProvider
from imagegate_stability.config import StabilityAccount, StabilityTarget
from multidict import CIMultiDict

from tests.support.images import make_image

PROVIDER = StabilityProvider()


def make_call(output_format: str | None = None) -> UpstreamCall:
    return UpstreamCall(
        operation="generate",
        upstream_model="core",
        account=StabilityAccount(api_key="sk-test"),
        options=StabilityTarget(),
        prompt="a fox",
        n=1,
        size=None,
        aspect_ratio="3:2",
        quality=None,
        style=None,
        background=None,
        moderation=None,
        output_format=output_format,
        output_compression=None,
        response_format=None,
        input_fidelity=None,
        user=None,
        params={},
    )


def respond(status: int, body: bytes, **headers: str) -> UpstreamResponse:
    return UpstreamResponse(
        status=status, headers=CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}), body=body
    )


def test_raw_image_bytes_with_seed_header() -> None:
    png = make_image(1216, 832)
    result = PROVIDER.parse(
        make_call(), respond(200, png, content_type="image/png", finish_reason="SUCCESS", seed="3453451")
    )
    assert len(result.images) == 1
    assert result.images[0].data() is png  # kept as given, never re-encoded
    assert result.images[0].extra == {"seed": 3453451}
    assert result.output_format == "png"


def test_format_comes_from_the_content_type() -> None:
    result = PROVIDER.parse(
        make_call("webp"),
        respond(200, make_image(8, 8, "webp"), content_type="image/webp", finish_reason="SUCCESS", seed="1"),
    )
    assert result.output_format == "webp"


def test_content_filtered_arrives_with_200_and_is_a_content_policy_violation() -> None:
    with pytest.raises(ContentPolicyViolation) as caught:
        PROVIDER.parse(
            make_call(),
            respond(
                200, make_image(8, 8), content_type="image/png", finish_reason="CONTENT_FILTERED", seed="9"
            ),
        )
    assert caught.value.status == 400
    assert caught.value.code == "content_policy_violation"


def test_other_finish_reason_is_an_upstream_failure() -> None:
    with pytest.raises(UpstreamError, match="ERROR"):
        PROVIDER.parse(make_call(), respond(200, b"", content_type="image/png", finish_reason="ERROR"))


BAD_REQUEST = (
    b'{"id": "e1a0b7c2d3", "name": "bad_request", "errors": ['
    b'"aspect_ratio: must be one of 16:9, 1:1, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16, 9:21", '
    b'"prompt: cannot be empty"]}'
)


def test_400_joins_the_error_messages_and_keeps_the_id() -> None:
    with pytest.raises(UpstreamRejected) as caught:
        PROVIDER.parse(make_call(), respond(400, BAD_REQUEST, content_type="application/json"))
    error = caught.value
    assert error.status == 400
    assert "aspect_ratio: must be one of" in error.message
    assert "; prompt: cannot be empty" in error.message
    assert "e1a0b7c2d3" in error.message
    assert error.param == "aspect_ratio"  # Stability's "field: problem" names the parameter


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            401,
            b'{"id": "x1", "name": "unauthorized", "errors": ["authorization: invalid or missing header value"]}',
        ),
        (
            402,
            b'{"id": "x2", "name": "payment_required", "errors": ["You lack sufficient credits to make this '
            b'request. Please purchase more credits at https://platform.stability.ai/account/credits"]}',
        ),
        (403, b'{"id": "x3", "name": "forbidden", "errors": ["You do not have access to this resource."]}'),
    ],
)
def test_the_gateways_own_account_failing_is_an_upstream_auth_error(status: int, body: bytes) -> None:
    with pytest.raises(UpstreamAuthError) as caught:
        PROVIDER.parse(make_call(), respond(status, body, content_type="application/json"))
    assert caught.value.status >= 500  # the operator's problem, not the client's bad key


def test_content_moderation_name_is_a_content_policy_violation() -> None:
    body = (
        b'{"id": "m1", "name": "content_moderation", "errors": ["Your request was flagged by our content '
        b'moderation system, as a result your request was denied and you were not charged."]}'
    )
    with pytest.raises(ContentPolicyViolation, match="flagged by our content moderation"):
        PROVIDER.parse(make_call(), respond(403, body, content_type="application/json"))


RATE_LIMITED = (
    b'{"id": "r1", "name": "rate_limit_exceeded", "errors": ["You have exceeded the rate limit of '
    b'150 requests within a 10 second period, and have been timed out for 60 seconds."]}'
)


def test_429_with_a_retry_after_leaves_the_delay_to_the_core() -> None:
    with pytest.raises(UpstreamRateLimited) as caught:
        PROVIDER.parse(
            make_call(), respond(429, RATE_LIMITED, content_type="application/json", retry_after="12")
        )
    assert caught.value.retry_after is None  # the core reads retry-after from every upstream answer
    assert "150 requests" in (caught.value.detail or "")  # for the log, not the client


def test_429_without_a_delay_uses_stabilitys_documented_lockout() -> None:
    with pytest.raises(UpstreamRateLimited) as caught:
        PROVIDER.parse(make_call(), respond(429, RATE_LIMITED, content_type="application/json"))
    assert caught.value.retry_after == 60


def test_500_and_a_non_json_body_are_upstream_failures() -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        PROVIDER.parse(make_call(), respond(502, b"<html>Bad Gateway</html>", content_type="text/html"))
    assert "Bad Gateway" in (caught.value.detail or "")
