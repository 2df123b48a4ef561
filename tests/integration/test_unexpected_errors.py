"""A failure nothing anticipated: the client's 500 carries the request id, and the log line names it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from imagegate import hookimpl

from tests.support.gateway import serve_gateway

ROUTES = """
server: {{image_store: {{directory: "{store}"}}}}
providers: {{local: {{plugin: offline}}}}
models: {{imagegate-offline: [{{provider: local}}]}}
"""


class BrokenObserver:
    """A plugin whose observation hook has a bug."""

    @hookimpl
    def imagegate_request_received(self, request: object, request_id: str) -> None:
        raise RuntimeError("observer bug")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("unexpected")
    routes = ROUTES.format(store=directory / "images")
    with serve_gateway(routes, Path(directory), environ={}, plugins=[BrokenObserver()]) as base_url:
        yield base_url


def test_an_unexpected_500_carries_the_request_id_and_the_log_names_it(
    gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="imagegate"):
        response = httpx.post(
            gateway + "/v1/images/generations",
            json={"model": "imagegate-offline", "prompt": "x"},
            headers={"x-request-id": "trace-500-abc"},
        )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-500-abc"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and "observer bug" not in error["message"]
    logged = [r for r in caplog.records if r.name == "imagegate" and r.exc_info]
    assert logged and "trace-500-abc" in logged[0].getMessage()


def test_a_405_names_the_allowed_methods(gateway: str) -> None:
    response = httpx.get(gateway + "/v1/images/generations")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
