"""The hooks a plugin may implement, in the manner of tox's ``plugin/spec.py``.

A plugin is any module or object with functions marked ``@imagegate.hookimpl``, found through the
``imagegate`` entry-point group (first-party providers included) or passed to ``create_app(plugins=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .provider import Provider
    from .request import ImageRequest

PROJECT = "imagegate"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def imagegate_register_providers(register: Callable[[Provider], None]) -> None:
    """Contribute provider objects.

    Call ``register(provider)`` once per provider. ``provider.name`` is what a ``providers:`` entry of
    routes.yaml names as its ``plugin``; two providers with the same name are an error at start-up.
    """


@hookspec
def imagegate_startup(app: Any) -> None:
    """Called once when the app starts serving, after the route table is loaded. ``app`` is the Starlette
    application; ``app.state.gateway`` is the running :class:`imagegate.gateway.Gateway`."""


@hookspec
def imagegate_request_received(request: ImageRequest, request_id: str) -> None:
    """Called for every parsed image request, before routing. Broadcast to all plugins; for observation
    (logging, accounting), not for changing the request."""


@hookspec
def imagegate_response_ready(request: ImageRequest, request_id: str, response: dict[str, Any]) -> None:
    """Called with the OpenAI-shaped response body before it is sent (successful requests only).
    Broadcast to all plugins; for observation, not for changing the response."""
