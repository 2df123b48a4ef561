"""The gateway in front of an emulated Azure OpenAI resource, called through the official openai SDK.

Covers both URL forms, api-key / environment token / azure-identity credential auth, gpt-image generations and
multipart edits, dall-e-3 with url and base64, webp served by the core transcoding Azure's png, every
content-filter shape, a 429 and an unknown deployment.
"""

from __future__ import annotations

import base64
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from imagegate import Provider, hookimpl
from imagegate_azure import AzureProvider

from tests.emulators.azure_dialect import API_KEY, CONTENT_FILTER_SHAPES, AzureEmulator
from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image
from tests.support.servers import serve_aiohttp

ENV_TOKEN = "entra-token-from-environment"
CREDENTIAL_TOKEN = "entra-token-from-credential"

ROUTES = """
server:
  image_store: {{directory: "{store}", ttl_seconds: 3600}}
  retry: {{max_attempts: 1}}  # translation tests: the gateway's retries are tested in test_resilience_*
providers:
  azure-key:
    plugin: azure
    endpoint: "{endpoint}"
    api_version: 2025-04-01-preview
    api_key: "${{AZURE_OPENAI_API_KEY}}"
  azure-v1:
    plugin: azure
    endpoint: "{endpoint}"
    url_form: v1
    ad_token: "${{AZURE_OPENAI_AD_TOKEN}}"
  azure-unset:
    plugin: azure
    endpoint: "{endpoint}"
    api_version: 2025-04-01-preview
    api_key: "${{AZURE_OPENAI_OTHER_KEY}}"
models:
  gpt-image-1:
    - {{provider: azure-key, deployment: gpt-image}}
  gpt-image-1-v1:
    - {{provider: azure-v1, deployment: gpt-image, model: gpt-image-1}}
  dall-e-3:
    - {{provider: azure-key, deployment: dalle3}}
  gpt-image-1-missing:
    - {{provider: azure-key, deployment: no-such-deployment, model: gpt-image-1}}
  gpt-image-1-unset:
    - {{provider: azure-unset, deployment: gpt-image, model: gpt-image-1}}
"""

CREDENTIAL_ROUTES = """
server:
  image_store: {{directory: "{store}", ttl_seconds: 3600}}
  retry: {{max_attempts: 1}}  # translation tests: the gateway's retries are tested in test_resilience_*
providers:
  azure-entra:
    plugin: azure
    endpoint: "{endpoint}"
    api_version: 2025-04-01-preview
    credential: azure-identity
models:
  gpt-image-1:
    - {{provider: azure-entra, deployment: gpt-image}}
"""

# What the client's message must say for each emulated content-filter shape.
FILTER_MESSAGES = {
    "content_policy_violation": "sexual (high severity)",
    "contentFilter": "Your task failed as a result of our safety system.",
    "contentFilter_output": "Generated image was filtered",
    "content_filter": "jailbreak (detected)",
    "inner_error": "violence (medium severity)",
    "innererror": "custom_blocklists (brand-names)",
}


@pytest.fixture(scope="module")
def emulator_and_url() -> Iterator[tuple[AzureEmulator, str]]:
    emulator = AzureEmulator(bearer_tokens=frozenset({ENV_TOKEN, CREDENTIAL_TOKEN}))
    with serve_aiohttp(emulator.app) as url:
        yield emulator, url


@pytest.fixture
def emulator(emulator_and_url: tuple[AzureEmulator, str]) -> Iterator[AzureEmulator]:
    emulator = emulator_and_url[0]
    emulator.received.clear()
    emulator.fail_with = None
    yield emulator
    emulator.fail_with = None


