"""Secrets and internals stay out of what the gateway shows: a broken routes.yaml on /readyz and in
``imagegate check`` (no file text around the error, no secret values), credentials in URLs (left out of every
message, a load error in an account), and the client's errors (no upstream host or port; rounded durations)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from imagegate.cli import main
from imagegate.config import RoutesError, parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers
from imagegate.router import Router

from tests.emulators.faulty import API_KEY, Fail, Slow, serve_faulty
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway
from tests.support.servers import free_port

CANARY = "sk-canary-4f1d9b7c2e8a6d3f"
# Broken files whose YAML error PyYAML reports with the line holding the key, cut around the error.
BROKEN = [
    f"providers:\n  oa: {{plugin: openai, api_key: {CANARY}: x}}\n",
    f"providers:\n  oa:\n    plugin: openai\n    api_key: {CANARY}\tabc: d\n",
    f'providers:\n  oa:\n    plugin: openai\n    api_key: "{CANARY}\\q"\n',
    f"providers:\n  oa: {{plugin: openai}}\n  api_key: {CANARY}\n    x: y\n",
]


@pytest.fixture(scope="module")
def providers() -> dict:
    return collect_providers(build_plugin_manager({}))


@pytest.mark.parametrize("text", BROKEN)
def test_a_yaml_error_names_the_line_but_never_shows_it(text: str, providers: dict) -> None:
    with pytest.raises(RoutesError) as broken:
        parse_routes(text, "routes.yaml", providers, {})
    message = str(broken.value)
    assert "line " in message and "column " in message
    assert "canary" not in message and "4f1d9b7c" not in message


def test_imagegate_check_shows_no_secret_of_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for number, text in enumerate(BROKEN):
        path = tmp_path / f"broken{number}.yaml"
        path.write_text(text)
        assert main(["check", str(path)]) == 1
        out = capsys.readouterr()
        assert "not valid YAML" in out.err and "canary" not in out.err + out.out


@pytest.mark.parametrize(
    ("account", "key"),
    [
        ("{plugin: openai, api_key: k, base_url: 'https://admin:hunter2@api.example.com/v1'}", "base_url"),
        ("{plugin: stability, api_key: k, base_url: 'https://admin:hunter2@api.stability.ai'}", "base_url"),
        (
            "{plugin: azure, endpoint: 'https://admin:hunter2@x.openai.azure.com', api_key: k, api_version: v}",
            "endpoint",
        ),
    ],
)
def test_credentials_in_an_account_url_are_a_load_error_that_does_not_echo_them(
    account: str, key: str, providers: dict
) -> None:
    text = f"providers:\n  up: {account}\nmodels: {{}}\n"
    with pytest.raises(RoutesError) as refused:
        parse_routes(text, "routes.yaml", providers, {})
    assert refused.value.path == f"providers.up.{key}" and "credentials" in refused.value.message
    assert "hunter2" not in str(refused.value) and "admin" not in str(refused.value)


def test_a_bad_value_of_a_secret_looking_key_is_not_quoted(providers: dict) -> None:
    # A key pasted into `credential` (which takes "azure-identity") would be quoted by the validator.
    text = (
        f"providers:\n  az: {{plugin: azure, endpoint: 'https://x.openai.azure.com', credential: {CANARY}}}\n"
    )
    with pytest.raises(RoutesError) as refused:
        parse_routes(text + "models: {}\n", "routes.yaml", providers, {})
    assert refused.value.path == "providers.az.credential" and "canary" not in str(refused.value)
    assert "Invalid enum value" in refused.value.message


def test_an_account_problem_does_not_echo_the_url(providers: dict) -> None:
    text = "providers:\n  st: {plugin: stability, api_key: k, base_url: 'ftp://files.example.com/sk-9z'}\n"
    table = parse_routes(text + "models: {}\n", "routes.yaml", providers, {})
    assert table.accounts["st"].problem is not None and "sk-9z" not in table.accounts["st"].problem


ROUTES = """
server:
  image_store: {{directory: "{store}"}}
  reload_check_seconds: 0.02
  retry: {{max_attempts: 1}}
