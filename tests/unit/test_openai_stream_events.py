"""OpenAI dialect, streamed answers: each documented server-sent event, from literal fixtures, as the core
gets it from ``parse_stream_event`` (previews, completed images with usage, error events)."""

from __future__ import annotations

import base64

import msgspec
import pytest
from imagegate import PartialImage, ProviderResult, UpstreamEvent
from imagegate.errors import (
    ContentPolicyViolation,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
)
from imagegate_openai import OpenAIProvider

from tests.unit.test_openai_requests import make_call

PNG = b"\x89PNG\r\n\x1a\nfake"
PNG_B64 = base64.b64encode(PNG).decode()


def event(name: str | None, data: str) -> UpstreamEvent:
    return UpstreamEvent(event=name, data=data.encode())


def parse(name: str | None, data: str) -> object:
    return OpenAIProvider().parse_event(make_call(), event(name, data))


def test_a_partial_image() -> None:
    partial = parse(
        "image_generation.partial_image",
        f'{{"type": "image_generation.partial_image", "b64_json": "{PNG_B64}", "background": "opaque", '
        '"created_at": 1750000000, "output_format": "png", "partial_image_index": 1, "quality": "low", '
        '"size": "1024x1024"}',
    )
    assert isinstance(partial, PartialImage)
    assert (partial.index, partial.size, partial.quality, partial.background, partial.output_format) == (
        1,
        "1024x1024",
        "low",
        "opaque",
        "png",
    )
    assert partial.created == 1750000000 and partial.image.data() == PNG


def test_a_completed_edit_with_usage() -> None:
    result = parse(
        "image_edit.completed",
        f'{{"type": "image_edit.completed", "b64_json": "{PNG_B64}", "background": "transparent", '
        '"created_at": 1750000001, "output_format": "webp", "quality": "high", "size": "1536x1024", '
        '"usage": {"input_tokens": 50, "input_tokens_details": {"image_tokens": 40, "text_tokens": 10}, '
        '"output_tokens": 272, "total_tokens": 322}}',
    )
    assert isinstance(result, ProviderResult) and len(result.images) == 1
    assert (result.size, result.output_format, result.created) == ("1536x1024", "webp", 1750000001)
    assert result.usage is not None and result.usage.total_tokens == 322
    literal = result.images[0].b64_json_value()  # the upstream's JSON string, passed on as is
    assert isinstance(literal, msgspec.Raw) and bytes(literal) == f'"{PNG_B64}"'.encode()


def test_the_type_in_the_data_wins_and_unknown_events_are_skipped() -> None:
    data = f'{{"type": "image_generation.completed", "b64_json": "{PNG_B64}"}}'
    assert isinstance(parse(None, data), ProviderResult)
    assert parse("image_generation.progress", '{"type": "image_generation.progress", "percent": 40}') is None


@pytest.mark.parametrize(
    ("data", "error_type", "code"),
    [
        (
            '{"type": "error", "error": {"message": "blocked", "type": "image_generation_user_error", '
            '"param": null, "code": "moderation_blocked"}}',
            ContentPolicyViolation,
            "moderation_blocked",
        ),
        (
            '{"type": "error", "code": "insufficient_quota", "message": "no"}',
            UpstreamAuthError,
            "upstream_payment",
        ),
        (
            '{"type": "error", "error": {"code": "rate_limit_exceeded"}}',
            UpstreamRateLimited,
            "rate_limit_exceeded",
        ),
        ('{"error": {"message": "The server had an error"}}', UpstreamError, "upstream_error"),
        ('{"type": "error", "error": "overloaded"}', UpstreamError, "upstream_error"),
    ],
)
def test_error_events(data: str, error_type: type, code: str) -> None:
    with pytest.raises(error_type) as raised:
        parse("error", data)
    assert type(raised.value) is error_type and raised.value.code == code


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        '{"type": "image_generation.completed"}',
        '{"type": "image_generation.completed", "b64_json": 42}',
        '{"type": "image_generation.partial_image", "b64_json": ""}',
    ],
)
def test_broken_events_are_upstream_errors(data: str) -> None:
    with pytest.raises(UpstreamError) as raised:
        parse("image_generation.completed", data)
    assert type(raised.value) is UpstreamError