@pytest.fixture(scope="module")
def client(
    emulator_and_url: tuple[AzureEmulator, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    directory = tmp_path_factory.mktemp("azure")
    routes = ROUTES.format(store=directory / "images", endpoint=emulator_and_url[1])
    environ = {"AZURE_OPENAI_API_KEY": API_KEY, "AZURE_OPENAI_AD_TOKEN": ENV_TOKEN}
    with serve_gateway(routes, Path(directory), environ=environ) as base_url:
        yield openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0)


def decode(item: object) -> bytes:
    return base64.b64decode(item.b64_json)  # type: ignore[attr-defined]


# --- gpt-image-1 ----------------------------------------------------------------------------------------


def test_gpt_image_generation_on_a_deployment_url(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    result = client.images.generate(
        model="gpt-image-1", prompt="a lighthouse at dusk", size="1536x1024", quality="high", n=2
    )
    assert [describe(decode(item))[:3] for item in result.data] == [("png", 1536, 1024)] * 2
    item = result.data[0].model_dump()
    assert item["content_filter_results"]["sexual"] == {"filtered": False, "severity": "safe"}
    assert item["prompt_filter_results"]["jailbreak"] == {"detected": False, "filtered": False}
    assert result.usage is not None and result.usage.input_tokens == 50

    [sent] = emulator.received  # n=2 in one call: Azure takes up to 10 per call
    assert sent.path == "/openai/deployments/gpt-image/images/generations"
    assert sent.query == {"api-version": "2025-04-01-preview"}
    assert sent.headers["api-key"] == API_KEY
    assert "authorization" not in sent.headers
    assert sent.json == {"prompt": "a lighthouse at dusk", "n": 2, "size": "1536x1024", "quality": "high"}


def test_end_user_id_goes_as_user_and_is_echoed(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    result = client.images.generate(
        model="gpt-image-1", prompt="a fox", safety_identifier="hash-9", user="u-1"
    )
    assert result.safety_identifier == "hash-9"
    [sent] = emulator.received  # Azure documents `user` only: the effective id goes there
    assert sent.json["user"] == "hash-9" and "safety_identifier" not in sent.json


def test_gpt_image_edit_with_several_images_and_a_mask(
    client: openai.OpenAI, emulator: AzureEmulator
) -> None:
    first = make_image(1024, 1024, "png")
    second = make_image(1024, 1024, "jpeg", color=(200, 40, 40))
    mask = make_image(1024, 1024, "png", alpha=True)
    result = client.images.edit(
        model="gpt-image-1",
        image=[("scene.png", first, "image/png"), ("style.jpg", second, "image/jpeg")],
        mask=("mask.png", mask, "image/png"),
        prompt="put the red style on the scene",
        size="1024x1024",
        input_fidelity="high",
    )
    assert describe(decode(result.data[0]))[:3] == ("png", 1024, 1024)
    assert "content_filter_results" in result.data[0].model_dump()

    [sent] = emulator.received
    assert sent.path == "/openai/deployments/gpt-image/images/edits"
    assert sent.query == {"api-version": "2025-04-01-preview"}
    assert "model" not in sent.fields
    assert sent.fields["prompt"] == "put the red style on the scene"
    assert sent.fields["input_fidelity"] == "high"
    assert [(name, upload.filename, upload.data) for name, upload in sent.files] == [
        ("image[]", "scene.png", first),
        ("image[]", "style.jpg", second),
        ("mask", "mask.png", mask),
    ]


def test_v1_url_with_an_entra_token_from_the_environment(
    client: openai.OpenAI, emulator: AzureEmulator
) -> None:
    result = client.images.generate(model="gpt-image-1-v1", prompt="a fox", output_format="jpeg")
    assert describe(decode(result.data[0]))[:3] == ("jpeg", 1024, 1024)
    [sent] = emulator.received
    assert sent.path == "/openai/v1/images/generations"
    assert sent.query == {}
    assert sent.headers["authorization"] == f"Bearer {ENV_TOKEN}"
    assert "api-key" not in sent.headers
    assert sent.json == {"model": "gpt-image", "prompt": "a fox", "n": 1, "output_format": "jpeg"}


def test_webp_is_served_by_transcoding_azures_png(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    result = client.images.generate(
        model="gpt-image-1", prompt="a sticker", size="1024x1024", output_format="webp", output_compression=60
    )
    assert describe(decode(result.data[0]))[:3] == ("webp", 1024, 1024)
    assert result.output_format == "webp"
    [sent] = emulator.received
    assert sent.json is not None
    assert sent.json["output_format"] == "png"  # Azure has no webp
    assert "output_compression" not in sent.json


# --- dall-e-3 -------------------------------------------------------------------------------------------


def test_dall_e_3_url(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    result = client.images.generate(
        model="dall-e-3",
        prompt="a castle",
        size="1792x1024",
        quality="hd",
        style="natural",
        response_format="url",
    )
    [item] = result.data
    assert item.url is not None and item.b64_json is None
    assert item.revised_prompt == "A detailed rendering of: a castle"
    assert item.model_dump()["content_filter_results"]["violence"]["filtered"] is False
    with urllib.request.urlopen(item.url, timeout=10) as download:
        assert describe(download.read())[:3] == ("png", 1792, 1024)

    [sent] = emulator.received
    assert sent.path == "/openai/deployments/dalle3/images/generations"
    assert sent.json == {
        "prompt": "a castle",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "response_format": "url",
    }


def test_dall_e_3_b64(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    result = client.images.generate(model="dall-e-3", prompt="a castle", response_format="b64_json")
    assert describe(decode(result.data[0]))[:3] == ("png", 1024, 1024)
    assert result.data[0].url is None
    assert emulator.received[0].json == {"prompt": "a castle", "n": 1, "response_format": "b64_json"}


def test_dall_e_3_n_above_one_is_fanned_out(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    result = client.images.generate(model="dall-e-3", prompt="a castle", n=2, response_format="b64_json")
    assert len(result.data) == 2
    assert [sent.json["n"] for sent in emulator.received if sent.json] == [1, 1]


# --- failures -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", CONTENT_FILTER_SHAPES)
def test_each_content_filter_shape_is_a_400_content_policy_violation(
    client: openai.OpenAI, emulator: AzureEmulator, shape: str
) -> None:
    emulator.fail_with = shape
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1", prompt="something the filter blocks")
    error = caught.value
    assert error.status_code == 400
    assert error.code == "content_policy_violation"
    assert FILTER_MESSAGES[shape] in error.message
    assert "apim-request-id" in error.message


def test_rate_limit_keeps_azures_delay(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    emulator.fail_with = "rate_limit"
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="gpt-image-1", prompt="busy")
    headers = caught.value.response.headers
    assert headers["retry-after-ms"] == "6500"
    assert headers["retry-after"] == "6"


def test_unknown_deployment(client: openai.OpenAI, emulator: AzureEmulator) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="gpt-image-1-missing", prompt="anything")
    error = caught.value
    assert error.status_code == 502
    assert error.code == "upstream_not_found"
    assert "does not know this model or deployment" in error.message  # Azure's words go to the log
    assert emulator.received[0].path == "/openai/deployments/no-such-deployment/images/generations"


def test_an_account_whose_key_variable_is_unset_is_a_503(
    client: openai.OpenAI, emulator: AzureEmulator
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="gpt-image-1-unset", prompt="anything")
    assert caught.value.status_code == 503
    assert "no credentials" in caught.value.message
    assert emulator.received == []


# --- azure-identity credential ------------------------------------------------------------------------


@dataclass
class AccessToken:
    token: str
    expires_on: int


class FakeCredential:
    """Stands in for azure-identity's DefaultAzureCredential (synchronous ``get_token``)."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(CREDENTIAL_TOKEN, int(time.time()) + 3600)


class InjectedCredentialPlugin:
    """Registers the Azure provider with a test credential, in place of the entry point's (blocked below)."""

    def __init__(self, credential: FakeCredential) -> None:
        self.credential = credential

    @hookimpl
    def imagegate_register_providers(self, register: Callable[[Provider], None]) -> None:
        register(AzureProvider(credential=self.credential))


def test_azure_identity_credential_tokens(
    emulator_and_url: tuple[AzureEmulator, str], emulator: AzureEmulator, tmp_path: Path
) -> None:
    credential = FakeCredential()
    routes = CREDENTIAL_ROUTES.format(store=tmp_path / "images", endpoint=emulator_and_url[1])
    environ = {"IMAGEGATE_DISABLE_PLUGINS": "azure"}
    plugins = [InjectedCredentialPlugin(credential)]
    with serve_gateway(routes, tmp_path, environ=environ, plugins=plugins) as base_url:
        client = openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0)
        for _ in range(2):
            result = client.images.generate(model="gpt-image-1", prompt="a fox")
            assert describe(decode(result.data[0]))[0] == "png"
    assert [sent.headers["authorization"] for sent in emulator.received] == [f"Bearer {CREDENTIAL_TOKEN}"] * 2
    assert credential.scopes == ["https://cognitiveservices.azure.com/.default"]  # fetched once, then cached
