"""Hot reload of routes.yaml in a running gateway: a new model appears without dropping requests in flight,
and a broken file keeps the running table while /readyz states the error."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

HEAD = """
server:
  image_store: {{directory: "{store}"}}
  reload_check_seconds: 0.02
providers:
  a: {{plugin: openai, api_key: {key}, base_url: "{a}/v1"}}
  b: {{plugin: openai, api_key: {key}, base_url: "{b}/v1"}}
"""
FIRST = """models:
  gpt-image-1: [{provider: a}]
"""
WITH_FALLBACK = """models:
  gpt-image-1: {targets: [{provider: a}, {provider: b}], aliases: [image]}
"""
SECOND = """models:
  gpt-image-1: [{provider: b}]
  house-style: {targets: [{provider: b, upstream_model: gpt-image-1}], aliases: [house]}
"""


@dataclass
class Setup:
    url: str
    client: openai.OpenAI
    routes: Path
    head: str
    a: FaultyUpstream
    b: FaultyUpstream

    def write(self, models: str) -> None:
        self.routes.write_text(self.head + models)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.load(response)

    def model_ids(self) -> set[str]:
        return {entry["id"] for entry in self.get("/v1/models")["data"]}


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with serve_faulty("a", "b") as upstreams:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        head = HEAD.format(store=tmp_path / "images", key=API_KEY, a=a_url, b=b_url)
        with serve_gateway(head + FIRST, tmp_path, router=Router(clock=FakeClock())) as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
            yield Setup(url, client, tmp_path / "routes.yaml", head, a, b)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def generate(setup: Setup, model: str) -> int:
    result = setup.client.images.generate(model=model, prompt="a lighthouse", size="1024x1024")
    return len(result.data or [])


def test_a_reload_adds_a_model_without_dropping_requests_in_flight(setup: Setup) -> None:
    setup.a.then(Hold())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(generate, setup, "gpt-image-1")
        wait_for(lambda: len(setup.a.received) == 1, "the request to reach upstream a")
        setup.write(SECOND)
        wait_for(lambda: "house-style" in setup.model_ids(), "the new table")
        assert generate(setup, "house-style") == 1 and generate(setup, "house") == 1
        assert generate(setup, "gpt-image-1") == 1  # new requests follow the new table, to b
        assert len(setup.b.received) == 3 and not in_flight.done()
        setup.a.release()
        assert in_flight.result(timeout=10) == 1  # finished on the table it started with, at a
    assert len(setup.a.received) == 1
    assert setup.get("/readyz")["reload_error"] is None


@pytest.mark.parametrize(
    ("models", "words"),
    [
        ("models: {gpt-image-1: [{provider: a}]\n", "not valid YAML"),
        ("models:\n  gpt-image-1: [{provider: a, wieght: 2}]\n", "models.gpt-image-1.targets[0]"),
        ("models:\n  x: {alias_of: y}\n  y: {alias_of: x}\n", "aliases form a cycle"),
    ],
)
def test_a_broken_file_keeps_the_running_table(setup: Setup, models: str, words: str) -> None:
    setup.write(models)
    wait_for(lambda: setup.get("/readyz")["reload_error"] is not None, "the reload error")
    ready = setup.get("/readyz")
    assert ready["status"] == "ready" and words in ready["reload_error"]
    assert generate(setup, "gpt-image-1") == 1 and len(setup.a.received) == 1  # the old table serves
    setup.write(SECOND)
    wait_for(lambda: setup.get("/readyz")["reload_error"] is None, "the fixed file to load")
    assert "house-style" in setup.model_ids()


def test_a_cooling_target_stays_cooling_across_a_reload(setup: Setup) -> None:
    setup.a.then(Fail(500), Fail(500), Fail(500))  # three failures: the default cooldown opens
    with pytest.raises(openai.InternalServerError):
        generate(setup, "gpt-image-1")
    setup.write(WITH_FALLBACK)
    wait_for(lambda: "image" in setup.model_ids(), "the new table")
    assert generate(setup, "gpt-image-1") == 1
    assert len(setup.a.received) == 3 and len(setup.b.received) == 1  # a was passed by


def test_a_request_whose_body_arrives_across_a_reload_keeps_the_table_it_started_with(setup: Setup) -> None:
    """The table is taken once when the request's handler starts: parsing and routing use the same one."""
    body = json.dumps({"model": "gpt-image-1", "prompt": "a lighthouse", "size": "1024x1024"}).encode()
    host, port = setup.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        head = f"POST /v1/images/generations HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer k\r\n"
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body[:10])
        time.sleep(0.2)  # the handler has started and waits for the rest of the body
        setup.write(SECOND)
        wait_for(lambda: "house-style" in setup.model_ids(), "the new table")
        conn.sendall(body[10:])
        answer = conn.makefile("rb").readline()
    assert answer.startswith(b"HTTP/1.1 200")
    assert len(setup.a.received) == 1 and not setup.b.received  # the old table's target, not the new one's
