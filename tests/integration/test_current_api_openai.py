"""The current OpenAI models and parameters (openai SDK 3.57) through the gateway to the OpenAI emulator:
each parameter forwarded natively, adapted, or refused as the model table says; retired models; unknown
parameters; models declared per account in routes.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from aiohttp import web

from tests.emulators.openai_dialect import RETIRED, ReceivedRequest, make_app
from tests.support.gateway import serve_gateway
from tests.support.images import describe, gif_frames, make_image, svg_size
from tests.support.sdk import decoded, error_of
from tests.support.servers import serve_aiohttp

KEY = "sk-emu"

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  retry: {{max_attempts: 1}}
providers:
  openai:  # behaves as api.openai.com today: the retired models are gone
    plugin: openai
    api_key: {key}
    base_url: "{today}/v1"
    models:
      gpt-image-3: {{like: gpt-image-2.5-sunburst, capabilities: {{max_images_per_call: 2}}}}
      gpt-image-2: {{capabilities: {{backgrounds: [transparent, opaque, auto]}}}}  # preview access
  legacy: {{plugin: openai, api_key: {key}, base_url: "{legacy}/v1"}}  # a compatible upstream keeping them
models:
  gpt-image-2.5-sunburst: [{{provider: openai}}]
  gpt-image-2.6-flare: [{{provider: openai}}]
  gpt-image-1.5: [{{provider: openai}}]
  gpt-image-1-mini: [{{provider: openai}}]
  gpt-image-2: [{{provider: openai}}]
  gpt-image-3: [{{provider: openai}}]
  gpt-image-4: [{{provider: openai, upstream_model: gpt-image-3}}]  # not declared: the newest family's rules
  strict:
    targets: [{{provider: openai, upstream_model: gpt-image-2.5-flare}}]
    unknown_params: refuse
  gpt-image-1: [{{provider: openai}}]
  dall-e-3:
    - {{provider: openai}}
    - {{provider: legacy}}
"""


@dataclass
class Setup:
    client: openai.OpenAI
    today: web.Application
    legacy: web.Application

    @property
    def received(self) -> list[ReceivedRequest]:
        return self.today["received"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("current-openai")
    apps: list[web.Application] = []

    def emulator(**options: object) -> web.Application:
        apps.append(make_app(api_key=KEY, **options))  # type: ignore[arg-type]
        return apps[-1]

    with (
        serve_aiohttp(
            lambda: emulator(shut_down=RETIRED, more_models={"gpt-image-3": "gpt-image-2.5-sunburst"})
        ) as today,
        serve_aiohttp(emulator) as legacy,
    ):
        routes = ROUTES.format(store=directory / "images", key=KEY, today=today, legacy=legacy)
        with serve_gateway(routes, directory, environ={}) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0)
            yield Setup(client, apps[0], apps[1])


@pytest.fixture
def client(setup: Setup) -> openai.OpenAI:
    setup.today["received"].clear()
    setup.legacy["received"].clear()
    return setup.client


# --- forwarded natively ------------------------------------------------------------------------------


def test_current_generation_parameters_reach_the_upstream(client: openai.OpenAI, setup: Setup) -> None:
    result = client.images.generate(
        model="gpt-image-2.5-sunburst",
        prompt="a fox",
        size="1536x864",
        quality="xhigh",
        complexity="high",
        moderation="low",
        background="transparent",
        safety_identifier="hash-1",
        user="legacy-user",
    )
    assert describe(decoded(result))[:3] == ("png", 1536, 864)
    assert result.safety_identifier == "hash-1" and result.quality == "xhigh"
    (sent,) = setup.received
    assert sent.fields == {
        "model": "gpt-image-2.5-sunburst",
        "prompt": "a fox",
        "n": 1,
        "size": "1536x864",
        "quality": "xhigh",
        "complexity": "high",
        "moderation": "low",
        "background": "transparent",
        "safety_identifier": "hash-1",
        "user": "legacy-user",
    }


