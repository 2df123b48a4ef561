"""Client keys, allowed models, images per minute, budgets and cost, end to end: the official openai SDK → the
gateway on a loopback port → the offline provider and the OpenAI and Stability emulators."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import time_machine
from aiohttp import web
from imagegate.cli import main as cli_main
from imagegate.router import Router

from tests.emulators.faulty import API_KEY as FAULTY_KEY
from tests.emulators.faulty import Fail, FaultyUpstream, Hold, Ok, serve_faulty
from tests.emulators.openai_dialect import ReceivedRequest, make_app
from tests.emulators.stability_dialect import API_KEY as STABILITY_KEY
from tests.emulators.stability_dialect import StabilityEmulator
from tests.support.clock import FakeClock
from tests.support.gateway import serve_gateway
from tests.support.servers import serve_aiohttp

KEY_A, KEY_B, KEY_C = "ig-team-a-key", "ig-team-b-key", "ig-team-c-key"
ADMIN_KEY = "ig-admin-key"
UPSTREAM_KEY = "sk-upstream"


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


ROUTES = f"""
server:
  admin_key: "${{{{ADMIN}}}}"
  retry: {{{{max_attempts: 1}}}}
providers:
  local: {{{{plugin: offline}}}}
  emu: {{{{plugin: openai, api_key: "${{{{EMU_KEY}}}}", base_url: "{{openai}}/v1"}}}}
  stability: {{{{plugin: stability, api_key: "${{{{STABILITY_KEY}}}}", base_url: "{{stability}}"}}}}
models:
  imagegate-offline: [{{{{provider: local}}}}]
  offline-priced: [{{{{provider: local, price: {{{{usd_per_image: 0.5}}}}}}}}]
  gpt-image-1: [{{{{provider: emu}}}}]
  sd3.5-large: [{{{{provider: stability}}}}]
clients:
  team-a: {{{{key: "${{{{TEAM_A_KEY}}}}", models: ["gpt-image-*", imagegate-offline, sd3.5-large]}}}}
  team-b: {{{{key_sha256: "{sha256(KEY_B)}", models: [imagegate-offline, gpt-image-1], images_per_minute: 5}}}}
  team-c: {{{{key_sha256: "{sha256(KEY_C)}", budget_usd: {{{{limit: 1, period: day}}}}}}}}
