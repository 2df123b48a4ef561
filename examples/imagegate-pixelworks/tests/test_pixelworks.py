"""The example plugin's own tests, written with imagegate's test kit (imagegate.testing): the translation
in both directions, the conformance suite against the fake Pixelworks upstream this package ships, and one
request through a real gateway with the official SDK."""

from __future__ import annotations

import base64

import pytest
from imagegate import UpstreamCall, UpstreamResponse, UpstreamUnavailable
from imagegate.testing import ProviderConformance, describe_image, make_image
from imagegate_pixelworks import PixelworksAccount, PixelworksProvider
from imagegate_pixelworks.fake_upstream import make_app
from multidict import CIMultiDict

ACCOUNT = PixelworksAccount(api_key="pixel-key", base_url="https://render.example/")


def test_build_sends_the_size_as_width_and_height_and_varies_the_seed_per_call() -> None:
    call = UpstreamCall(
        operation="generate",
        upstream_model="pixel-v1",
        account=ACCOUNT,
        options=None,
        prompt="a fox",
        size="512x384",
        width=512,
        height=384,
        params={"seed": "7"},
        index=2,
    )
    request = PixelworksProvider().build(call)
    assert request.url == "https://render.example/render"
    assert request.headers["Authorization"] == "Token pixel-key"
    assert request.json == {"prompt": "a fox", "width": 512, "height": 384, "seed": 9}


def test_parse_keeps_the_bytes_and_the_seed() -> None:
    png = make_image(64, 64)
    call = UpstreamCall(operation="generate", upstream_model="pixel-v1", account=ACCOUNT, options=None)
    response = UpstreamResponse(status=200, headers=CIMultiDict({"X-Seed": "42"}), body=png)
    result = PixelworksProvider().parse(call, response)
    assert result.images[0].data() == png and result.images[0].extra == {"seed": 42}


def test_parse_maps_an_error_with_the_upstreams_detail() -> None:
    call = UpstreamCall(operation="generate", upstream_model="pixel-v1", account=ACCOUNT, options=None)
    response = UpstreamResponse(status=503, headers=CIMultiDict(), body=b'{"detail": "render farm busy"}')
    with pytest.raises(UpstreamUnavailable) as caught:
        PixelworksProvider().parse(call, response)
    assert caught.value.detail == "render farm busy"  # for the gateway's log


class TestPixelworksConformance(ProviderConformance):
    provider = "pixelworks"
    upstream_model = "pixel-v1"
    account = {"api_key": "pixel-key", "base_url": "{upstream}"}

    def upstream(self):
        return make_app(api_key="pixel-key")


def test_through_the_gateway(imagegate_upstream, imagegate_gateway) -> None:
    upstream = imagegate_upstream(make_app(api_key="pixel-key"))
    gateway = imagegate_gateway(
        {
            "providers": {"pixel": {"plugin": "pixelworks", "api_key": "pixel-key", "base_url": upstream}},
            "models": {"pixel-v1": [{"provider": "pixel"}]},
        }
    )
    result = gateway.client().images.generate(
        model="pixel-v1", prompt="a fox", n=2, size="256x192", output_format="webp", extra_body={"seed": 5}
    )
    assert [describe_image(base64.b64decode(item.b64_json))[:3] for item in result.data] == [
        ("webp", 256, 192)
    ] * 2
    assert [item.model_extra["seed"] for item in result.data] == [5, 6]