providers:
  slow: {{plugin: openai, api_key: {key}, base_url: "{a}/v1", timeout: {{total: 0.35}}}}
  talkative: {{plugin: openai, api_key: {key}, base_url: "{b}/v1"}}
  nowhere: {{plugin: openai, api_key: {key}, base_url: "http://127.0.0.1:{closed}/v1"}}
models:
  slow: [{{provider: slow, upstream_model: gpt-image-1}}]
  talkative: [{{provider: talkative, upstream_model: gpt-image-1}}]
  nowhere: [{{provider: nowhere, upstream_model: gpt-image-1}}]
"""


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Path, dict]]:
    with serve_faulty("a", "b") as upstreams:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        routes = ROUTES.format(store=tmp_path / "images", key=API_KEY, a=a_url, b=b_url, closed=free_port())
        with serve_gateway(routes, tmp_path, router=Router(clock=FakeClock())) as url:
            yield url, tmp_path / "routes.yaml", {"a": a, "b": b, "ports": (a_url, b_url)}


def error_of(url: str, model: str) -> dict[str, str]:
    response = httpx.post(url + "/v1/images/generations", json={"model": model, "prompt": "x"}, timeout=30)
    assert response.status_code >= 500, response.text
    return response.json()["error"]


def test_client_errors_name_no_upstream_host_or_port_and_round_durations(
    gateway: tuple[str, Path, dict],
) -> None:
    url, _, upstreams = gateway
    upstreams["a"].then(Slow(30))
    timed_out = error_of(url, "slow")["message"]
    assert "did not answer within 0.3 s" in timed_out  # not 0.35, nor 0.349996
    unreachable = error_of(url, "nowhere")["message"]
    for message in (timed_out, unreachable):
        assert "127.0.0.1" not in message and "localhost" not in message
        for base in upstreams["ports"]:
            assert base.rpartition(":")[2] not in message


def test_credentials_in_any_url_are_left_out_of_client_errors(gateway: tuple[str, Path, dict]) -> None:
    url, _, upstreams = gateway
    # An upstream's 400 reaches the client (it says what to fix), without the credentials of its URLs.
    upstreams["b"].then(
        Fail(400, "see https://admin:hunter2@docs.example.com/limits", "invalid_request_error")
    )
    response = httpx.post(
        url + "/v1/images/generations", json={"model": "talkative", "prompt": "x"}, timeout=30
    )
    message = response.json()["error"]["message"]
    assert response.status_code == 400 and "hunter2" not in message
    assert "https://docs.example.com/limits" in message


LEAKY = "Traceback (most recent call last): db.internal:5432 refused, org-7cq2Fz; retry via https://queue.internal/"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "upstream_unavailable"),
        (503, "upstream_unavailable"),
        (429, "rate_limit_exceeded"),
        (404, "model_retired"),
    ],
)
def test_what_an_upstream_says_about_its_own_failures_goes_to_the_log_only(
    gateway: tuple[str, Path, dict], caplog: pytest.LogCaptureFixture, status: int, code: str
) -> None:
    """An upstream's own failure (5xx, rate limit, unknown deployment) is the operator's matter: its text
    (tracebacks, internal hosts, account ids) goes to the log, and the client gets the gateway's message."""
    url, _, upstreams = gateway
    upstreams["b"].then(Fail(status, LEAKY))
    response = httpx.post(
        url + "/v1/images/generations", json={"model": "talkative", "prompt": "x"}, timeout=30
    )
    error = response.json()["error"]
    assert error["code"] == code and set(error) == {"message", "type", "param", "code"}
    for internal in ("Traceback", "db.internal", "5432", "org-7cq2Fz", "queue.internal"):
        assert internal not in error["message"]
    assert any(LEAKY in record.getMessage() for record in caplog.records)


def test_readyz_shows_no_secret_of_a_broken_reload(gateway: tuple[str, Path, dict]) -> None:
    url, routes, _ = gateway
    routes.write_text(routes.read_text() + BROKEN[0].replace("providers:\n", "extra:\n"))
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(url + "/readyz", timeout=10) as response:
            ready = json.load(response)
        if ready.get("reload_error") or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert "not valid YAML" in ready["reload_error"] and "canary" not in json.dumps(ready)
