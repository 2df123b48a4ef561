"""Slow and greedy clients are not held for ever: raw sockets against a gateway served as ``imagegate serve``
serves it (the protocol and options of imagegate.serving), with small limits so the tests are quick. Each
test waits for an outcome (an answer, a closed connection) with a generous cap, never for a duration."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.emulators.faulty import API_KEY, Slow, serve_faulty
from tests.support.gateway import serve_gateway
from tests.support.waiting import wait_until

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  connections:
    header_timeout_seconds: 0.5
    body_idle_seconds: 0.5
    body_min_bytes_per_second: 200
    keep_alive_seconds: 0.5
    max_header_kb: 8
    max_connections: 6
providers:
  local: {{plugin: offline}}
  slow: {{plugin: openai, api_key: {key}, base_url: "{slow}/v1"}}
models:
  imagegate-offline: [{{provider: local}}]
  slow: [{{provider: slow, upstream_model: gpt-image-1}}]
"""
CAP_SECONDS = 10.0  # the longest any test waits for the gateway to act
HEAD = b"POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    directory = tmp_path_factory.mktemp("slow-clients")
    with serve_faulty("slow") as upstreams:
        slow_url, slow = upstreams["slow"]
        routes = ROUTES.format(store=directory / "images", key=API_KEY, slow=slow_url)
        with serve_gateway(routes, Path(directory)) as base_url:
            yield base_url, slow


@contextlib.contextmanager
def connection(base_url: str) -> Iterator[socket.socket]:
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=CAP_SECONDS)
    try:
        yield sock
    finally:
        sock.close()


def answer(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection (failing if it does not within the cap)."""
    received = b""
    started = time.monotonic()
    while chunk := sock.recv(65536):
        received += chunk
        assert time.monotonic() - started < CAP_SECONDS, "the gateway kept the connection open"
    return received


def error_of(raw: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)["error"]


def test_a_connection_that_sends_nothing_is_closed(gateway: tuple[str, object]) -> None:
    with connection(gateway[0]) as sock:
        assert answer(sock) == b""  # closed, nothing to answer


def test_headers_trickled_past_the_header_timeout_get_a_408(gateway: tuple[str, object]) -> None:
    with connection(gateway[0]) as sock:
        sock.sendall(HEAD[:20])
        with contextlib.suppress(OSError):  # keep trickling until the gateway gives up on us
            for byte in HEAD[20:]:
                time.sleep(0.05)
                sock.sendall(bytes([byte]))
        status, headers, error = error_of(answer(sock))
    assert (status, error["code"]) == (408, "request_timeout") and headers["x-request-id"]
    assert headers["connection"] == "close" and set(error) == {"message", "type", "param", "code"}


def test_a_body_that_stops_arriving_gets_a_408(gateway: tuple[str, object]) -> None:
    with connection(gateway[0]) as sock:
        sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n" + b'{"prompt": "a f')
        status, headers, error = error_of(answer(sock))
    assert (status, error["code"]) == (408, "request_timeout") and headers["x-request-id"]


def test_a_body_trickled_under_the_minimum_rate_gets_a_408(gateway: tuple[str, object]) -> None:
    """A byte at a time, each well within body_idle_seconds, would hold the connection for ever (days for a
    big body): once the body has taken longer than body_idle_seconds, it must keep up the minimum rate."""
    with connection(gateway[0]) as sock:
        sock.sendall(HEAD + b"Content-Length: 100000\r\n\r\n{")
        sock.settimeout(0.1)
        started = time.monotonic()
        raw = b""
        while not raw:
            assert time.monotonic() - started < CAP_SECONDS, "the trickling client was held"
            try:
                raw = sock.recv(65536)
            except TimeoutError:
                sock.sendall(b" ")
        sock.settimeout(CAP_SECONDS)
        raw += answer(sock)
    status, headers, error = error_of(raw)
    assert (status, error["code"]) == (408, "request_timeout") and "bytes/s" in error["message"]
    assert headers["connection"] == "close"


def test_headers_over_the_size_limit_get_a_431_before_they_end(gateway: tuple[str, object]) -> None:
    with connection(gateway[0]) as sock:
        with contextlib.suppress(OSError):  # the gateway may close while we are still sending
            sock.sendall(HEAD + b"X-Padding: " + b"a" * (2 * 1024 * 1024))
        status, _, error = error_of(answer(sock))
    assert (status, error["code"]) == (431, "request_headers_too_large")


def test_over_the_connection_limit_a_client_gets_503_with_retry_after(gateway: tuple[str, object]) -> None:
    base_url = gateway[0]
    with contextlib.ExitStack() as held:
        for _ in range(6):
            held.enter_context(connection(base_url))
        busy = httpx.get(base_url + "/healthz", timeout=CAP_SECONDS)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "server_busy" and busy.headers["x-request-id"]
    deadline = time.monotonic() + CAP_SECONDS
    while httpx.get(base_url + "/healthz", timeout=CAP_SECONDS).status_code != 200:
        assert time.monotonic() < deadline, "the gateway stayed busy after the connections closed"
        time.sleep(0.05)


def test_an_idle_kept_alive_connection_is_closed(gateway: tuple[str, object]) -> None:
    with connection(gateway[0]) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        assert b"200 OK" in answer(sock)  # the answer, then the close after keep_alive_seconds


def test_a_slow_answer_is_not_cut_by_the_body_idle_timeout(gateway: tuple[str, object]) -> None:
    base_url, slow = gateway
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0, timeout=CAP_SECONDS)
    slow.then(Slow(1.2), Slow(1.2))  # type: ignore[attr-defined]  # longer than body_idle_seconds (0.5)
    result = client.images.generate(model="slow", prompt="a fox", size="1024x1024")
    assert result.data
    events = list(client.images.generate(model="slow", prompt="a fox", size="1024x1024", stream=True))
    assert events[-1].type == "image_generation.completed"


def test_a_client_that_hangs_up_mid_body_is_logged_as_gone_not_as_a_crash(
    gateway: tuple[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """A client gone before its body arrived is no gateway failure: no 500 in the access log (and in the
    metrics fed from it), no traceback at ERROR."""
    caplog.set_level(logging.INFO)
    with connection(gateway[0]) as sock:
        sock.sendall(
            HEAD + b"Content-Length: 100\r\nX-Request-Id: hung-up-mid-body\r\n\r\n" + b'{"prompt": "a f'
        )

    def line() -> dict | None:
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
        return next((entry for entry in lines if entry["request_id"] == "hung-up-mid-body"), None)

    wait_until(lambda: line() is not None, "the access log line of the request")
    assert (line()["status"], line()["outcome"]) == (499, "disconnected")  # type: ignore[index]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Bad: a\x01b\r\n\r\n",  # a control character in a header
        b"POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1x\r\n\r\n{}",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
def test_a_request_that_is_not_valid_http_gets_an_openai_shaped_400(
    gateway: tuple[str, object], raw: bytes
) -> None:
    with connection(gateway[0]) as sock:
        sock.sendall(raw)
        status, headers, error = error_of(answer(sock))
    assert status == 400 and set(error) == {"message", "type", "param", "code"}
    assert headers["x-request-id"] and headers["content-type"] == "application/json"
