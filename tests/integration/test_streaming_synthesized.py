"""Streaming from upstreams that do not stream (issue #12): the official SDK's streaming iterators → the
gateway → the offline provider (real previews) and the Pixelworks plugin (one image per call, no previews),
over real sockets. Pixelworks calls are held by per-seed gates, so the order in which images complete is
the test's choice, never a race."""

from __future__ import annotations

import base64
import functools
import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from aiohttp import web
from imagegate.router import Router

from tests.emulators import pixelworks
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image
from tests.support.servers import serve_aiohttp
from tests.support.streams import by_image, decoded, kinds, raw_stream
from tests.support.waiting import wait_until

MODEL = "imagegate-offline"

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  stream_keepalive_seconds: 0.2
  retry: {{backoff_seconds: 1, max_attempts: 2}}
providers:
  local: {{plugin: offline}}
  pixel: {{plugin: pixelworks, api_key: pixel-key, base_url: "{pixel}"}}
  spare: {{plugin: pixelworks, api_key: pixel-key, base_url: "{spare}"}}
models:
  imagegate-offline: [{{provider: local}}]
  pixel: [{{provider: pixel}}]
  pixel-with-spare: [{{provider: pixel}}, {{provider: spare}}]
  pixel-quick-deadline:
    targets: [{{provider: pixel}}]
    retry: {{deadline_seconds: 0.6}}
