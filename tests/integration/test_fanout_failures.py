"""What a fanned-out request does when some of its upstream calls fail (documented in imagegate.gateway):
images from calls that succeeded are kept, the missing ones are asked of the next target, and with no target
left the client gets the error, never fewer images than it asked for."""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aiohttp import web

from tests.emulators import pixelworks
from tests.support.gateway import serve_gateway
from tests.support.images import describe
from tests.support.servers import serve_aiohttp

ROUTES = """
server: {{image_store: {{directory: "{store}"}}}}
providers:
  flaky: {{plugin: pixelworks, api_key: pixel-key, base_url: "{flaky}"}}
  steady: {{plugin: pixelworks, api_key: pixel-key, base_url: "{steady}"}}
models:
  with-fallback: [{{provider: flaky}}, {{provider: steady}}]
  flaky-only: [{{provider: flaky}}]
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[openai.OpenAI, dict[str, web.Application]]]:
    apps: dict[str, web.Application] = {}

    def factory(name: str, **options: object) -> web.Application:
        apps[name] = pixelworks.make_app(**options)  # type: ignore[arg-type]
        return apps[name]

    with (
        serve_aiohttp(functools.partial(factory, "flaky", fail_after=2)) as flaky,
        serve_aiohttp(functools.partial(factory, "steady")) as steady,
    ):
        routes = ROUTES.format(store=tmp_path / "images", flaky=flaky, steady=steady)
        with serve_gateway(routes, tmp_path) as base_url:
            yield openai.OpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0), apps


def test_missing_images_come_from_the_next_target(setup) -> None:
    client, apps = setup
    result = client.images.generate(model="with-fallback", prompt="x", n=4, size="128x128")
    assert [describe(base64.b64decode(i.b64_json))[:3] for i in result.data] == [("png", 128, 128)] * 4
    flaky_ok = 2  # the flaky upstream served two images before failing
    assert len(apps["steady"]["received"]) == 4 - flaky_ok


def test_without_a_next_target_the_client_gets_the_error(setup) -> None:
    client, apps = setup
    with pytest.raises(openai.APIStatusError) as failure:
        client.images.generate(model="flaky-only", prompt="x", n=4, size="128x128")
    assert failure.value.status_code == 502
    assert "render farm on fire" not in failure.value.message  # the upstream's own words: the log's
    assert len(apps["flaky"]["received"]) >= 4  # every image was asked for (retries may add more)
