"""An example third-party provider: the (fictional) Pixelworks render API. See README.md."""

from __future__ import annotations

from typing import Any

import msgspec
from imagegate import (
    AccountConfig,
    ModelCapabilities,
    Provider,
    ProviderResult,
    ResultImage,
    SizeSpec,
    UpstreamCall,
    UpstreamRequest,
    UpstreamResponse,
    hookimpl,
    int_param,
    upstream_error,
)

# The imagegate plugin API versions this plugin is written for (imagegate.PLUGIN_API_VERSION).
IMAGEGATE_PLUGIN_API = (1,)

CAPABILITIES = ModelCapabilities(
    sizes=SizeSpec(multiple_of=64, min_side=64, max_side=2048, default="1024x1024"),
    max_images_per_call=1,
    output_formats=frozenset({"png"}),
    delivery="bytes",
    extra_params=frozenset({"seed"}),
)


class PixelworksAccount(AccountConfig):
    api_key: str | None = None
    base_url: str = "https://render.pixelworks.example"


class PixelworksError(msgspec.Struct):
    detail: str = "unknown error"


class PixelworksProvider(Provider):
    name = "pixelworks"
    account_type = PixelworksAccount

    def capabilities(self, upstream_model: str, options: Any) -> ModelCapabilities:
        return CAPABILITIES

    def check_account(self, account: PixelworksAccount) -> str | None:
        return None if account.api_key else "api_key is not set"

    def build(self, call: UpstreamCall) -> UpstreamRequest:
        body: dict[str, Any] = {
            "prompt": call.prompt,
            "width": call.width or 1024,
            "height": call.height or 1024,
        }
        seed = int_param(call.params, "seed")  # "42" from multipart, 42 from JSON
        if seed is not None:
            body["seed"] = seed + call.index  # distinct images across a fan-out
        return UpstreamRequest(
            url=call.account.base_url.rstrip("/") + "/render",
            headers={"Authorization": f"Token {call.account.api_key}", "Accept": "image/png"},
            json=body,
        )

    def parse(self, call: UpstreamCall, response: UpstreamResponse) -> ProviderResult:
        if response.status != 200:
            try:
                detail = msgspec.json.decode(response.body, type=PixelworksError).detail
            except msgspec.DecodeError:
                detail = response.body[:200].decode("utf-8", "replace")
            # No Retry-After parsing here: the core reads it from every upstream answer.
            raise upstream_error(response.status, detail)
        seed = response.headers.get("X-Seed")
        extra = {"seed": int(seed)} if seed is not None else {}
        return ProviderResult(images=[ResultImage(data=response.body, extra=extra)])


@hookimpl
def imagegate_register_providers(register: Any) -> None:
    register(PixelworksProvider())
