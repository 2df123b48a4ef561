"""routes.yaml → typed route table.

Everything is checked at load: unknown keys, unknown plugins and accounts, provider-specific keys (validated
against each provider's own ``account_type``/``options_type``), upstream models the provider cannot serve.
Errors name the file and the key path. ``${VAR}`` and ``${VAR:-default}`` come from the environment; an unset
variable does not fail the load but marks its account unusable, with the reason, for the routes that use it.

One concept per module: :mod:`.loader` (the file as a whole, and its ``server:`` and ``clients:`` sections),
:mod:`.settings` (the typed settings), :mod:`.table` (what a file loads into), :mod:`.accounts` (``providers:``),
:mod:`.models` (``models:`` and aliases), :mod:`.targets` (one target of a model), :mod:`.environment`
(``${VAR}``), :mod:`.convert` (values into types, errors at their key path). The names below are what the rest
of the gateway and plugins import.
"""

from .accounts import UnavailablePlugin
from .convert import RoutesError
from .loader import load_routes, parse_routes
from .settings import (
    ConnectionSettings,
    CooldownSettings,
    ImageUrlSettings,
    RetrySettings,
    S3Settings,
    ServerSettings,
    SharedStateSettings,
    StoreSettings,
    Timeout,
)
from .table import Account, ModelRoute, RouteState, RouteTable, Strategy, Target, UnknownParams

__all__ = [
    "Account",
    "ConnectionSettings",
    "CooldownSettings",
    "ImageUrlSettings",
    "ModelRoute",
    "RetrySettings",
    "RouteState",
    "RouteTable",
    "RoutesError",
    "S3Settings",
    "ServerSettings",
    "SharedStateSettings",
    "StoreSettings",
    "Strategy",
    "Target",
    "Timeout",
    "UnavailablePlugin",
    "UnknownParams",
    "load_routes",
    "parse_routes",
]
