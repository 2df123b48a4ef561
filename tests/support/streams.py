"""Reading streamed answers in tests: the SDK's events, decoded, and the raw bytes of an event stream."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import httpx

from .images import describe


def decoded(event: Any) -> tuple[str, int, int, str]:
    """(format, width, height, mode) of an event's base64 image."""
    assert event.b64_json, event
    return describe(base64.b64decode(event.b64_json))


def by_image(events: Iterable[Any]) -> dict[int, list[Any]]:
    """The events of each image, in the order they came, keyed by ``image_index``."""
    grouped: dict[int, list[Any]] = {}
    for event in events:
        grouped.setdefault(event.image_index, []).append(event)
    return grouped


def kinds(events: Iterable[Any]) -> list[str]:
    """Each event's kind: ``partial:<partial_image_index>`` or ``completed``."""
    return [
        f"partial:{event.partial_image_index}" if event.type.endswith("partial_image") else "completed"
        for event in events
    ]


def raw_stream(url: str, body: dict[str, Any], timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` and read the whole answer as bytes (comments included, which the SDK hides)."""
    with httpx.stream("POST", url, json=body, timeout=timeout) as response:
        return response.status_code, dict(response.headers), response.read()
