"""The Azure keys of routes.yaml: an account (one Azure OpenAI resource), a route target (one deployment)."""

from __future__ import annotations

import importlib.util
from typing import Literal
from urllib.parse import urlsplit

from imagegate import AccountConfig, TargetOptions

UrlForm = Literal["deployment", "v1"]
CredentialSource = Literal["azure-identity"]

# The audience of Azure OpenAI data-plane tokens, as in Azure's docs and the openai SDK's examples.
DEFAULT_TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureAccount(AccountConfig):
    """One Azure OpenAI (or AI Foundry) resource and how to authenticate to it.

    Every field may be ``None`` because an unset ``${VAR}`` arrives as ``None``; :func:`account_problem`
    explains what is missing instead of the loader failing on a type.
    """

    endpoint: str | None = None  # https://{resource}.openai.azure.com
    api_version: str | None = None  # required by url_form "deployment"; optional for "v1"
    url_form: UrlForm = "deployment"
    api_key: str | None = None  # sent as the `api-key` header
    ad_token: str | None = None  # a Microsoft Entra ID access token, sent as `Authorization: Bearer`
    credential: CredentialSource | None = None  # fetch Entra ID tokens with azure-identity
    token_scope: str = DEFAULT_TOKEN_SCOPE
    # Ask Azure to stream previews (stream/partial_images) for streaming clients. Default: on the v1 API,
    # where Azure documents image streaming; elsewhere the gateway streams each image from the whole answer.
    streaming: bool | None = None

    @property
    def streams(self) -> bool:
        return self.url_form == "v1" if self.streaming is None else self.streaming


class AzureTarget(TargetOptions):
    """A route target: the deployment to call and the model deployed there (which decides capabilities)."""

    deployment: str
    model: str | None = None  # defaults to the route's upstream_model


def azure_identity_installed() -> bool:
    try:
        return importlib.util.find_spec("azure.identity") is not None
    except ModuleNotFoundError:  # the `azure` namespace package itself is absent
        return False


def account_problem(account: AzureAccount, *, credential_injected: bool) -> str | None:
    """Why ``account`` cannot be used, in words an operator can act on; ``None`` when it can."""
    if not account.endpoint:
        return "endpoint is not set (https://<resource>.openai.azure.com; is its environment variable set?)"
    parts = urlsplit(account.endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "endpoint is not an http(s) URL such as https://<resource>.openai.azure.com"
    if parts.path.rstrip("/"):
        return (
            "endpoint has a path; give only the resource root "
            "(https://<resource>.openai.azure.com): the plugin adds /openai/... itself, see url_form"
        )
    if account.url_form == "deployment" and not account.api_version:
        return (
            "api_version is not set; url_form 'deployment' needs one "
            "(2025-04-01-preview or later for gpt-image-1, 2024-02-01 or later for dall-e-3)"
        )
    methods = [name for name in ("api_key", "ad_token", "credential") if getattr(account, name)]
    if not methods:
        return "no credentials: set api_key, ad_token (an Entra ID token) or credential: azure-identity"
    if len(methods) > 1:
        return f"set only one of api_key, ad_token and credential (this account sets {' and '.join(methods)})"
    if account.credential and not credential_injected and not azure_identity_installed():
        return "credential: azure-identity needs the optional dependency: pip install 'imagegate[azure]'"
    return None
