"""The OpenAI provider end to end: the official SDK → the gateway → the OpenAI emulator, over real sockets."""

from __future__ import annotations

import base64
import hashlib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from aiohttp import web

from tests.emulators.openai_dialect import ReceivedRequest, Switches, make_app
from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image, noise_png
from tests.support.servers import serve_aiohttp

UPSTREAM_KEY = "sk-upstream-secret"

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  retry: {{max_attempts: 1}}  # translation tests: the gateway's retries are tested in test_resilience_*
providers:
  emu: {{plugin: openai, api_key: "${{EMU_KEY}}", base_url: "{upstream}/v1", organization: org-7, project: proj-7}}
models:
  gpt-image-1:
    - {{provider: emu}}
  house-style:
    - {{provider: emu, upstream_model: gpt-image-1-2025-04-15}}
  dall-e-3:
    - {{provider: emu}}
  dall-e-2:
    - {{provider: emu}}
"""


@dataclass
class Upstream:
    url: str
    app: web.Application

    @property
    def received(self) -> list[ReceivedRequest]:
        return self.app["received"]

    @property
    def switches(self) -> Switches:
        return self.app["switches"]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    apps: list[web.Application] = []

    def factory() -> web.Application:
        apps.append(make_app(api_key=UPSTREAM_KEY, retry_after=3))
        return apps[-1]

    with serve_aiohttp(factory) as url:
        yield Upstream(url, apps[0])


def gateway_for(upstream: Upstream, tmp_path: Path, environ: dict[str, str]) -> Iterator[openai.OpenAI]:
    routes = ROUTES.format(store=tmp_path / "images", upstream=upstream.url)
    with serve_gateway(routes, tmp_path, environ=environ) as base_url:
        yield openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0)


@pytest.fixture
def client(upstream: Upstream, tmp_path: Path) -> Iterator[openai.OpenAI]:
    yield from gateway_for(upstream, tmp_path, {"EMU_KEY": UPSTREAM_KEY})


def decoded(b64_json: str | None) -> tuple[str, int, int, str]:
    assert b64_json is not None
    return describe(base64.b64decode(b64_json))


# --- generations ---------------------------------------------------------------------------------------


def test_generate_gpt_image_1_b64(client: openai.OpenAI, upstream: Upstream) -> None:
    result = client.images.generate(
        model="gpt-image-1", prompt="a red fox", n=2, size="1536x1024", quality="high", output_format="webp"
    )
    assert result.data is not None and len(result.data) == 2
    for image in result.data:
        assert image.url is None
        assert decoded(image.b64_json)[:3] == ("webp", 1536, 1024)
    assert (result.size, result.quality, result.output_format) == ("1536x1024", "high", "webp")
    assert result.usage is not None and result.usage.output_tokens > 0

    (sent,) = upstream.received
    assert sent.path == "/v1/images/generations"
    assert sent.fields == {
        "model": "gpt-image-1",
        "prompt": "a red fox",
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "webp",
    }
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"  # the gateway's key, not the client's
    assert (sent.headers["openai-organization"], sent.headers["openai-project"]) == ("org-7", "proj-7")


def test_gpt_image_never_receives_response_format(client: openai.OpenAI, upstream: Upstream) -> None:
    as_b64 = client.images.generate(model="gpt-image-1", prompt="a fox", response_format="b64_json")
    assert as_b64.data is not None and decoded(as_b64.data[0].b64_json)[:3] == ("png", 1024, 1024)

    as_url = client.images.generate(model="gpt-image-1", prompt="a fox", response_format="url")
    assert as_url.data is not None and as_url.data[0].url is not None
    with urllib.request.urlopen(as_url.data[0].url) as hosted:  # hosted by the gateway
        assert describe(hosted.read())[:3] == ("png", 1024, 1024)

    assert [request.fields.get("response_format") for request in upstream.received] == [None, None]


def test_snapshot_upstream_model(client: openai.OpenAI, upstream: Upstream) -> None:
    result = client.images.generate(
        model="house-style", prompt="a fox", size="1024x1536", output_format="jpeg"
    )
    assert result.data is not None and decoded(result.data[0].b64_json)[:3] == ("jpeg", 1024, 1536)
    assert upstream.received[0].fields["model"] == "gpt-image-1-2025-04-15"


def test_generate_dall_e_3_url(client: openai.OpenAI, upstream: Upstream) -> None:
    result = client.images.generate(model="dall-e-3", prompt="a lighthouse", style="natural")
    assert result.data is not None
    (image,) = result.data
    assert image.b64_json is None and image.url is not None
    assert image.url.startswith(upstream.url + "/v1/files/")  # the upstream's own URL, passed through
    assert image.revised_prompt is not None and "a lighthouse" in image.revised_prompt
    with urllib.request.urlopen(image.url) as fetched:
        assert describe(fetched.read())[:3] == ("png", 1024, 1024)
    assert upstream.received[0].fields["style"] == "natural"


def test_generate_dall_e_3_b64_fans_out_one_image_per_call(client: openai.OpenAI, upstream: Upstream) -> None:
    result = client.images.generate(
        model="dall-e-3",
        prompt="a lighthouse",
        n=2,
        size="1792x1024",
        quality="hd",
        response_format="b64_json",
    )
    assert result.data is not None and len(result.data) == 2
    for image in result.data:
        assert decoded(image.b64_json)[:3] == ("png", 1792, 1024)
        assert image.revised_prompt
    assert [request.fields["n"] for request in upstream.received] == [1, 1]
    assert all(request.fields["response_format"] == "b64_json" for request in upstream.received)


def test_dall_e_3_in_another_format_asks_for_base64_not_a_download(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    result = client.images.generate(model="dall-e-3", prompt="a lighthouse", output_format="jpeg")
    assert result.data is not None and result.data[0].url is not None
    assert result.data[0].url.startswith(str(client.base_url))  # converted and hosted by the gateway
    with urllib.request.urlopen(result.data[0].url) as hosted:
        assert describe(hosted.read())[:3] == ("jpeg", 1024, 1024)
    (sent,) = upstream.received
    assert sent.fields["response_format"] == "b64_json"
    assert "output_format" not in sent.fields


def test_client_extras_reach_gpt_models_and_upstream_rejections_name_the_parameter(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    result = client.images.generate(
        model="gpt-image-1", prompt="a fox", extra_body={"safety_identifier": "u-42"}
    )
    assert result.data is not None
    assert upstream.received[0].fields["safety_identifier"] == "u-42"

    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1", prompt="a fox", extra_body={"sparkle": 3})
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["param"], error["code"]) == ("sparkle", "unknown_parameter")
    assert error["message"] == "Unknown parameter: 'sparkle'."


# --- edits and variations ------------------------------------------------------------------------------


def test_edit_with_two_images_and_a_mask(client: openai.OpenAI, upstream: Upstream) -> None:
    cat, dog = make_image(320, 320), make_image(256, 192, "webp")
    mask = make_image(320, 320, alpha=True)
    result = client.images.edit(
        model="gpt-image-1",
        image=[("cat.png", cat, "image/png"), ("dog.webp", dog, "image/webp")],
        mask=("mask.png", mask, "image/png"),
        prompt="put them on a sofa",
        input_fidelity="high",
        output_format="jpeg",
        size="1024x1536",
    )
    assert result.data is not None and decoded(result.data[0].b64_json)[:3] == ("jpeg", 1024, 1536)

    (sent,) = upstream.received
    assert sent.path == "/v1/images/edits"
    assert sent.content_type == "multipart/form-data"
    assert [(f.field, f.filename, f.content_type, f.size) for f in sent.files] == [
        ("image[]", "cat.png", "image/png", len(cat)),
        ("image[]", "dog.webp", "image/webp", len(dog)),
        ("mask", "mask.png", "image/png", len(mask)),
    ]
    assert sent.fields == {
        "model": "gpt-image-1",
        "prompt": "put them on a sofa",
        "n": "1",
        "size": "1024x1536",
        "output_format": "jpeg",
        "input_fidelity": "high",
    }


def test_large_uploads_reach_the_upstream_byte_for_byte(client: openai.OpenAI, upstream: Upstream) -> None:
    """Uploads of many network reads each are received and forwarded as views, never re-assembled by hand:
    the upstream gets exactly the client's bytes."""
    first, second = noise_png(480, 1), noise_png(480, 2)  # about 690 KB each
    mask = make_image(480, 480, alpha=True)
    client.images.edit(
        model="gpt-image-1",
        image=[("first.png", first, "image/png"), ("second.png", second, "image/png")],
        mask=("mask.png", mask, "image/png"),
        prompt="a collage",
    )
    (sent,) = upstream.received
    assert [(f.field, f.size, f.sha256) for f in sent.files] == [
        (field, len(data), hashlib.sha256(data).hexdigest())
        for field, data in (("image[]", first), ("image[]", second), ("mask", mask))
    ]