"""


@dataclass
class Gateway:
    url: str
    openai_received: list[ReceivedRequest]
    stability: StabilityEmulator

    def client(self, key: str, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **options)

    def get(self, path: str, key: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path)
        if key is not None:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                kind = response.headers.get("content-type", "")
                return response.status, json.loads(body) if "json" in kind else body.decode()
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("clients")
    openai_app: dict[str, web.Application] = {}

    def make_openai() -> web.Application:
        openai_app["app"] = make_app(api_key=UPSTREAM_KEY)
        return openai_app["app"]

    stability = StabilityEmulator()
    with serve_aiohttp(make_openai) as openai_url, serve_aiohttp(stability.app) as stability_url:
        routes = ROUTES.format(openai=openai_url, stability=stability_url)
        environ = {
            "ADMIN": ADMIN_KEY,
            "EMU_KEY": UPSTREAM_KEY,
            "STABILITY_KEY": STABILITY_KEY,
            "TEAM_A_KEY": KEY_A,
        }
        with serve_gateway(routes, directory, environ=environ) as url:
            yield Gateway(url, openai_app["app"]["received"], stability)


# --- keys ----------------------------------------------------------------------------------------------


def test_a_wrong_key_is_401_invalid_api_key(gateway: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        gateway.client("ig-not-a-key").images.generate(model="imagegate-offline", prompt="x", size="256x256")
    error = raised.value
    assert error.status_code == 401 and error.code == "invalid_api_key"
    assert error.response.headers["x-request-id"]
    body = error.response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    assert "ig-not-a-key" not in error.response.text and "team-" not in error.response.text


def test_no_key_is_401_before_the_body_is_read(gateway: Gateway) -> None:
    """A request declaring 10 MB of body, none of it sent: the 401 comes from the headers alone."""
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/images/edits HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 10485760\r\n\r\n"
        )
        answer = sock.recv(65536).decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 401")
    assert json.loads(body)["error"]["code"] == "invalid_api_key"


def test_the_right_key_as_bearer_and_as_api_key(gateway: Gateway) -> None:
    result = gateway.client(KEY_A).images.generate(model="imagegate-offline", prompt="x", size="256x256")
    assert len(result.data or []) == 1
    # What Azure clients send: the key in `api-key`, no Authorization header.
    result = gateway.client("unused").images.generate(
        model="imagegate-offline",
        prompt="x",
        size="256x256",
        extra_headers={"Authorization": openai.Omit(), "api-key": KEY_B},
    )
    assert len(result.data or []) == 1


# --- models --------------------------------------------------------------------------------------------


def test_a_model_outside_the_globs_is_403(gateway: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError) as raised:
        gateway.client(KEY_B).images.generate(model="sd3.5-large", prompt="x")
    assert raised.value.code == "model_not_allowed" and raised.value.status_code == 403
    assert not gateway.stability.received  # refused before any upstream call


def test_an_unknown_model_within_the_globs_is_404_naming_only_allowed_models(gateway: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        gateway.client(KEY_A).images.generate(model="gpt-image-9", prompt="x")
    message = raised.value.response.json()["error"]["message"]
    assert "gpt-image-1" in message and "offline-priced" not in message


def test_models_lists_only_the_keys_models(gateway: Gateway) -> None:
    listed = {model.id for model in gateway.client(KEY_A).models.list()}
    assert listed == {"gpt-image-1", "imagegate-offline", "sd3.5-large"}
    assert {model.id for model in gateway.client(KEY_B).models.list()} == {"imagegate-offline", "gpt-image-1"}
    assert len(list(gateway.client(KEY_C).models.list())) == 4  # no models: every model
    with pytest.raises(openai.AuthenticationError):
        gateway.client("ig-wrong").models.list()
    assert gateway.client(KEY_B).models.retrieve("gpt-image-1").id == "gpt-image-1"
    with pytest.raises(openai.NotFoundError):  # not one of the key's models: as if it did not exist
        gateway.client(KEY_B).models.retrieve("sd3.5-large")
    with pytest.raises(openai.AuthenticationError):
        gateway.client("ig-wrong").models.retrieve("gpt-image-1")


# --- images per minute ---------------------------------------------------------------------------------

WINDOW_START = 1_800_000_000  # a multiple of 60: the limiter's windows start on whole minutes


def test_images_per_minute_counts_n_and_recovers_after_the_window(gateway: Gateway) -> None:
    client = gateway.client(KEY_B)
    with time_machine.travel(WINDOW_START + 1, tick=False) as clock:
        client.images.generate(model="imagegate-offline", prompt="x", size="256x256", n=3)
        upstream_calls = len(gateway.openai_received)
        with pytest.raises(openai.RateLimitError) as raised:
            client.images.generate(model="gpt-image-1", prompt="x", n=3)  # 3 + 3 > 5 in this minute
        error = raised.value
        assert error.code == "rate_limit_exceeded"
        assert error.response.headers["retry-after"] == "59"  # when 3 more fit: the next minute
        assert len(gateway.openai_received) == upstream_calls  # refused before any upstream call
        client.images.generate(model="imagegate-offline", prompt="x", size="256x256", n=2)  # 3 + 2 fit

        clock.shift(30)
        with pytest.raises(openai.RateLimitError):
            client.images.generate(model="imagegate-offline", prompt="x", size="256x256")
        clock.shift(float(error.response.headers["retry-after-ms"]) / 1000 - 30)
        with pytest.raises(openai.RateLimitError):  # the previous minute's 5 still weigh 5 * 59.5/60
            client.images.generate(model="imagegate-offline", prompt="x", size="256x256", n=3)
        clock.shift(60)  # a whole window later
        result = client.images.generate(model="gpt-image-1", prompt="x", n=5)
        assert len(result.data or []) == 5


def test_more_images_than_the_limit_is_refused_without_retry(gateway: Gateway) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        gateway.client(KEY_B).images.generate(model="imagegate-offline", prompt="x", size="256x256", n=6)
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert raised.value.response.json()["error"]["param"] == "n"


# --- budgets and cost ----------------------------------------------------------------------------------


def test_a_spent_budget_is_429_insufficient_quota(gateway: Gateway) -> None:
    client = gateway.client(KEY_C)
    raw = client.images.with_raw_response.generate(model="offline-priced", prompt="x", size="256x256", n=2)
    assert raw.headers["x-imagegate-cost-usd"] == "1.000000"  # 2 images at the route's 0.5 USD
    with pytest.raises(openai.RateLimitError) as raised:
        client.images.generate(model="imagegate-offline", prompt="x", size="256x256")
    error = raised.value
    assert error.status_code == 429 and error.code == "insufficient_quota"
    assert error.response.json()["error"]["type"] == "insufficient_quota"
    assert error.response.headers["x-should-retry"] == "false"


def test_gpt_image_cost_comes_from_its_usage(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagegate.access")
    raw = gateway.client(KEY_A).images.with_raw_response.generate(
        model="gpt-image-1", prompt="three word prompt", n=2, quality="low"
    )
    usage = raw.parse().usage
    assert usage is not None and usage.input_tokens_details.text_tokens == 3 and usage.output_tokens == 544
    expected = (3 * 5.00 + 544 * 40.00) / 1_000_000  # gpt-image-1: 5 USD/M text in, 40 USD/M out
    assert raw.headers["x-imagegate-cost-usd"] == f"{expected:.6f}"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imagegate.access"]
    line = next(line for line in lines if line["request_id"] == raw.headers["x-request-id"])
    assert line["client"] == "team-a" and line["images"] == 2 and line["cost_usd"] == pytest.approx(expected)
    assert not any(KEY_A in r.getMessage() for r in caplog.records)


def test_a_fanned_out_stability_request_costs_each_image(gateway: Gateway) -> None:
    before = len(gateway.stability.received)
    raw = gateway.client(KEY_A).images.with_raw_response.generate(model="sd3.5-large", prompt="x", n=3)
    assert len(raw.parse().data or []) == 3 and len(gateway.stability.received) - before == 3
    assert raw.headers["x-imagegate-cost-usd"] == "0.195000"  # 3 x 6.5 credits at 0.01 USD


# --- admin ---------------------------------------------------------------------------------------------


def test_metrics_and_usage_need_the_admin_key(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    gateway.client(KEY_A).images.generate(model="sd3.5-large", prompt="x")
    for path in ("/metrics", "/admin/usage"):
        assert gateway.get(path)[0] == 401
        assert gateway.get(path, KEY_A)[0] == 401  # a client's key is not the admin's
    assert gateway.get("/readyz") == (200, {"status": "ready"})
    status, ready = gateway.get("/readyz", ADMIN_KEY)
    assert status == 200 and ready["clients"] == 3 and "routes" in ready

    status, metrics = gateway.get("/metrics", ADMIN_KEY)
    assert status == 200
    assert 'imagegate_images_total{client="team-a",model="sd3.5-large"}' in metrics
    assert 'imagegate_cost_usd_total{client="team-a",model="sd3.5-large"}' in metrics
    assert KEY_A not in metrics and sha256(KEY_B) not in metrics

    status, usage = gateway.get("/admin/usage", ADMIN_KEY)
    assert status == 200
    rows = {row["client"]: row for row in usage["data"]}
    assert rows["team-a"]["images"] >= 1 and rows["team-a"]["usd"] > 0 and rows["team-a"]["period"] == "month"
    team_c = rows["team-c"]  # its spend depends on which tests ran before: whatever it is, it adds up
    assert team_c["budget_usd"] == 1 and team_c["period"] == "day"
    assert team_c["remaining_usd"] == max(0.0, 1 - team_c["usd"])

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMAGEGATE_ADMIN_KEY", ADMIN_KEY)
        assert cli_main(["usage", "--url", gateway.url]) == 0
        printed = capsys.readouterr().out
        assert "team-c" in printed and f"{team_c['usd']:.4f}" in printed
        patch.delenv("IMAGEGATE_ADMIN_KEY")
        assert cli_main(["usage", "--url", gateway.url]) == 1
        assert "401" in capsys.readouterr().err


# --- fallback pricing, and reloads ---------------------------------------------------------------------

FAULTY_HEAD = """
server:
  retry: {{max_attempts: 1}}
  reload_check_seconds: 0.02
