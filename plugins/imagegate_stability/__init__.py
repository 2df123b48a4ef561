"""imagegate provider plugin for Stability AI's v2beta Stable Image API (Ultra, Core, SD 3.x, edits)."""

from __future__ import annotations

from collections.abc import Callable

from imagegate import Provider, hookimpl

from .provider import StabilityProvider

__all__ = ["StabilityProvider"]


@hookimpl
def imagegate_register_providers(register: Callable[[Provider], None]) -> None:
    register(StabilityProvider())
