"""A provider that always succeeds, registered by the conformance suite as the second target of a route, so a
test can see whether the gateway fell back: its images carry ``served_by`` in the response."""

from __future__ import annotations

from typing import Any

from ..capabilities import PERMISSIVE, ModelCapabilities
from ..hookspecs import hookimpl
from ..provider import Provider, ProviderResult, ResultImage, Send, UpstreamCall
from .images import make_image

FALLBACK_PROVIDER = "imagegate-testing-fallback"
FALLBACK_SIDE = 64  # the size it makes when the request names none


class FallbackProvider(Provider):
    name = FALLBACK_PROVIDER

    def capabilities(self, upstream_model: str, options: Any) -> ModelCapabilities:
        return PERMISSIVE

    async def run(self, call: UpstreamCall, send: Send) -> ProviderResult:
        width, height = (
            (call.width, call.height) if call.width and call.height else (FALLBACK_SIDE, FALLBACK_SIDE)
        )
        fmt = call.output_format or "png"
        data = make_image(width, height, fmt)
        images = [ResultImage(data=data, extra={"served_by": FALLBACK_PROVIDER}) for _ in range(call.n)]
        return ProviderResult(images=images, size=f"{width}x{height}", output_format=fmt)


class FallbackPlugin:
    @hookimpl
    def imagegate_register_providers(self, register: Any) -> None:
        register(FallbackProvider())