providers:
  a: {{plugin: openai, api_key: {key}, base_url: "{a}/v1"}}
  b: {{plugin: openai, api_key: {key}, base_url: "{b}/v1"}}
models:
  mixed:
    - {{provider: a, upstream_model: gpt-image-1, price: {{usd_per_image: 0.04}}, capabilities: {{max_images_per_call: 1}}}}
    - {{provider: b, upstream_model: gpt-image-1, price: {{usd_per_million_tokens: {{input_text: 5, output: 30}}, usd_per_image: 0.1}}}}
"""
WITH_BOTH_KEYS = f"""clients:
  team-a: {{key_sha256: "{sha256(KEY_A)}"}}
  team-b: {{key_sha256: "{sha256(KEY_B)}"}}
"""
WITHOUT_TEAM_B = f"""clients:
  team-a: {{key_sha256: "{sha256(KEY_A)}"}}
"""


@dataclass
class FaultySetup:
    url: str
    routes: Path
    head: str
    a: FaultyUpstream
    b: FaultyUpstream

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[FaultySetup]:
    with serve_faulty("a", "b") as upstreams:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        head = FAULTY_HEAD.format(key=FAULTY_KEY, a=a_url, b=b_url)
        with serve_gateway(head + WITH_BOTH_KEYS, tmp_path, router=Router(clock=FakeClock())) as url:
            yield FaultySetup(url, tmp_path / "routes.yaml", head, a, b)


def test_fan_out_and_fallback_sum_and_failed_calls_cost_nothing(faulty: FaultySetup) -> None:
    faulty.a.then(Ok(), Fail(500), Ok())  # 3 one-image calls to a: two images, one failure
    raw = faulty.client(KEY_A).images.with_raw_response.generate(model="mixed", prompt="x", n=3)
    assert len(raw.parse().data or []) == 3
    assert faulty.a.steps_taken.count("Ok") == 2 and len(faulty.b.received) == 1  # the third came from b
    # a: 2 images x 0.04; b reports no usage, so its flat per-image price applies; the failure costs nothing.
    assert raw.headers["x-imagegate-cost-usd"] == f"{2 * 0.04 + 0.1:.6f}"


def test_images_made_before_a_request_fails_are_charged(faulty: FaultySetup) -> None:
    """Of two one-image calls to a, one makes its image and the other is refused (no fallback on a 400): the
    client gets the error, and the image a made (and was paid for) is in its cost."""
    faulty.a.then(Ok(), Fail(400, "bad", "invalid_request_error", "invalid_value"))
    faulty.a.then(
        Fail(400, "bad", "invalid_request_error", "invalid_value"), Ok()
    )  # whichever call comes first
    with pytest.raises(openai.BadRequestError) as raised:
        faulty.client(KEY_A).images.generate(model="mixed", prompt="x", n=2)
    assert faulty.a.steps_taken.count("Ok") == 1 and not faulty.b.received
    assert raised.value.response.headers["x-imagegate-cost-usd"] == "0.040000"


def test_a_reload_revokes_a_key_but_not_a_request_in_flight(faulty: FaultySetup) -> None:
    faulty.b.then(Hold())
    faulty.a.then(Fail(500))  # n=1 on `mixed`: a fails, b holds the request
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(
            faulty.client(KEY_B).images.generate, model="mixed", prompt="x", n=1, size="1024x1024"
        )
        wait_for(lambda: len(faulty.b.received) == 1, "the request to reach upstream b")
        faulty.routes.write_text(faulty.head + WITHOUT_TEAM_B)
        wait_for(lambda: _revoked(faulty, KEY_B), "the reload to revoke team-b's key")
        assert faulty.client(KEY_A).models.list().data  # team-a's key still works
        faulty.b.release()
        assert len(in_flight.result(timeout=10).data or []) == 1  # it keeps the client it started with


def _revoked(faulty: FaultySetup, key: str) -> bool:
    try:
        faulty.client(key).models.list()
    except openai.AuthenticationError:
        return True
    return False


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
