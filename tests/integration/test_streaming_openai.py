"""Native streaming (issue #12): the official SDK's streaming iterators → the gateway → the OpenAI emulator
(and the Azure one), which stream partial and completed events over real sockets. Every event's fields and
image are checked; mid-stream failures, a client that leaves, keep-alives with a slow upstream, and models
that do not stream."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from aiohttp import web
from imagegate.router import Router

from tests.emulators.azure_dialect import API_KEY as AZURE_KEY
from tests.emulators.azure_dialect import AzureEmulator
from tests.emulators.openai_dialect import ReceivedRequest, Switches, make_app
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image
from tests.support.servers import serve_aiohttp
from tests.support.streams import by_image, decoded, kinds, raw_stream
from tests.support.waiting import wait_until

UPSTREAM_KEY = "sk-upstream-secret"

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  stream_keepalive_seconds: 0.2
  retry: {{max_attempts: 2, backoff_seconds: 1}}
  cooldown: {{failures: 0}}
providers:
  emu: {{plugin: openai, api_key: "{key}", base_url: "{upstream}/v1"}}
models:
  gpt-image-1: [{{provider: emu}}]
  dall-e-3: [{{provider: emu}}]
  png-only:   # an upstream model that makes png only: the core transcodes, previews too
    - {{provider: emu, upstream_model: gpt-image-1, capabilities: {{output_formats: [png], output_compression: false}}}}
"""


@dataclass
class Setup:
    base_url: str
    client: openai.OpenAI
    app: web.Application

    @property
    def received(self) -> list[ReceivedRequest]:
        return self.app["received"]

    @property
    def switches(self) -> Switches:
        return self.app["switches"]

    @property
    def streams(self) -> list[str]:
        return self.app["streams"]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    apps: list[web.Application] = []

    def factory() -> web.Application:
        apps.append(make_app(api_key=UPSTREAM_KEY))
        return apps[0]

    with serve_aiohttp(factory) as upstream:
        routes = ROUTES.format(store=tmp_path / "images", key=UPSTREAM_KEY, upstream=upstream)
        with serve_gateway(routes, tmp_path, router=Router(clock=FakeClock())) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0, timeout=30)
            yield Setup(base_url, client, apps[0])


def test_partial_and_completed_events_are_relayed(setup: Setup) -> None:
    events = list(
        setup.client.images.generate(
            model="gpt-image-1",
            prompt="a lighthouse at dusk",
            n=2,
            size="1024x1536",
            quality="low",
            output_format="jpeg",
            safety_identifier="user-hash-1",
            stream=True,
            partial_images=2,
        )
    )
    images = by_image(events)
    assert sorted(images) == [0, 1]
    for image_events in images.values():
        assert kinds(image_events) == ["partial:0", "partial:1", "completed"]
        assert [event.type for event in image_events] == [
            "image_generation.partial_image",
            "image_generation.partial_image",
            "image_generation.completed",
        ]
        for event in image_events:
            assert decoded(event)[:3] == ("jpeg", 1024, 1536)
            assert (event.size, event.quality, event.output_format, event.background) == (
                "1024x1536",
                "low",
                "jpeg",
                "opaque",
            )
            assert abs(event.created_at - time.time()) < 60
        completed = image_events[-1]
        assert completed.safety_identifier == "user-hash-1"  # the effective end-user id, echoed
        assert completed.usage.output_tokens == 272 and completed.usage.input_tokens_details.text_tokens == 4
        assert len({event.b64_json for event in image_events}) == 3
    # One upstream call per image, each asked to stream its previews.
    assert [(r.fields["n"], r.fields["stream"], r.fields["partial_images"]) for r in setup.received] == [
        (1, True, 2),
        (1, True, 2),
    ]


def test_events_are_relayed_as_they_arrive(setup: Setup) -> None:
    """The first event reaches the client while the upstream is still streaming: nothing waits for the
    upstream's whole answer."""
    setup.switches.stream_delay = 0.3
    stream = setup.client.images.generate(
        model="gpt-image-1", prompt="x", size="1024x1024", stream=True, partial_images=2
    )
    first = next(stream)
    assert first.type == "image_generation.partial_image" and setup.streams == []
    assert kinds([first, *stream]) == ["partial:0", "partial:1", "completed"]
    wait_until(lambda: setup.streams == ["completed"], "the upstream to note its stream")


