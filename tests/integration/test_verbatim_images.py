"""An upstream's base64 reaches the client byte for byte, however the upstream lays out its JSON, and only
after it is verified: the gateway finds each image literal without decoding it and sends it from the
upstream's buffer (:mod:`imagegate.verbatim`), so these tests look at the raw bytes on the wire, not only at
what the SDK makes of them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from imagegate.router import Router

from tests.emulators.faulty import API_KEY, FaultyUpstream, Verbatim, serve_faulty
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway
from tests.support.images import noise_png

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  retry: {{max_attempts: 2, backoff_seconds: 1}}
  cooldown: {{failures: 0}}  # every test here may fail attempts on purpose
providers:
  a: {{plugin: openai, api_key: {key}, base_url: "{a}/v1"}}
models:
  gpt-image-1: [{{provider: a}}]
"""


IMAGES = [noise_png(200, seed) for seed in range(3)]  # about 120 KB each, 160 KB of base64
TEXTS = [base64.b64encode(png).decode() for png in IMAGES]


@dataclass
class Setup:
    base_url: str
    upstream: FaultyUpstream


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp_path = tmp_path_factory.mktemp("verbatim")
    with serve_faulty("a") as upstreams:
        url, upstream = upstreams["a"]
        routes = ROUTES.format(store=tmp_path / "images", key=API_KEY, a=url)
        with serve_gateway(routes, tmp_path, router=Router(clock=FakeClock())) as base_url:
            yield Setup(base_url, upstream)


def post(setup: Setup, n: int) -> httpx.Response:
    body = {"model": "gpt-image-1", "prompt": "noise", "n": n, "size": "1024x1024"}
    answer = httpx.post(setup.base_url + "/v1/images/generations", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["content-length"]) == len(answer.content)
    return answer


def compact(items: list[dict[str, object]]) -> bytes:
    return json.dumps(
        {"created": 1700000000, "data": items, "size": "200x200"}, separators=(",", ":")
    ).encode()


def spaced(items: list[dict[str, object]]) -> bytes:
    return json.dumps({"data": items, "created": 1700000000, "usage": {"total_tokens": 3}}, indent=3).encode()


LAYOUTS = {
    "compact": compact([{"b64_json": text} for text in TEXTS]),
    "spaced": spaced([{"b64_json": text} for text in TEXTS]),
    # Keys around the literal that look like it, inside strings, and the literal last in its item.
    "decoys": compact(
        [
            {"revised_prompt": 'say "b64_json": "AAAA" twice', 'x"b64_json': "BBBB", "b64_json": text}
            for text in TEXTS
        ]
    ),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_upstreams_base64_reaches_the_client_byte_for_byte(setup: Setup, layout: str) -> None:
    setup.upstream.then(Verbatim(LAYOUTS[layout]))
    answer = post(setup, 3)
    for text in TEXTS:  # the literal as the upstream wrote it, on the wire
        assert b'"' + text.encode() + b'"' in answer.content
    body = answer.json()
    assert [item["b64_json"] for item in body["data"]] == TEXTS
    assert body["size"] == "200x200" and body["output_format"] == "png"  # read from the image itself
    if layout == "decoys":
        assert body["data"][0]["revised_prompt"] == 'say "b64_json": "AAAA" twice'
        assert body["data"][0]['x"b64_json'] == "BBBB"


def test_a_literal_with_json_escapes_is_passed_on_as_valid_json(setup: Setup) -> None:
    escaped = compact([{"b64_json": "PLACE"}]).replace(b"PLACE", TEXTS[0].replace("/", "\\/").encode())
    setup.upstream.then(Verbatim(escaped))
    assert post(setup, 1).json()["data"][0]["b64_json"] == TEXTS[0]


@pytest.mark.parametrize("spoiler", [b"\x01", b"\xff", b'\\"'], ids=["control", "not-utf8", "escaped-quote"])
def test_a_literal_that_is_not_valid_json_is_never_passed_on(setup: Setup, spoiler: bytes) -> None:
    """The upstream's answer is not JSON: the attempt fails (and is retried), and the client gets the retry's
    image, never the broken bytes."""
    middle = len(TEXTS[0]) // 2
    broken = TEXTS[0][:middle].encode() + spoiler + TEXTS[0][middle + 1 :].encode()
    setup.upstream.then(Verbatim(compact([{"b64_json": "PLACE"}]).replace(b"PLACE", broken)))
    taken = len(setup.upstream.received)
    answer = post(setup, 1)
    assert setup.upstream.steps_taken[taken:] == ["Verbatim", "Ok"]
    assert spoiler not in answer.content
    assert base64.b64decode(answer.json()["data"][0]["b64_json"])[:8] == b"\x89PNG\r\n\x1a\n"