def test_gif_is_made_upstream_with_its_frames(client: openai.OpenAI, setup: Setup) -> None:
    result = client.images.generate(
        model="gpt-image-2.6-flare",
        prompt="a ball",
        size="1024x1024",
        output_format="gif",
        frame_count=4,
        frame_duration_ms=155,
    )
    assert gif_frames(decoded(result)) == [160] * 4 and result.output_format == "gif"
    assert (setup.received[0].fields["frame_count"], setup.received[0].fields["frame_duration_ms"]) == (
        4,
        155,
    )


def test_svg_object_and_usage_and_one_svg_per_call(client: openai.OpenAI, setup: Setup) -> None:
    result = client.images.generate(
        model="gpt-image-2.5-sunburst",
        prompt="a logo",
        size="1024x1024",
        output_format="svg",
        svg={"model": "svg-author", "reasoning": {"effort": "low"}},
        n=2,
    )
    assert [svg_size(decoded(result, index)) for index in range(2)] == [(1024, 1024)] * 2
    assert [request.fields["n"] for request in setup.received] == [1, 1]  # OpenAI takes n=1 for svg
    assert setup.received[0].fields["svg"] == {"model": "svg-author", "reasoning": {"effort": "low"}}
    assert result.svg_usage is not None and result.svg_usage.model == "svg-author"
    assert result.svg_usage.reasoning_tokens == 2 * 64  # both calls added up


def test_edit_with_markup_svg_object_and_complexity_in_multipart(client: openai.OpenAI, setup: Setup) -> None:
    guide = make_image(256, 256, alpha=True)
    result = client.images.edit(
        model="gpt-image-2.5-sunburst",
        image=("photo.png", make_image(256, 256), "image/png"),
        markup=("guide.png", guide, "image/png"),
        prompt="follow the guide",
        output_format="svg",
        svg={"model": "svg-author", "reasoning": {"effort": "high"}},
        complexity="low",
        safety_identifier="hash-2",
    )
    assert svg_size(decoded(result)) == (1024, 1024)
    assert result.safety_identifier == "hash-2"
    (sent,) = setup.received
    assert [(f.field, f.filename) for f in sent.files] == [("image", "photo.png"), ("markup", "guide.png")]
    assert sent.fields["svg"] == {
        "model": "svg-author",
        "reasoning": {"effort": "high"},
    }  # as svg[model] parts
    assert (sent.fields["complexity"], sent.fields["safety_identifier"]) == ("low", "hash-2")


@pytest.mark.parametrize(("model", "fidelity"), [("gpt-image-1.5", "high"), ("gpt-image-1-mini", "low")])
def test_input_fidelity_where_documented(
    client: openai.OpenAI, setup: Setup, model: str, fidelity: str
) -> None:
    photo = ("photo.png", make_image(256, 256), "image/png")
    client.images.edit(model=model, image=photo, prompt="keep the face", input_fidelity=fidelity)
    assert setup.received[-1].fields["input_fidelity"] == fidelity


# --- refused before any call, naming where it works --------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs", "param"),
    [
        ("gpt-image-1-mini", {"input_fidelity": "high"}, "input_fidelity"),
        ("gpt-image-2", {"input_fidelity": "low"}, "input_fidelity"),
        ("gpt-image-2", {"markup": ("m.png", make_image(256, 256, alpha=True), "image/png")}, "markup"),
        ("gpt-image-1.5", {"quality": "max"}, "quality"),
        ("gpt-image-1.5", {"output_format": "svg"}, "output_format"),
    ],
)
def test_what_a_model_cannot_do_is_refused_before_the_upstream(
    client: openai.OpenAI, setup: Setup, model: str, kwargs: dict, param: str
) -> None:
    photo = ("photo.png", make_image(256, 256), "image/png")
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(model=model, image=photo, prompt="x", **kwargs)
    error = error_of(caught)
    assert error["param"] == param and "serve this request as sent:" in error["message"]
    assert setup.received == []


# --- retired models ----------------------------------------------------------------------------------


