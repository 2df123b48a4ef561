"""Retries and fallback against faulty upstreams: the official SDK (no retries of its own) → the gateway (with a
fake clock, so backoff and Retry-After cost no time) → OpenAI-dialect upstreams whose answers are scripted."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from imagegate.router import Router

from tests.emulators.faulty import (
    API_KEY,
    Fail,
    FaultyUpstream,
    Reset,
    Slow,
    Truncated,
    serve_faulty,
)
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway
from tests.support.images import describe
from tests.support.servers import free_port

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  retry: {{max_attempts: 3, backoff_seconds: 1, max_backoff_seconds: 4, max_retry_after_seconds: 30}}
providers:
  a: {{plugin: openai, api_key: {key}, base_url: "{a}/v1", timeout: {{connect: 2, total: 1.5}}}}  # real answers fit on a loaded machine; Slow(30) does not
  b: {{plugin: openai, api_key: {key}, base_url: "{b}/v1"}}
  nowhere: {{plugin: openai, api_key: {key}, base_url: "http://127.0.0.1:{closed_port}/v1"}}
models:
  gpt-image-1: [{{provider: a}}, {{provider: b}}]
  a-only:
    targets: [{{provider: a, upstream_model: gpt-image-1}}]
    retry: {{max_attempts: 5, deadline_seconds: 30}}
    cooldown: {{failures: 0}}   # off: three failures in a row would otherwise stop the retries
  refusals-fall-back:
    targets: [{{provider: a, upstream_model: gpt-image-1}}, {{provider: b, upstream_model: gpt-image-1}}]
    fallback_on_content_policy: true
  unreachable-first: [{{provider: nowhere, upstream_model: gpt-image-1}}, {{provider: b, upstream_model: gpt-image-1}}]
  wide:
    - {{provider: a, upstream_model: gpt-image-1}}
    - {{provider: b, upstream_model: dall-e-2}}   # cannot make 1536x1024: never tried
    - {{provider: b, upstream_model: gpt-image-1}}
"""


@dataclass
class Setup:
    client: openai.OpenAI
    a: FaultyUpstream
    b: FaultyUpstream
    clock: FakeClock


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    clock = FakeClock()
    with serve_faulty("a", "b") as upstreams:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        routes = ROUTES.format(
            store=tmp_path / "images", key=API_KEY, a=a_url, b=b_url, closed_port=free_port()
        )
        router = Router(clock=clock, rng=random.Random(7))
        with serve_gateway(routes, tmp_path, router=router) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0)
            yield Setup(client, a, b, clock)


def generate(setup: Setup, model: str = "gpt-image-1", **options: object) -> list[tuple[str, int, int]]:
    result = setup.client.images.generate(model=model, prompt="a lighthouse", size="1024x1024", **options)  # type: ignore[arg-type]
    assert result.data is not None
    return [describe(base64.b64decode(image.b64_json or ""))[:3] for image in result.data]


def test_500_reset_and_truncated_body_are_retried_until_the_image_comes(setup: Setup) -> None:
    setup.a.then(Fail(500), Reset(), Truncated())
    assert generate(setup, "a-only") == [("png", 1024, 1024)]
    assert setup.a.steps_taken == ["Fail", "Reset", "Truncated", "Ok"]
    assert setup.b.received == []
    # Exponential backoff from 1 s, doubling, capped at 4 s, each jittered into [half, all] of its step.
    first, second, third = setup.clock.sleeps
    assert 0.5 <= first <= 1 and 1 <= second <= 2 and 2 <= third <= 4


@pytest.mark.parametrize(
    ("failure", "expected_wait"),
    [
        (Fail(429, "Rate limit reached.", "requests", "rate_limit_exceeded", retry_after="7"), 7.0),
        (Fail(429, "Rate limit reached.", "requests", None, retry_after="3", retry_after_ms="2500"), 2.5),
        (Fail(503, "Overloaded.", "server_error", None, retry_after="12"), 12.0),
    ],
)
def test_the_upstreams_retry_delay_is_honoured(setup: Setup, failure: Fail, expected_wait: float) -> None:
    setup.a.then(failure)
    assert generate(setup) == [("png", 1024, 1024)]
    assert setup.clock.sleeps == [expected_wait]
    assert setup.a.steps_taken == ["Fail", "Ok"] and setup.b.received == []