def test_edit_with_one_image_sends_part_image(client: openai.OpenAI, upstream: Upstream) -> None:
    photo = make_image(512, 512, "jpeg")
    result = client.images.edit(
        model="gpt-image-1", image=("photo.jpg", photo, "image/jpeg"), prompt="snow", n=2
    )
    assert result.data is not None and len(result.data) == 2
    assert [(f.field, f.filename, f.content_type) for f in upstream.received[0].files] == [
        ("image", "photo.jpg", "image/jpeg")
    ]


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks variations deprecated
def test_dall_e_2_variations(client: openai.OpenAI, upstream: Upstream) -> None:
    square = make_image(256, 256)
    result = client.images.create_variation(
        model="dall-e-2",
        image=("square.png", square, "image/png"),
        n=2,
        size="512x512",
        response_format="b64_json",
    )
    assert result.data is not None and len(result.data) == 2
    assert all(decoded(image.b64_json)[:3] == ("png", 512, 512) for image in result.data)
    (sent,) = upstream.received
    assert sent.path == "/v1/images/variations"
    assert sent.fields == {"model": "dall-e-2", "n": "2", "size": "512x512", "response_format": "b64_json"}
    assert [(f.field, f.filename, f.size) for f in sent.files] == [("image", "square.png", len(square))]


