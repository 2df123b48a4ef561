"""The hooks a plugin may implement, in the manner of tox's ``plugin/spec.py``, and the plugin API version.

A plugin is any module or object with functions marked ``@imagegate.hookimpl``, found through the
``imagegate`` entry-point group (first-party providers included) or passed to ``create_app(plugins=...)``.
A plugin may declare the plugin API versions it works with as ``IMAGEGATE_PLUGIN_API`` (an int or a collection
of ints); a plugin whose declaration does not include :data:`PLUGIN_API_VERSION` is refused at load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .provider import Provider
    from .request import ImageRequest

PROJECT = "imagegate"

# The version of the contract between the core and plugins: the hooks below and the names ``imagegate``
# exports (``imagegate.__all__``). Adding a hook, a name, or an optional field keeps it; removing or changing
# the meaning of any of them increases it.
PLUGIN_API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def imagegate_register_providers(register: Callable[[Provider], None]) -> None:
    """Contribute provider objects: the hook every provider plugin implements.

    Call ``register(provider)`` once per provider, with an instance of a :class:`imagegate.Provider`
    subclass, which owns its upstream's dialect: both directions of translation, and which of its errors
    mean the upstream does not know a model (``Provider.unknown_model``, for retired models). ``provider.name``
    is what a ``providers:`` entry of routes.yaml names as its ``plugin``. Called
    once per app, at start-up. A plugin that raises here, registers something that is not a ``Provider``, or
    registers a name another plugin already took is skipped as a whole (logged, and listed by ``imagegate
    plugins`` and ``/readyz``); the other plugins serve.
    """


@hookspec
def imagegate_startup(app: Any) -> None:
    """Called once when the app starts serving, after the route table is loaded. ``app`` is the Starlette
    application; ``app.state.gateway`` is the running :class:`imagegate.gateway.Gateway`. Broadcast to all
    plugins; an exception here stops the start-up."""


@hookspec
def imagegate_request_received(request: ImageRequest, request_id: str) -> None:
    """Called for every parsed image request, before routing, with the unified request (``request.model``,
    ``request.operation``, ``request.params``, ``request.extra``) and the id the response will carry.
    Broadcast to all plugins; for observation (logging, accounting), not for changing the request."""


@hookspec
def imagegate_response_ready(request: ImageRequest, request_id: str, response: dict[str, Any]) -> None:
    """Called with the OpenAI-shaped response body before it is sent (successful requests only).
    Broadcast to all plugins; for observation, not for changing the response."""
