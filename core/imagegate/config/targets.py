"""One target of a model: an account, the upstream model it serves, the capabilities and prices that model
has there, and the parameters the route fixes or defaults. Provider-specific keys are checked by the provider's
own ``options_type``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ..capabilities import ModelCapabilities, Operation
from ..catalog import declared_price
from ..clients.pricing import Price
from .accounts import declared_capabilities
from .convert import RoutesError, as_mapping, convert
from .settings import Timeout
from .table import Account, Target


class _TargetEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    provider: str
    upstream_model: str | None = None
    params: dict[str, Any] = {}  # fixed: a client sending another value is refused
    defaults: dict[str, Any] = {}  # used when the client sends no value of its own
    capabilities: dict[str, Any] = {}
    timeout: Timeout | None = None
    weight: float = 1.0
    price: Price | None = None  # replaces the provider's default price for this target


def load_target(model: str, raw: Any, source: str, path: str, accounts: Mapping[str, Account]) -> Target:
    raw = as_mapping(raw, source, path)
    generic_keys = set(_TargetEntry.__struct_fields__)
    head = convert({k: v for k, v in raw.items() if k in generic_keys}, _TargetEntry, source, path)
    account = accounts.get(head.provider)
    if account is None:
        known = ", ".join(sorted(accounts)) or "none"
        raise RoutesError(
            source, f"{path}.provider", f"unknown provider account '{head.provider}' (known: {known})"
        )
    if head.weight <= 0:
        raise RoutesError(source, f"{path}.weight", "must be a positive number")
    provider = account.provider
    options = convert(
        {k: v for k, v in raw.items() if k not in generic_keys},
        provider.options_type,
        source,
        path,
        also_valid=generic_keys,
    )
    upstream_model = head.upstream_model or model
    if upstream_model in account.models:
        capabilities = declared_capabilities(
            upstream_model,
            account.models,
            lambda name: provider.capabilities(name, options),
            source,
            f"providers.{account.name}",
        )
    else:
        try:
            capabilities = provider.capabilities(upstream_model, options)
        except ValueError as exc:
            raise RoutesError(source, f"{path}.upstream_model", str(exc)) from None
    if head.capabilities:
        merged = {**msgspec.to_builtins(capabilities), **head.capabilities}
        capabilities = convert(merged, ModelCapabilities, source, f"{path}.capabilities")
    accepted = capabilities.extra_params
    for section, names in (("params", head.params), ("defaults", head.defaults)):
        for name in names:
            if accepted is not None and name not in accepted:
                known = ", ".join(sorted(accepted)) or "none"
                raise RoutesError(
                    source,
                    f"{path}.{section}.{name}",
                    f"'{upstream_model}' takes no such parameter (it takes: {known})",
                )
    for name in head.defaults:
        if name in head.params:
            raise RoutesError(
                source,
                f"{path}.defaults.{name}",
                "is also in params: a parameter is fixed or a default, not both",
            )
    prices: dict[Operation, Price] = {}
    for operation in capabilities.operations:
        price = head.price or declared_price(  # the account's models: may price what it declares
            upstream_model,
            account.models,
            lambda name, operation=operation: provider.price(name, options, operation),
        )
        if price is not None:
            prices[operation] = price
    return Target(
        account=account,
        upstream_model=upstream_model,
        capabilities=capabilities,
        options=options,
        params=dict(head.params),
        timeout=head.timeout or account.timeout,
        weight=head.weight,
        prices=prices,
        defaults=dict(head.defaults),
    )
