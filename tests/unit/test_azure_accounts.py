"""Azure provider: account checks, capabilities per deployed model, and Entra ID tokens from credentials."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from imagegate import ProviderResult, UpstreamRequest, UpstreamResponse
from imagegate.errors import UpstreamAuthError
from imagegate_azure import AzureAccount, AzureProvider, AzureTarget
from imagegate_azure.auth import EntraTokens
from imagegate_azure.config import DEFAULT_TOKEN_SCOPE
from multidict import CIMultiDict

from tests.unit.test_azure_requests import make_call

ENDPOINT = "https://contoso.openai.azure.com"
OK_BODY = msgspec.json.encode({"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]})


# --- accounts -------------------------------------------------------------------------------------------


def problem(provider: AzureProvider | None = None, **fields: Any) -> str | None:
    return (provider or AzureProvider()).check_account(AzureAccount(**fields))


def test_a_complete_key_account_is_usable() -> None:
    assert problem(endpoint=ENDPOINT, api_version="2025-04-01-preview", api_key="k") is None
    assert problem(endpoint=ENDPOINT, url_form="v1", ad_token="t") is None  # v1 needs no api-version


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"api_version": "2024-10-21", "api_key": "k"}, "endpoint is not set"),
        ({"endpoint": "contoso.openai.azure.com", "api_version": "v", "api_key": "k"}, "not an http(s) URL"),
        ({"endpoint": ENDPOINT + "/openai/v1", "url_form": "v1", "api_key": "k"}, "has a path"),
        ({"endpoint": ENDPOINT, "api_key": "k"}, "api_version is not set"),
        ({"endpoint": ENDPOINT, "api_version": "2024-10-21"}, "no credentials"),
        ({"endpoint": ENDPOINT, "api_version": "v", "api_key": "k", "ad_token": "t"}, "api_key and ad_token"),
    ],
)
def test_check_account_says_what_is_missing(fields: dict[str, Any], expected: str) -> None:
    message = problem(**fields)
    assert message is not None
    assert expected in message


def test_secrets_never_appear_in_account_problems() -> None:
    message = problem(endpoint=ENDPOINT, api_version="v", api_key="secret-key", ad_token="secret-token")
    assert message is not None
    assert "secret" not in message


def test_credential_account_needs_azure_identity_or_an_injected_credential() -> None:
    fields = {"endpoint": ENDPOINT, "api_version": "2025-04-01-preview", "credential": "azure-identity"}
    assert problem(AzureProvider(credential=FakeCredential()), **fields) is None
    message = problem(AzureProvider(), **fields)
    try:
        import azure.identity  # noqa: F401
    except ImportError:
        assert message is not None
        assert "pip install 'imagegate[azure]'" in message
    else:
        assert message is None


# --- capabilities ---------------------------------------------------------------------------------------


def test_gpt_image_on_azure_has_no_webp_and_no_moderation() -> None:
    caps = AzureProvider().capabilities("gpt-image-1", AzureTarget(deployment="d"))
    assert caps.output_formats == frozenset({"png", "jpeg"})
    assert not caps.moderation
    assert caps.operations == frozenset({"generate", "edit"})
    assert caps.mask
    assert caps.max_input_images > 1
    assert caps.forwards_unknown_params  # Azure speaks OpenAI's dialect: the upstream judges unknown fields
    assert caps.end_user_fields == {"user"} and caps.retired is None


def test_the_target_model_decides_over_the_route_model_name() -> None:
    caps = AzureProvider().capabilities("my-images", AzureTarget(deployment="d", model="dall-e-3"))
    assert caps.operations == frozenset({"generate"})
    assert caps.max_images_per_call == 1
    assert caps.styles == frozenset({"vivid", "natural"})
    assert caps.delivery == "url"
    assert caps.response_formats == frozenset({"url", "b64_json"})
    assert caps.download_hosts == frozenset({"blob.core.windows.net"})


def test_dated_gpt_image_snapshots_resolve_to_their_family() -> None:
    caps = AzureProvider().capabilities("gpt-image-1-2025-04-15", AzureTarget(deployment="d"))
    assert caps.output_formats == frozenset({"png", "jpeg"})


def test_dall_e_2_is_refused_at_load_time() -> None:
    with pytest.raises(ValueError, match="asynchronous"):
        AzureProvider().capabilities("dall-e-2", AzureTarget(deployment="d"))


# --- Entra ID tokens ------------------------------------------------------------------------------------


@dataclass
class AccessToken:
    token: str
    expires_on: int


class FakeCredential:
    """azure-identity's synchronous protocol; records the scopes asked for and the thread that asked."""

    def __init__(self, lifetime: int = 3600) -> None:
        self.lifetime = lifetime
        self.scopes: list[str] = []
        self.threads: list[int] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.extend(scopes)
        self.threads.append(threading.get_ident())
        return AccessToken(f"token-{len(self.scopes)}", int(time.time()) + self.lifetime)