# --- errors --------------------------------------------------------------------------------------------


def test_moderation_block_stays_a_400_with_its_code(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.switches.failure = "moderation_blocked"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1", prompt="something forbidden")
    assert caught.value.status_code == 400
    assert caught.value.code == "moderation_blocked"
    assert "safety system" in caught.value.message


def test_dall_e_content_policy_violation(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.switches.failure = "content_policy_violation"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="something forbidden")
    assert caught.value.code == "content_policy_violation"


def test_rate_limit_stays_a_429_with_the_upstreams_delay(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.switches.failure = "rate_limited"
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="gpt-image-1", prompt="a fox")
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.response.headers["retry-after-ms"] == "3000"


def test_upstream_server_error_is_a_bad_gateway(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.switches.failure = "server_error"
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="gpt-image-1", prompt="a fox")
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_unavailable"


def test_refused_gateway_key_is_a_502_whatever_the_clients_key(upstream: Upstream, tmp_path: Path) -> None:
    for client in gateway_for(upstream, tmp_path, {"EMU_KEY": "sk-revoked"}):
        for client_key in ("client-key", UPSTREAM_KEY):
            with pytest.raises(openai.InternalServerError) as caught:
                client.with_options(api_key=client_key).images.generate(model="gpt-image-1", prompt="a fox")
            assert caught.value.status_code == 502
            assert caught.value.code == "upstream_auth_failed"
            assert "sk-revoked" not in caught.value.message
    assert all(request.headers["authorization"] == "Bearer sk-revoked" for request in upstream.received)


def test_unset_key_variable_makes_the_route_unavailable(upstream: Upstream, tmp_path: Path) -> None:
    for client in gateway_for(upstream, tmp_path, {}):
        with pytest.raises(openai.APIStatusError) as caught:
            client.images.generate(model="gpt-image-1", prompt="a fox")
        assert caught.value.status_code == 503
        assert caught.value.code == "provider_not_configured"
    assert upstream.received == []
