"""The Azure emulator's own checks bite: what the gateway tests rely on it refusing, it refuses."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.emulators.azure_dialect import API_KEY, GPT_IMAGE_API_VERSION, AzureEmulator
from tests.support.images import describe
from tests.support.servers import serve_aiohttp

GENERATIONS = "/openai/deployments/gpt-image/images/generations"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_aiohttp(AzureEmulator(bearer_tokens=frozenset({"good-token"})).app) as url:
        yield url


def post(
    base_url: str,
    path: str,
    body: dict[str, object],
    *,
    query: str = GPT_IMAGE_API_VERSION,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    params = {"api-version": query} if query else {}
    return httpx.post(base_url + path, params=params, json=body, headers=headers or {"api-key": API_KEY})


def test_a_wrong_key_or_token_is_a_401(base_url: str) -> None:
    assert post(base_url, GENERATIONS, {"prompt": "p"}, headers={"api-key": "wrong"}).status_code == 401
    bad_bearer = {"Authorization": "Bearer bad-token"}
    assert post(base_url, GENERATIONS, {"prompt": "p"}, headers=bad_bearer).status_code == 401
    good_bearer = {"Authorization": "Bearer good-token"}
    assert post(base_url, GENERATIONS, {"prompt": "p"}, headers=good_bearer).status_code == 200


def test_deployment_urls_need_an_api_version(base_url: str) -> None:
    answer = post(base_url, GENERATIONS, {"prompt": "p"}, query="")
    assert answer.status_code == 404
    assert "api-version" in answer.json()["error"]["message"]
    assert post(base_url, GENERATIONS, {"prompt": "p"}, query="2024-10-21").status_code == 400  # too old


def test_deployment_urls_refuse_a_body_model(base_url: str) -> None:
    answer = post(base_url, GENERATIONS, {"prompt": "p", "model": "gpt-image-1"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "model"


def test_unknown_deployments_answer_deployment_not_found(base_url: str) -> None:
    answer = post(base_url, "/openai/deployments/nope/images/generations", {"prompt": "p"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "DeploymentNotFound"
    assert answer.headers["apim-request-id"]
    v1 = post(base_url, "/openai/v1/images/generations", {"prompt": "p", "model": "nope"}, query="")
    assert v1.json()["error"]["code"] == "DeploymentNotFound"


@pytest.mark.parametrize(
    ("field", "value"), [("output_format", "webp"), ("response_format", "b64_json"), ("moderation", "low")]
)
def test_gpt_image_refuses_what_azure_does_not_take(base_url: str, field: str, value: str) -> None:
    answer = post(base_url, GENERATIONS, {"prompt": "p", field: value})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == field


def test_gpt_image_answers_real_images_with_filter_results(base_url: str) -> None:
    answer = post(base_url, GENERATIONS, {"prompt": "p", "size": "1024x1536", "output_format": "jpeg"})
    assert answer.status_code == 200
    item = answer.json()["data"][0]
    assert describe(base64.b64decode(item["b64_json"]))[:3] == ("jpeg", 1024, 1536)
    assert set(item) == {"b64_json", "content_filter_results", "prompt_filter_results"}


def test_dall_e_3_takes_one_image_per_call(base_url: str) -> None:
    answer = post(base_url, "/openai/deployments/dalle3/images/generations", {"prompt": "p", "n": 2})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "n"
