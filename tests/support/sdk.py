"""Helpers for reading what the official openai SDK returns."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from openai.types import ImagesResponse


def decoded(result: ImagesResponse, index: int = 0) -> bytes:
    """The bytes of image ``index`` of a base64 response."""
    assert result.data is not None
    return base64.b64decode(result.data[index].b64_json or "")


def error_of(caught: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    """The error object of an SDK exception, checked to have OpenAI's four keys."""
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    return body
