"""The Azure OpenAI provider: OpenAI's Images dialect behind Azure's URLs, authentication and errors."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from imagegate import (
    ModelCapabilities,
    Operation,
    Price,
    Provider,
    ProviderResult,
    StreamItem,
    UnsupportedValue,
    UpstreamCall,
    UpstreamError,
    UpstreamEvent,
    UpstreamRequest,
    UpstreamResponse,
)
from imagegate_openai.dialect import (
    json_body,
    multipart_form,
    parse_images,
    parse_stream_event,
    rejects_unknown_model,
)
from imagegate_openai.models import ModelTable

from .auth import EntraTokens
from .capabilities import azure_capabilities
from .config import AzureAccount, AzureTarget, account_problem
from .errors import REQUEST_ID_HEADER, error_from_azure

log = logging.getLogger("imagegate.azure")

_OPERATION_PATHS = {"generate": "images/generations", "edit": "images/edits"}


class AzureProvider(Provider):
    """Azure OpenAI image deployments.

    ``credential`` is for accounts with ``credential: azure-identity``: any object with azure-identity's
    ``get_token(scope)``. Without one, ``DefaultAzureCredential`` is created when first needed. Tests and
    embedders inject their own here.
    """

    name = "azure"
    account_type = AzureAccount
    options_type = AzureTarget

    def __init__(self, credential: Any = None, table: ModelTable | None = None) -> None:
        self._tokens = EntraTokens(credential)
        self.table = table or ModelTable.packaged()  # OpenAI's model table, which Azure serves models of

    def capabilities(self, upstream_model: str, options: AzureTarget) -> ModelCapabilities:
        return azure_capabilities(self.table, options.model or upstream_model)

    def price(self, upstream_model: str, options: AzureTarget, operation: Operation) -> Price | None:
        """OpenAI's list prices for the deployed model (Azure's global deployments charge the same)."""
        return self.table.price(options.model or upstream_model)

    def check_account(self, account: AzureAccount) -> str | None:
        return account_problem(account, credential_injected=self._tokens.injected)

    def build(self, call: UpstreamCall) -> UpstreamRequest:
        """The request for ``call``. For ``credential`` accounts the ``Authorization`` header is added by
        :meth:`prepare`, which may need to fetch a token first."""
        account: AzureAccount = call.account
        target: AzureTarget = call.options
        assert account.endpoint is not None  # check_account keeps unusable accounts from being called
        path = _OPERATION_PATHS.get(call.operation)
        if path is None:
            raise UnsupportedValue(
                f"Azure OpenAI has no endpoint for image {call.operation}s.", param="model"
            )
        endpoint = account.endpoint.rstrip("/")
        if account.url_form == "deployment":
            url = f"{endpoint}/openai/deployments/{quote(target.deployment, safe='')}/{path}"
            include_model = False  # the deployment is in the URL; newer deployments refuse a body `model`
        else:
            url = f"{endpoint}/openai/v1/{path}"
            include_model = True
            call = replace(call, upstream_model=target.deployment)  # v1's body `model` names the deployment
        if call.stream and not account.streams:
            call = replace(call, stream=None, partial_images=None)  # Azure answers whole; the core streams it
        query = {"api-version": account.api_version} if account.api_version else None
        headers = _static_auth_headers(account)
        if call.operation == "generate":
            body = json_body(call, include_model=include_model)
            return UpstreamRequest(url=url, headers=headers, json=body, query=query)
        form = multipart_form(call, include_model=include_model)
        return UpstreamRequest(url=url, headers=headers, form=form, query=query)

    async def prepare(self, call: UpstreamCall) -> UpstreamRequest:
        request = self.build(call)
        account: AzureAccount = call.account
        if account.credential:
            request.headers["Authorization"] = f"Bearer {await self._tokens.token(account.token_scope)}"
        return request

    def parse_event(self, call: UpstreamCall, event: UpstreamEvent) -> StreamItem | None:
        return parse_stream_event(call, event)

    def unknown_model(self, error: UpstreamError) -> bool:
        return super().unknown_model(error) or rejects_unknown_model(error)  # the OpenAI dialect's codes

    def parse(self, call: UpstreamCall, response: UpstreamResponse) -> ProviderResult:
        target: AzureTarget = call.options
        if 200 <= response.status < 300:
            log.debug(
                "azure deployment %s %s: HTTP %s, apim-request-id %s",
                target.deployment,
                call.operation,
                response.status,
                response.headers.get(REQUEST_ID_HEADER),
            )
            return parse_images(call, response)
        error = error_from_azure(response)
        # The message carries the apim-request-id Azure support asks for.
        log.warning(
            "azure deployment %s %s failed with HTTP %s: %s",
            target.deployment,
            call.operation,
            response.status,
            error.message,
        )
        raise error


def _static_auth_headers(account: AzureAccount) -> dict[str, str]:
    if account.api_key:
        return {"api-key": account.api_key}
    if account.ad_token:
        return {"Authorization": f"Bearer {account.ad_token}"}
    return {}