def test_multipart_edit_streams(setup: Setup) -> None:
    events = list(
        setup.client.images.edit(
            model="gpt-image-1",
            prompt="add a moon",
            image=[("a.png", make_image(1024, 1024), "image/png")],
            mask=("mask.png", make_image(1024, 1024, alpha=True), "image/png"),
            size="1024x1024",
            stream=True,
            partial_images=1,
        )
    )
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert [decoded(event)[:3] for event in events] == [("png", 1024, 1024)] * 2
    (received,) = setup.received
    assert received.content_type == "multipart/form-data"
    assert (received.fields["stream"], received.fields["partial_images"]) == ("true", "1")
    assert [file.field for file in received.files] == ["image", "mask"]


def test_previews_and_images_are_transcoded_where_the_upstream_cannot(setup: Setup) -> None:
    events = list(
        setup.client.images.generate(
            model="png-only",
            prompt="x",
            size="1024x1024",
            output_format="webp",
            output_compression=60,
            stream=True,
            partial_images=1,
        )
    )
    assert kinds(events) == ["partial:0", "completed"]
    assert [decoded(event)[:3] for event in events] == [("webp", 1024, 1024)] * 2
    assert [event.output_format for event in events] == ["webp", "webp"]
    assert "output_format" not in setup.received[0].fields


def test_url_mode_hosts_the_completed_images(setup: Setup) -> None:
    events = list(
        setup.client.images.generate(
            model="gpt-image-1",
            prompt="x",
            n=2,
            size="1024x1024",
            response_format="url",
            stream=True,
            partial_images=1,
        )
    )
    completed = [event for event in events if event.type == "image_generation.completed"]
    assert sorted(event.image_index for event in completed) == [0, 1]
    for event in completed:
        assert event.b64_json is None and event.usage.output_tokens == 272
        with urllib.request.urlopen(event.url, timeout=10) as hosted:
            assert describe(hosted.read())[:3] == ("png", 1024, 1024)
    assert "response_format" not in setup.received[0].fields  # GPT models refuse it: the core hosts


def test_an_error_before_the_first_event_is_an_http_error(setup: Setup) -> None:
    setup.switches.failure = "moderation_blocked"
    with pytest.raises(openai.BadRequestError) as refusal:
        setup.client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=1)
    assert refusal.value.code == "moderation_blocked"
    assert refusal.value.response.headers["content-type"] == "application/json"


def test_a_failed_stream_is_retried_on_its_target(setup: Setup) -> None:
    """The upstream fails after its first event; the retry's stream completes. The client saw the first
    attempt's preview, then the retry's previews and image."""
    setup.switches.stream_failures = ["error_event"]
    events = list(
        setup.client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=2)
    )
    assert kinds(events) == ["partial:0", "partial:0", "partial:1", "completed"]
    assert decoded(events[-1])[:3] == ("png", 1024, 1024)
    wait_until(lambda: setup.streams == ["failed", "completed"], "the upstream to note its two streams")


@pytest.mark.parametrize(
    ("failure", "code"), [("error_event", "upstream_error"), ("drop", "upstream_unavailable")]
)
def test_a_mid_stream_failure_ends_in_an_error_event(setup: Setup, failure: str, code: str) -> None:
    setup.switches.stream_failures = [failure, failure]  # the retry fails too
    stream = setup.client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=2)
    seen = []
    with pytest.raises(openai.APIError) as raised:
        for event in stream:
            seen.append(event)
    assert kinds(seen) == ["partial:0", "partial:0"]
    assert raised.value.body["code"] == code and raised.value.body["type"] == "upstream_error"
    assert set(raised.value.body) == {"message", "type", "param", "code"}
    assert UPSTREAM_KEY not in raised.value.message and "127.0.0.1" not in raised.value.message
    ending = {"error_event": "failed", "drop": "dropped"}[failure]
    wait_until(lambda: setup.streams == [ending, ending], "the upstream to note its two streams")


def test_a_client_that_leaves_cancels_the_upstream_stream(setup: Setup) -> None:
    setup.switches.stream_delay = 0.3
    stream = setup.client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=3)
    assert next(stream).partial_image_index == 0
    stream.close()
    wait_until(lambda: setup.streams == ["cancelled"], "the upstream to see its stream given up")