def test_a_retired_model_names_its_replacement(client: openai.OpenAI, setup: Setup) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1", prompt="a fox")
    error = error_of(caught)
    assert (error["code"], error["param"]) == ("model_retired", "model")
    assert (
        "2026-10-23" in error["message"]
        and "gpt-image-2.5-sunburst or gpt-image-2.5-flare" in error["message"]
    )
    assert len(setup.received) == 1  # asked once: the upstream's 404 is not retried


def test_a_retired_model_falls_back_to_an_upstream_that_still_serves_it(
    client: openai.OpenAI, setup: Setup
) -> None:
    result = client.images.generate(model="dall-e-3", prompt="a lighthouse", response_format="b64_json")
    assert describe(decoded(result))[:3] == ("png", 1024, 1024)
    assert len(setup.received) == 1 and len(setup.legacy["received"]) == 1


# --- models declared per account ---------------------------------------------------------------------


def test_a_model_declared_in_routes_yaml(client: openai.OpenAI, setup: Setup) -> None:
    result = client.images.generate(
        model="gpt-image-3", prompt="a fox", n=3, output_format="gif", frame_count=2
    )
    assert [len(gif_frames(decoded(result, index))) for index in range(3)] == [2, 2, 2]
    assert [request.fields["n"] for request in setup.received] == [2, 1]  # max_images_per_call: 2
    # The account declares preview access to transparency on gpt-image-2, so the gateway sends it on; this
    # emulator, like an account without that access, refuses it with its own error.
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="a sticker", background="transparent")
    assert error_of(caught)["param"] == "background"
    assert setup.received[-1].fields["background"] == "transparent"


def test_an_undeclared_model_gets_the_newest_familys_rules(client: openai.OpenAI, setup: Setup) -> None:
    result = client.images.generate(model="gpt-image-4", prompt="a fox", output_format="gif", frame_count=3)
    assert len(gif_frames(decoded(result))) == 3
    assert setup.received[0].fields["model"] == "gpt-image-3"


# --- parameters the gateway does not know ------------------------------------------------------------


def test_unknown_parameters_are_forwarded_unchanged(client: openai.OpenAI, setup: Setup) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(
            model="gpt-image-2.5-sunburst", prompt="x", extra_body={"prompt_rewriter": "off"}
        )
    error = error_of(caught)
    assert (error["param"], error["code"], error["message"]) == (
        "prompt_rewriter",
        "unknown_parameter",
        "Unknown parameter: 'prompt_rewriter'.",  # the upstream's own judgement
    )
    assert setup.received[0].fields["prompt_rewriter"] == "off"


def test_a_route_can_refuse_unknown_parameters(client: openai.OpenAI, setup: Setup) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="strict", prompt="x", extra_body={"prompt_rewriter": "off"})
    assert error_of(caught)["code"] == "unknown_parameter"
    assert setup.received == []


@pytest.mark.parametrize(
    ("model", "kwargs", "param"),
    [
        ("gpt-image-3", {"n": 3}, "n"),  # would be split into two calls
        ("gpt-image-2.5-sunburst", {"output_format": "svg", "n": 2}, "n"),  # one svg per call
        ("gpt-image-2.5-sunburst", {"output_format": "jpeg", "output_compression": 50}, None),  # native: fine
    ],
)
def test_an_unknown_parameter_pins_the_request_to_one_unchanged_call(
    client: openai.OpenAI, setup: Setup, model: str, kwargs: dict, param: str | None
) -> None:
    extra = {"extra_body": {"future_field": 1}}
    if param is None:
        with pytest.raises(openai.BadRequestError) as caught:  # forwarded: the emulator refuses it, by name
            client.images.generate(model=model, prompt="x", **kwargs, **extra)
        assert error_of(caught)["param"] == "future_field"
        return
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=model, prompt="x", **kwargs, **extra)
    error = error_of(caught)
    assert error["param"] == param and "'future_field'" in error["message"]
    assert setup.received == []