"""

SEEDS = (42, 43, 44)  # the Pixelworks plugin sends seed + call index: one seed per image


@dataclass
class Setup:
    base_url: str
    client: openai.OpenAI
    pixel: web.Application
    spare: web.Application
    gates: dict[int, threading.Event]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    apps: dict[str, web.Application] = {}
    gates = {seed: threading.Event() for seed in SEEDS}

    def factory(name: str, **options: object) -> web.Application:
        apps[name] = pixelworks.make_app(**options)  # type: ignore[arg-type]
        return apps[name]

    with (
        serve_aiohttp(functools.partial(factory, "pixel", gates=gates)) as pixel,
        serve_aiohttp(functools.partial(factory, "spare")) as spare,
    ):
        routes = ROUTES.format(store=tmp_path / "images", pixel=pixel, spare=spare)
        with serve_gateway(routes, tmp_path, router=Router(clock=FakeClock())) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0, timeout=30)
            yield Setup(base_url, client, apps["pixel"], apps["spare"], gates)
        for gate in gates.values():
            gate.set()  # let held calls end before the emulators stop


def test_offline_generation_streams_real_previews(setup: Setup) -> None:
    stream = setup.client.images.generate(
        model=MODEL, prompt="a lighthouse", n=2, size="256x128", stream=True, partial_images=2
    )
    events = list(stream)
    assert {event.type for event in events} == {
        "image_generation.partial_image",
        "image_generation.completed",
    }
    images = by_image(events)
    assert sorted(images) == [0, 1]
    finals = []
    for image_events in images.values():
        assert kinds(image_events) == ["partial:0", "partial:1", "completed"]
        for event in image_events:
            assert decoded(event)[:3] == ("png", 256, 128)
            assert (event.size, event.output_format, event.background) == ("256x128", "png", "opaque")
            assert event.created_at > 0
        previews = [base64.b64decode(event.b64_json) for event in image_events]
        assert len(set(previews)) == 3  # each preview shows more of the picture than the last
        finals.append(previews[-1])
    assert finals[0] != finals[1]


def test_offline_edit_streams_with_the_form_field(setup: Setup) -> None:
    """Multipart edits with ``stream=true`` as a form field (the SDK's way), the mask kept, webp output."""
    photo = make_image(128, 128, "png", color=(200, 30, 30))
    mask = make_image(128, 128, "png", alpha=True)
    events = list(
        setup.client.images.edit(
            model=MODEL,
            prompt="add a moon",
            image=[("a.png", photo, "image/png"), ("b.png", make_image(64, 64, "jpeg"), "image/jpeg")],
            mask=("mask.png", mask, "image/png"),
            output_format="webp",
            stream=True,
            partial_images=1,
        )
    )
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert [decoded(event)[:3] for event in events] == [("webp", 128, 128)] * 2
    assert events[1].output_format == "webp" and events[1].image_index == 0


def test_response_format_url_hosts_each_completed_image(setup: Setup) -> None:
    events = list(
        setup.client.images.generate(
            model=MODEL,
            prompt="a fox",
            n=2,
            size="128x128",
            output_format="jpeg",
            response_format="url",
            stream=True,
            partial_images=1,
        )
    )
    completed = [event for event in events if event.type == "image_generation.completed"]
    assert len(completed) == 2 and {event.image_index for event in completed} == {0, 1}
    for event in completed:
        assert event.b64_json is None and event.url.startswith(setup.base_url + "/v1/images/hosted/")
        with urllib.request.urlopen(event.url, timeout=10) as hosted:
            assert describe(hosted.read())[:3] == ("jpeg", 128, 128)
    previews = [event for event in events if event.type == "image_generation.partial_image"]
    assert [decoded(event)[0] for event in previews] == ["jpeg", "jpeg"]  # previews stay base64


def test_validation_comes_before_the_stream(setup: Setup) -> None:
    with pytest.raises(openai.BadRequestError) as refusal:
        setup.client.images.generate(model=MODEL, prompt="x", size="100x100", stream=True)
    assert refusal.value.status_code == 400 and refusal.value.body["param"] == "size"
    answer = httpx.post(
        setup.base_url + "/v1/images/variations",
        data={"model": MODEL, "stream": "true"},
        files={"image": ("a.png", make_image(64, 64), "image/png")},
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "stream"
    assert answer.headers["content-type"] == "application/json"
    for output_format in ("gif", "svg"):  # the offline model makes both, but OpenAI streams neither
        with pytest.raises(openai.BadRequestError) as refusal:
            setup.client.images.generate(model=MODEL, prompt="x", output_format=output_format, stream=True)
        assert refusal.value.body["param"] == "stream" and output_format in refusal.value.message


def test_each_image_is_sent_as_soon_as_its_call_finishes(setup: Setup) -> None:
    """n=3 on a one-image-per-call upstream: three calls, released in the order 44, 43, 42; each completed
    event arrives while the other calls are still held, and names its image."""
    stream = setup.client.images.generate(
        model="pixel", prompt="x", n=3, size="128x128", stream=True, extra_body={"seed": 42}
    )
    arrived = []
    for seed in reversed(SEEDS):
        setup.gates[seed].set()
        event = next(stream)
        assert event.type == "image_generation.completed"
        arrived.append(event)
    assert next(stream, None) is None
    assert [event.image_index for event in arrived] == [2, 1, 0]
    assert [event.seed for event in arrived] == [44, 43, 42]  # the upstream's seed: each index is right
    assert [decoded(event)[:3] for event in arrived] == [("png", 128, 128)] * 3
    assert len({event.b64_json for event in arrived}) == 3


def test_keepalives_while_nothing_is_ready(setup: Setup) -> None:
    holder = threading.Timer(1.0, setup.gates[42].set)  # the upstream takes a second; keep-alives every 0.2 s
    holder.start()
    status, headers, body = raw_stream(
        setup.base_url + "/v1/images/generations",
        {"model": "pixel", "prompt": "x", "size": "64x64", "stream": True, "seed": 42},
    )
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    before, _, event = body.partition(b"event: ")
    assert before.count(b": keep-alive\n\n") >= 2 and before.replace(b": keep-alive\n\n", b"") == b""
    name, _, data = event.partition(b"\ndata: ")
    assert name == b"image_generation.completed" and json.loads(data)["image_index"] == 0


def test_the_deadline_still_applies(setup: Setup) -> None:
    """Keep-alives committed the answer to 200, so the deadline's failure comes as an error event."""
    stream = setup.client.images.generate(
        model="pixel-quick-deadline", prompt="x", size="64x64", stream=True, extra_body={"seed": 42}
    )
    with pytest.raises(openai.APIError) as failure:
        list(stream)
    assert failure.value.body["code"] in ("upstream_timeout", "deadline_exceeded")
    assert set(failure.value.body) == {"message", "type", "param", "code"}


def test_a_call_failing_after_the_first_event_is_retried_on_its_target(setup: Setup) -> None:
    setup.pixel["failures"][43] = 1
    stream = setup.client.images.generate(
        model="pixel-with-spare", prompt="x", n=2, size="64x64", stream=True, extra_body={"seed": 42}
    )
    setup.gates[42].set()
    first = next(stream)
    assert first.image_index == 0
    setup.gates[43].set()  # fails once, then the retry makes it
    second = next(stream)
    assert (second.image_index, second.seed) == (1, 43)
    assert next(stream, None) is None
    assert setup.spare["received"] == []


def test_no_fallback_after_the_first_event(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    """Before the first event a failure falls back as always; once an image was sent, the rest cannot come
    from another target, so the stream ends with an error event the SDK raises."""
    caplog.set_level(logging.INFO, logger="imagegate.access")
    setup.pixel["failures"][43] = 2  # both attempts fail
    stream = setup.client.images.generate(
        model="pixel-with-spare", prompt="x", n=2, size="64x64", stream=True, extra_body={"seed": 42}
    )
    setup.gates[42].set()
    assert next(stream).image_index == 0
    setup.gates[43].set()
    with pytest.raises(openai.APIError) as failure:
        next(stream)
    assert failure.value.body["code"] == "upstream_unavailable"
    assert setup.spare["received"] == []
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
    assert (line["status"], line["outcome"], line["error"]) == (200, "error", "upstream_unavailable")
    assert line["stream"]["events"] == 1 and line["stream"]["outcome"] == "upstream_unavailable"


def test_before_the_first_event_failures_fall_back(setup: Setup) -> None:
    setup.pixel["failures"].update({42: 2, 43: 2})
    setup.gates[42].set()
    setup.gates[43].set()
    events = list(
        setup.client.images.generate(
            model="pixel-with-spare", prompt="x", n=2, size="64x64", stream=True, extra_body={"seed": 42}
        )
    )
    assert sorted(event.image_index for event in events) == [0, 1]
    assert len(setup.spare["received"]) == 2


def test_client_disconnect_cancels_the_upstream_calls(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagegate.access")
    stream = setup.client.images.generate(
        model="pixel", prompt="x", n=2, size="64x64", stream=True, extra_body={"seed": 42}
    )
    setup.gates[42].set()
    assert next(stream).image_index == 0
    stream.close()  # the client leaves while the call for seed 43 is still held
    wait_until(lambda: setup.pixel["cancelled"] == [43], "the upstream to see the call given up")
    wait_until(lambda: any(r.name == "imagegate.access" for r in caplog.records), "the access log line")
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
    assert line["outcome"] == "disconnected" and line["stream"]["outcome"] == "disconnected"
    assert [attempt["outcome"] for attempt in line["attempts"]] == ["ok", "cancelled"]


def test_access_log_and_metrics_record_streams(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagegate.access")
    list(setup.client.images.generate(model=MODEL, prompt="x", size="64x64", stream=True, partial_images=2))
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
    assert (line["status"], line["outcome"]) == (200, "success")
    stream = line["stream"]
    assert (stream["events"], stream["partial_images"], stream["outcome"]) == (3, 2, "completed")
    assert 0 <= stream["first_event_ms"] <= line["latency_ms"]
    with urllib.request.urlopen(setup.base_url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert f'imagegate_streams_total{{model="{MODEL}",outcome="completed"}} 1.0' in metrics
    assert f'imagegate_stream_events_total{{kind="partial_image",model="{MODEL}"}} 2.0' in metrics
    assert f'imagegate_stream_first_event_seconds_count{{model="{MODEL}"}} 1.0' in metrics


PRICED_ROUTES = """
server:
  admin_key: admin-key
  stream_keepalive_seconds: 0.2
providers:
  local: {{plugin: offline}}
  pixel: {{plugin: pixelworks, api_key: pixel-key, base_url: "{pixel}"}}
models:
  offline-priced: [{{provider: local, price: {{usd_per_image: 0.5}}}}]
  pixel-priced: [{{provider: pixel, price: {{usd_per_image: 0.25}}}}]
clients:
  team: {{key: team-key}}
"""


def test_streams_are_priced_and_charged_image_by_image(tmp_path: Path) -> None:
    """A stream's images are charged to the client's key like a body's; a client that leaves after one image
    is charged for that image only."""
    gates = {seed: threading.Event() for seed in SEEDS}
    apps: list[web.Application] = []

    def factory() -> web.Application:
        apps.append(pixelworks.make_app(gates=gates))
        return apps[0]

    with serve_aiohttp(factory) as pixel:
        with serve_gateway(PRICED_ROUTES.format(pixel=pixel), tmp_path) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="team-key", max_retries=0, timeout=30)
            events = list(
                client.images.generate(model="offline-priced", prompt="x", n=2, size="64x64", stream=True)
            )
            assert len(events) == 2
            stream = client.images.generate(
                model="pixel-priced", prompt="x", n=2, size="64x64", stream=True, extra_body={"seed": 42}
            )
            gates[42].set()
            assert next(stream).image_index == 0
            stream.close()
            wait_until(lambda: apps[0]["cancelled"] == [43], "the held call to be given up")

            def usage() -> dict:
                request = urllib.request.Request(
                    base_url + "/admin/usage", headers={"Authorization": "Bearer admin-key"}
                )
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return json.loads(answer.read())["data"][0]

            wait_until(lambda: usage()["images"] == 3, "the charge of the stream the client left")
            assert usage()["usd"] == pytest.approx(2 * 0.5 + 0.25)
        for gate in gates.values():
            gate.set()
