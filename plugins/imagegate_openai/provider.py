"""The OpenAI provider: api.openai.com or any upstream that speaks the OpenAI Images API."""

from __future__ import annotations

from typing import Any

from imagegate import (
    AccountConfig,
    ModelCapabilities,
    Operation,
    Price,
    Provider,
    ProviderResult,
    StreamItem,
    UpstreamCall,
    UpstreamError,
    UpstreamEvent,
    UpstreamRequest,
    UpstreamResponse,
)

from .dialect import (
    error_from_response,
    json_body,
    multipart_form,
    parse_images,
    parse_stream_event,
    rejects_unknown_model,
)
from .models import ModelTable

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_PATHS = {"generate": "/images/generations", "edit": "/images/edits", "variation": "/images/variations"}


class OpenAIAccount(AccountConfig, kw_only=True, forbid_unknown_fields=True):
    """Keys of a ``providers:`` entry with ``plugin: openai``."""

    api_key: str | None = None
    base_url: str = DEFAULT_BASE_URL
    organization: str | None = None  # sent as OpenAI-Organization
    project: str | None = None  # sent as OpenAI-Project


class OpenAIProvider(Provider):
    name = "openai"
    account_type = OpenAIAccount

    def __init__(self, table: ModelTable | None = None) -> None:
        self.table = table or ModelTable.packaged()

    def capabilities(self, upstream_model: str, options: Any) -> ModelCapabilities:
        return self.table.capabilities(upstream_model)

    def price(self, upstream_model: str, options: Any, operation: Operation) -> Price | None:
        return self.table.price(upstream_model)

    def check_account(self, account: OpenAIAccount) -> str | None:
        if not account.api_key:
            return "no api_key is set"
        if not account.base_url.startswith(("http://", "https://")):
            return "base_url must be an http:// or https:// URL"
        return None

    def headers(self, account: OpenAIAccount) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {account.api_key}"}
        if account.organization:
            headers["OpenAI-Organization"] = account.organization
        if account.project:
            headers["OpenAI-Project"] = account.project
        return headers

    def build(self, call: UpstreamCall) -> UpstreamRequest:
        account: OpenAIAccount = call.account
        url = account.base_url.rstrip("/") + _PATHS[call.operation]
        if call.operation == "generate":
            return UpstreamRequest(url=url, headers=self.headers(account), json=json_body(call))
        return UpstreamRequest(url=url, headers=self.headers(account), form=multipart_form(call))

    def parse(self, call: UpstreamCall, response: UpstreamResponse) -> ProviderResult:
        if not 200 <= response.status < 300:
            raise error_from_response(response)
        return parse_images(call, response)

    def parse_event(self, call: UpstreamCall, event: UpstreamEvent) -> StreamItem | None:
        return parse_stream_event(call, event)

    def unknown_model(self, error: UpstreamError) -> bool:
        return super().unknown_model(error) or rejects_unknown_model(error)