def test_keepalives_while_the_upstream_is_slow(setup: Setup) -> None:
    setup.switches.stream_delay = 1.0
    status, _, body = raw_stream(
        setup.base_url + "/v1/images/generations",
        {"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 0},
    )
    assert status == 200
    before, _, rest = body.partition(b"event: ")
    assert before.count(b": keep-alive\n\n") >= 2 and before.replace(b": keep-alive\n\n", b"") == b""
    name, _, data = rest.partition(b"\ndata: ")
    completed = json.loads(data)
    assert name == b"image_generation.completed" and completed["type"] == name.decode()
    assert describe(base64.b64decode(completed["b64_json"]))[:3] == ("png", 1024, 1024)


def test_a_model_that_does_not_stream_is_streamed_by_the_gateway(setup: Setup) -> None:
    events = list(
        setup.client.images.generate(
            model="dall-e-3",
            prompt="x",
            size="1024x1792",
            response_format="b64_json",
            stream=True,
            partial_images=2,
        )
    )
    (completed,) = events  # no previews: dall-e-3 makes none
    assert completed.type == "image_generation.completed" and completed.image_index == 0
    assert decoded(completed)[:3] == ("png", 1024, 1792)
    assert completed.revised_prompt.startswith("A detailed, vivid rendering")
    assert "stream" not in setup.received[0].fields and "partial_images" not in setup.received[0].fields


def test_a_streamed_url_model_sends_base64_unless_the_client_asks_for_urls(setup: Setup) -> None:
    """dall-e answers with URLs by default, but a completed event carries ``b64_json`` (the SDK's event type
    requires it): a client that streams without ``response_format`` gets base64, with the format produced."""
    (completed,) = setup.client.images.generate(model="dall-e-3", prompt="x", stream=True)
    assert decoded(completed)[:3] == ("png", 1024, 1024)
    assert completed.output_format == "png" and getattr(completed, "url", None) is None
    assert setup.received[0].fields["response_format"] == "b64_json"  # no download of the upstream's URL


AZURE_ROUTES = """
server:
  image_store: {{directory: "{store}"}}
providers:
  deployment-form: {{plugin: azure, endpoint: "{endpoint}", api_version: 2025-04-01-preview, api_key: "{key}"}}
  deployment-streaming:
    {{plugin: azure, endpoint: "{endpoint}", api_version: 2025-04-01-preview, api_key: "{key}", streaming: true}}
  v1: {{plugin: azure, endpoint: "{endpoint}", url_form: v1, api_key: "{key}"}}
models:
  on-deployment-url: [{{provider: deployment-form, deployment: gpt-image, model: gpt-image-1}}]
  on-deployment-url-streaming: [{{provider: deployment-streaming, deployment: gpt-image, model: gpt-image-1}}]
  on-v1: [{{provider: v1, deployment: gpt-image, model: gpt-image-1}}]
"""


@pytest.mark.parametrize(
    ("model", "asked_to_stream"),
    [("on-v1", True), ("on-deployment-url-streaming", True), ("on-deployment-url", False)],
)
def test_azure_streams_where_its_api_does(tmp_path: Path, model: str, asked_to_stream: bool) -> None:
    """Azure is asked to stream on the v1 API (or where the account says so), and its previews are relayed;
    elsewhere the gateway streams each image from Azure's whole answer. Either way the client streams, and
    Azure's png becomes the webp the client asked for."""
    emulator = AzureEmulator()
    with serve_aiohttp(emulator.app) as endpoint:
        routes = AZURE_ROUTES.format(store=tmp_path / "images", endpoint=endpoint, key=AZURE_KEY)
        with serve_gateway(routes, tmp_path) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0, timeout=30)
            events = list(
                client.images.generate(
                    model=model, prompt="x", n=2, output_format="webp", stream=True, partial_images=1
                )
            )
    expected = ["partial:0", "completed"] if asked_to_stream else ["completed"]
    assert {index: kinds(image) for index, image in by_image(events).items()} == {0: expected, 1: expected}
    assert {decoded(event)[:3] for event in events} == {("webp", 1024, 1024)}
    sent = [request.json for request in emulator.received]
    assert [(body.get("stream"), body.get("partial_images"), body["n"]) for body in sent] == (
        [(True, 1, 1)] * 2 if asked_to_stream else [(None, None, 1)] * 2
    )
