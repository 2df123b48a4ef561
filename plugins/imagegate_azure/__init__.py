"""imagegate provider for Azure OpenAI image deployments (dall-e-3, gpt-image-1 and later)."""

from collections.abc import Callable

from imagegate import Provider, hookimpl

from .config import AzureAccount, AzureTarget
from .provider import AzureProvider

__all__ = ["AzureAccount", "AzureProvider", "AzureTarget"]


@hookimpl
def imagegate_register_providers(register: Callable[[Provider], None]) -> None:
    register(AzureProvider())
