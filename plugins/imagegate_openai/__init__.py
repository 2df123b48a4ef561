"""imagegate provider for OpenAI's Images API and OpenAI-compatible upstreams."""

from collections.abc import Callable

from imagegate import Provider, hookimpl

from .provider import OpenAIAccount, OpenAIProvider

__all__ = ["OpenAIAccount", "OpenAIProvider"]


@hookimpl
def imagegate_register_providers(register: Callable[[Provider], None]) -> None:
    register(OpenAIProvider())