class FakeAsyncCredential:
    """azure.identity.aio's protocol: ``get_token`` is a coroutine."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_token(self, *scopes: str) -> AccessToken:
        self.calls += 1
        return AccessToken(f"async-token-{self.calls}", int(time.time()) + 3600)


class FailingCredential:
    def get_token(self, *scopes: str) -> AccessToken:
        raise RuntimeError("no identity available in this environment")


async def test_a_sync_credential_runs_off_the_event_loop_thread_and_is_cached() -> None:
    credential = FakeCredential()
    tokens = EntraTokens(credential)
    assert await tokens.token(DEFAULT_TOKEN_SCOPE) == "token-1"
    assert await tokens.token(DEFAULT_TOKEN_SCOPE) == "token-1"
    assert credential.scopes == ["https://cognitiveservices.azure.com/.default"]
    assert credential.threads[0] != threading.get_ident()


async def test_concurrent_requests_share_one_token_fetch() -> None:
    credential = FakeCredential()
    tokens = EntraTokens(credential)
    results = await asyncio.gather(*(tokens.token(DEFAULT_TOKEN_SCOPE) for _ in range(5)))
    assert results == ["token-1"] * 5
    assert len(credential.scopes) == 1


async def test_a_token_close_to_expiry_is_fetched_again() -> None:
    credential = FakeCredential(lifetime=60)  # inside the refresh margin
    tokens = EntraTokens(credential)
    assert await tokens.token(DEFAULT_TOKEN_SCOPE) == "token-1"
    assert await tokens.token(DEFAULT_TOKEN_SCOPE) == "token-2"


async def test_an_async_credential_is_awaited() -> None:
    credential = FakeAsyncCredential()
    tokens = EntraTokens(credential)
    assert await tokens.token("api://custom/.default") == "async-token-1"
    assert await tokens.token("api://custom/.default") == "async-token-1"
    assert credential.calls == 1


async def test_a_failing_credential_is_the_operators_problem() -> None:
    with pytest.raises(UpstreamAuthError, match="no identity available"):
        await EntraTokens(FailingCredential()).token(DEFAULT_TOKEN_SCOPE)


async def test_run_sends_the_credential_token_as_bearer() -> None:
    credential = FakeCredential()
    provider = AzureProvider(credential=credential)
    account = AzureAccount(
        endpoint=ENDPOINT,
        api_version="2025-04-01-preview",
        credential="azure-identity",
        token_scope="api://x/.default",
    )
    sent: list[UpstreamRequest] = []

    async def send(request: UpstreamRequest) -> UpstreamResponse:
        sent.append(request)
        return UpstreamResponse(status=200, headers=CIMultiDict(), body=OK_BODY)

    result = await provider.run(make_call(account=account), send)
    assert isinstance(result, ProviderResult)
    assert sent[0].headers == {"Authorization": "Bearer token-1"}
    assert credential.scopes == ["api://x/.default"]