def test_a_retry_delay_over_the_cap_moves_on_to_the_next_target(setup: Setup) -> None:
    setup.a.then(Fail(429, "Quota exhausted for this minute.", "requests", None, retry_after="120"))
    assert generate(setup) == [("png", 1024, 1024)]
    assert setup.clock.sleeps == []
    assert setup.a.steps_taken == ["Fail"] and setup.b.steps_taken == ["Ok"]


def test_an_upstream_400_is_neither_retried_nor_sent_elsewhere(setup: Setup) -> None:
    setup.a.then(Fail(400, "Invalid value for 'size'.", "invalid_request_error", "invalid_value"))
    with pytest.raises(openai.BadRequestError) as refused:
        generate(setup)
    assert "Invalid value for 'size'" in refused.value.message
    assert setup.a.steps_taken == ["Fail"] and setup.b.received == [] and setup.clock.sleeps == []


def test_an_exhausted_target_falls_back_to_the_healthy_one(setup: Setup) -> None:
    setup.a.then(Fail(500), Fail(502), Fail(500))
    assert generate(setup, n=2) == [("png", 1024, 1024)] * 2
    assert setup.a.steps_taken == ["Fail", "Fail", "Fail"]  # max_attempts: 3
    assert setup.b.steps_taken == ["Ok"] and setup.b.received[0].body["n"] == 2


def test_a_response_slower_than_the_timeout_is_a_timeout_and_is_retried(setup: Setup) -> None:
    setup.a.then(Slow(30))  # a's total timeout is 1.5 s
    assert generate(setup) == [("png", 1024, 1024)]
    assert setup.a.steps_taken == ["Slow", "Ok"] and setup.b.received == []
    assert len(setup.clock.sleeps) == 1


def test_an_unreachable_upstream_falls_back(setup: Setup) -> None:
    assert generate(setup, "unreachable-first") == [("png", 1024, 1024)]
    assert setup.b.steps_taken == ["Ok"]
    assert len(setup.clock.sleeps) == 2  # the connection was refused three times


def test_the_deadline_stops_retries(setup: Setup) -> None:
    # The deadline is 30 s: after a 20 s wait and a second failure, another 20 s wait would pass it.
    setup.a.then(*[Fail(503, "Overloaded.", "server_error", None, retry_after="20")] * 3)
    with pytest.raises(openai.APIStatusError) as failure:
        generate(setup, "a-only")
    assert failure.value.status_code == 502
    assert setup.clock.sleeps == [20.0] and setup.a.steps_taken == ["Fail", "Fail"]


BLOCKED = Fail(
    400,
    "Your request was rejected by the safety system.",
    "image_generation_user_error",
    "moderation_blocked",
)


def test_a_content_policy_refusal_reaches_the_client_by_default(setup: Setup) -> None:
    setup.a.then(BLOCKED)
    with pytest.raises(openai.BadRequestError) as refused:
        generate(setup)
    assert refused.value.code == "moderation_blocked"
    assert setup.b.received == []


def test_a_model_can_fall_back_on_content_policy_refusals(setup: Setup) -> None:
    setup.a.then(BLOCKED)
    assert generate(setup, "refusals-fall-back") == [("png", 1024, 1024)]
    assert setup.a.steps_taken == ["Fail"] and setup.b.steps_taken == ["Ok"]
    assert setup.clock.sleeps == []  # never retried on the same target


def test_fallback_skips_a_target_that_cannot_make_the_image(setup: Setup) -> None:
    setup.a.then(Fail(500), Fail(500), Fail(500))
    result = setup.client.images.generate(model="wide", prompt="a lighthouse", size="1536x1024")
    assert result.data is not None
    assert describe(base64.b64decode(result.data[0].b64_json or ""))[:3] == ("png", 1536, 1024)
    assert [r.body["model"] for r in setup.b.received] == ["gpt-image-1"]  # never dall-e-2
