"""Cooldown through the whole gateway: a target that failed K times within W seconds gets no traffic for T
seconds, then exactly one probe; the access log shows each attempt and each target passed by."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import random
import time
import urllib.request
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
    Hold,
    serve_faulty,
)
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  retry: {{max_attempts: 1}}
  cooldown: {{failures: 2, window_seconds: 60, duration_seconds: 30}}
providers:
  a: {{plugin: openai, api_key: {key}, base_url: "{a}/v1"}}
  b: {{plugin: openai, api_key: {key}, base_url: "{b}/v1"}}
models:
  gpt-image-1: [{{provider: a}}, {{provider: b}}]
  a-only: [{{provider: a, upstream_model: gpt-image-1}}]
"""


@dataclass
class Setup:
    url: str
    client: openai.OpenAI
    a: FaultyUpstream
    b: FaultyUpstream
    clock: FakeClock


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    clock = FakeClock()
    with serve_faulty("a", "b") as upstreams:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        routes = ROUTES.format(store=tmp_path / "images", key=API_KEY, a=a_url, b=b_url)
        with serve_gateway(routes, tmp_path, router=Router(clock=clock, rng=random.Random(3))) as url:
            yield Setup(url, openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0), a, b, clock)


def generate(setup: Setup, model: str = "gpt-image-1") -> None:
    setup.client.images.generate(model=model, prompt="a lighthouse", size="1024x1024")


def trip(setup: Setup) -> None:
    """Two failures of ``a`` within the window: both requests are served by ``b``, and ``a`` cools down."""
    setup.a.then(Fail(500), Fail(500))
    generate(setup)
    generate(setup)
    assert setup.a.steps_taken == ["Fail", "Fail"] and setup.b.steps_taken == ["Ok", "Ok"]


def test_a_cooled_down_target_gets_no_traffic_until_its_probe(setup: Setup) -> None:
    trip(setup)
    for _ in range(3):
        generate(setup)
    assert len(setup.a.received) == 2 and len(setup.b.received) == 5
    setup.clock.advance(29)
    generate(setup)
    assert len(setup.a.received) == 2
    setup.clock.advance(2)  # 31 s after the trip: one probe
    generate(setup)
    assert len(setup.a.received) == 3 and len(setup.b.received) == 6
    generate(setup)  # the probe succeeded: a is in service again
    assert len(setup.a.received) == 4 and len(setup.b.received) == 6


def test_a_failed_probe_cools_the_target_down_again(setup: Setup) -> None:
    trip(setup)
    setup.clock.advance(31)
    setup.a.then(Fail(503))
    generate(setup)  # the probe fails; b serves
    assert setup.a.steps_taken == ["Fail", "Fail", "Fail"]
    generate(setup)
    setup.clock.advance(29)
    generate(setup)
    assert len(setup.a.received) == 3  # no traffic for another 30 s
    setup.clock.advance(2)
    generate(setup)
    assert setup.a.steps_taken == ["Fail", "Fail", "Fail", "Ok"]


def test_only_one_probe_at_a_time(setup: Setup) -> None:
    trip(setup)
    setup.clock.advance(31)
    setup.a.then(Hold())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        probe = pool.submit(generate, setup)
        deadline = time.monotonic() + 10
        while len(setup.a.received) < 3:  # the probe has reached a and is held there
            assert time.monotonic() < deadline and not probe.done()
            time.sleep(0.01)
        generate(setup)  # meanwhile, another request passes a by
        generate(setup)
        assert len(setup.a.received) == 3 and len(setup.b.received) == 4
        setup.a.release()
        probe.result(timeout=10)
    generate(setup)
    assert len(setup.a.received) == 4


def test_with_every_target_cooling_down_the_client_is_told_when_to_come_back(setup: Setup) -> None:
    setup.a.then(Fail(500), Fail(500))
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            generate(setup, "a-only")
    with pytest.raises(openai.APIStatusError) as failure:
        generate(setup, "a-only")
    assert failure.value.status_code == 503
    assert failure.value.code == "upstream_cooling_down"
    assert failure.value.response.headers["retry-after"] == "30"
    assert len(setup.a.received) == 2


def test_the_access_log_has_one_line_per_request_with_each_attempt(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagegate.access")
    trip(setup)
    generate(setup)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
    assert len(lines) == 3
    first, _, third = lines
    assert first["model"] == "gpt-image-1" and first["status"] == 200 and first["outcome"] == "success"
    assert first["request_id"].startswith("req_")
    assert [(a["target"], a["status"], a["outcome"]) for a in first["attempts"]] == [
        ("a/gpt-image-1", 500, "upstream_unavailable"),
        ("b/gpt-image-1", 200, "ok"),
    ]
    assert all(isinstance(a["latency_ms"], int) for a in first["attempts"])
    assert third["skipped"] == [{"target": "a/gpt-image-1", "reason": "upstream_cooling_down"}]
    assert [a["target"] for a in third["attempts"]] == ["b/gpt-image-1"]
    assert not any(API_KEY in r.getMessage() or "lighthouse" in r.getMessage() for r in caplog.records)


def test_metrics_count_requests_attempts_and_targets_passed_by(setup: Setup) -> None:
    trip(setup)
    generate(setup)
    with urllib.request.urlopen(setup.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'imagegate_requests_total{model="gpt-image-1",status="200"} 3.0' in text
    assert (
        'imagegate_upstream_attempts_total{outcome="upstream_unavailable",target="a/gpt-image-1"} 2.0' in text
    )
    assert 'imagegate_upstream_attempts_total{outcome="ok",target="b/gpt-image-1"} 3.0' in text
    assert (
        'imagegate_targets_passed_by_total{reason="upstream_cooling_down",target="a/gpt-image-1"} 1.0' in text
    )
