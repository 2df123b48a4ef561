"""``imagegate serve --workers 2`` as a real process: with shared state its workers hold one client limit and
/metrics counts every worker's requests; without it, serve warns that each worker keeps its own state."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from imagegate.cli import workers_warning
from imagegate.config import parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers

from tests.support.servers import free_port

KEY = "ig-workers-key"
ROUTES = """
server:{shared_state}
providers:
  local: {{plugin: offline}}
models:
  imagegate-offline: [{{provider: local}}]
clients:
  team: {{key: "{key}", images_per_minute: 5}}
"""


@contextlib.contextmanager
def serve(routes: str, directory: Path, workers: int) -> Iterator[tuple[str, list[bytes]]]:
    path = directory / "routes.yaml"
    path.write_text(routes)
    port = free_port()
    command = [sys.executable, "-m", "imagegate.cli", "serve", "--routes", str(path), "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "imagegate serve did not answer within 30 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", errors
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        errors.append(stderr)


def test_workers_share_limits_and_metrics(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    # A generous Redis timeout: a busy test machine must not turn shared counting into per-process counting.
    state = f'redis_url: "{redis_url}", key_prefix: "{redis_prefix}", timeout_seconds: 2'
    shared = f" {{shared_state: {{{state}}}}}"
    with serve(ROUTES.format(shared_state=shared, key=KEY), tmp_path, workers=2) as (url, stderr):
        answers = []
        for _ in range(4):  # a client (a connection) per request, so the workers share the requests
            with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
                try:
                    client.images.generate(model="imagegate-offline", prompt="p", n=2, size="256x256")
                    answers.append(200)
                except openai.RateLimitError:
                    answers.append(429)
        assert answers == [200, 200, 429, 429]  # 5 images a minute, whichever worker counts them
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            text = response.read().decode()
    counted = {
        line.split('status="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("imagegate_requests_total{")
    }
    assert counted == {"200": 2.0, "429": 2.0}  # the sum over both workers
    assert b"without server.shared_state" not in stderr[0]


@pytest.fixture(scope="module")
def providers() -> dict:
    return collect_providers(build_plugin_manager({}))


def test_workers_without_shared_state_are_warned_about(providers: dict) -> None:
    alone = parse_routes(ROUTES.format(shared_state=" {}", key=KEY), "routes.yaml", providers, {})
    shared = parse_routes(
        ROUTES.format(shared_state=' {shared_state: {redis_url: "redis://r"}}', key=KEY),
        "routes.yaml",
        providers,
        {},
    )
    warning = workers_warning(alone, 4)
    assert warning is not None and "--workers 4 without server.shared_state" in warning
    assert workers_warning(alone, 1) is None and workers_warning(shared, 4) is None


def test_serve_prints_the_workers_warning(tmp_path: Path) -> None:
    with serve(ROUTES.format(shared_state=" {}", key=KEY), tmp_path, workers=2) as (_, stderr):
        pass
    assert b"--workers 2 without server.shared_state" in stderr[0]
