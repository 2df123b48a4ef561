"""Stability's error answers (``{"id", "name", "errors": [...]}``) → the gateway's error tree."""

from __future__ import annotations

import re

import msgspec
from imagegate import (
    ContentPolicyViolation,
    GatewayError,
    UpstreamResponse,
    retry_after_seconds,
    upstream_error,
)

# Stability locks a key out for 60 s once it passes its rate limit; used when a 429 names no delay.
RATE_LIMIT_LOCKOUT_SECONDS = 60.0
CONTENT_MODERATION = "content_moderation"
# Stability words validation errors as "field: problem"; the field becomes the error's param.
FIELD_PREFIX = re.compile(r"^([a-z_]+): ")


class StabilityErrorBody(msgspec.Struct):
    name: str | None = None
    errors: list[str] = msgspec.field(default_factory=list)
    id: str | None = None


def _decode(body: bytes) -> StabilityErrorBody | None:
    try:
        return msgspec.json.decode(body, type=StabilityErrorBody)
    except msgspec.DecodeError:
        return None


def _lockout(response: UpstreamResponse) -> float | None:
    """A 429's delay when Stability sent no ``retry-after`` (when it did, the core reads it)."""
    if response.status != 429 or retry_after_seconds(response.headers) is not None:
        return None
    return RATE_LIMIT_LOCKOUT_SECONDS


def error_from_response(response: UpstreamResponse) -> GatewayError:
    """The gateway error for a non-2xx Stability answer."""
    error = _decode(response.body)
    param = None
    if error is None:
        snippet = response.body[:200].decode("utf-8", "replace").strip()
        message = snippet or f"HTTP {response.status} with no body"
    else:
        field = FIELD_PREFIX.match(error.errors[0]) if error.errors else None
        param = field.group(1) if field else None
        message = "; ".join(error.errors) or error.name or f"HTTP {response.status}"
        if error.id:
            message += f" (Stability error id {error.id})"
        if error.name == CONTENT_MODERATION:
            return ContentPolicyViolation(f"Stability's content moderation refused the request: {message}")
    return upstream_error(response.status, message, param=param, retry_after=_lockout(response))
