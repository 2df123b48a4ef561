"""Every first-party provider runs the conformance suite plugin authors run (imagegate.testing), against the
same emulators as the integration tests. The example plugin runs it in examples/imagegate-pixelworks/tests."""

from __future__ import annotations

from aiohttp import web
from imagegate.testing import Expect, ProviderConformance

from tests.emulators import azure_dialect, openai_dialect, stability_dialect

# A retired model's 404 is the client's 400 naming the replacement; another target may still serve it.
RETIRED_MODEL_404 = {"404": Expect(400, "model_retired", falls_back=True)}


class TestOffline(ProviderConformance):
    provider = "offline"
    upstream_model = "imagegate-offline"

    def upstream(self) -> None:
        return None


class TestOpenAIGptImage(ProviderConformance):
    provider = "openai"
    upstream_model = "gpt-image-1.5"
    account = {"api_key": "test-key", "base_url": "{upstream}/v1"}

    def upstream(self) -> web.Application:
        return openai_dialect.make_app(api_key="test-key")


class TestOpenAIDallE3(ProviderConformance):
    """An upstream that answers with URLs: the core downloads them for base64 and transcoding."""

    provider = "openai"
    upstream_model = "dall-e-3"
    account = {"api_key": "test-key", "base_url": "{upstream}/v1"}
    target = {"capabilities": {"download_hosts": ["127.0.0.1"]}}
    expect = RETIRED_MODEL_404  # OpenAI retired it: "not found" names the replacement

    def upstream(self) -> web.Application:
        return openai_dialect.make_app(api_key="test-key")


class TestOpenAIDallE2(ProviderConformance):
    """The model with variations."""

    provider = "openai"
    upstream_model = "dall-e-2"
    account = {"api_key": "test-key", "base_url": "{upstream}/v1"}
    target = {"capabilities": {"download_hosts": ["127.0.0.1"]}}
    expect = RETIRED_MODEL_404  # OpenAI retired it: "not found" names the replacement

    def upstream(self) -> web.Application:
        return openai_dialect.make_app(api_key="test-key")


class TestAzure(ProviderConformance):
    provider = "azure"
    upstream_model = "gpt-image-1"
    account = {
        "endpoint": "{upstream}",
        "api_key": azure_dialect.API_KEY,
        "api_version": "2025-04-01-preview",
    }
    target = {"deployment": "gpt-image"}

    def upstream(self) -> web.Application:
        return azure_dialect.AzureEmulator().app()


class TestStability(ProviderConformance):
    provider = "stability"
    upstream_model = "sd3.5-large"
    account = {"api_key": stability_dialect.API_KEY, "base_url": "{upstream}"}
    # Stability locks a key out for 60 s after a 429 that names no delay: longer than the suite's
    # max_retry_after_seconds (30), so the target is given up at once and the next one tried.
    expect = {"429": Expect(429, "rate_limit_exceeded", retried=False, falls_back=True, retry_after=60)}

    def upstream(self) -> web.Application:
        return stability_dialect.StabilityEmulator().app()
