"""The ``providers:`` section: one upstream account per entry, its keys checked by its provider's own
``account_type``. An account whose plugin is not serving, or whose secret is unset, loads as not usable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ..capabilities import PERMISSIVE, ModelCapabilities
from ..catalog import Base, DeclarationError, ModelDeclaration, resolve_declared, undeclared
from ..errors import has_credentials
from ..provider import AccountConfig, Provider, TargetOptions
from .convert import RoutesError, as_mapping, convert
from .environment import substitute, unset_variables
from .settings import Timeout
from .table import Account


class _AccountEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    plugin: str
    timeout: Timeout | None = None
    models: dict[str, Any] = {}  # upstream models declared or corrected for this account (ModelDeclaration)


class _AnyAccount(AccountConfig, forbid_unknown_fields=False):
    pass


class _AnyOptions(TargetOptions, forbid_unknown_fields=False):
    pass


class UnavailablePlugin(Provider):
    """Stands in for a plugin that is installed but not serving (blocked, or failed to load): the accounts
    naming it load as not usable with the reason, so their routes answer 503 saying why while every other
    route serves. It takes any keys and declares that it can do anything, so requests reach that 503 rather
    than a 400 about a capability nobody declared."""

    account_type = _AnyAccount
    options_type = _AnyOptions

    def __init__(self, name: str, reason: str) -> None:
        self.name = name  # type: ignore[misc]
        self.reason = reason

    def capabilities(self, upstream_model: str, options: Any) -> ModelCapabilities:
        return PERMISSIVE

    def check_account(self, account: Any) -> str | None:
        return f"plugin '{self.name}' {self.reason}"


def load_account(
    name: str,
    entry: Any,
    source: str,
    providers: Mapping[str, Provider],
    environ: Mapping[str, str],
    unavailable: Mapping[str, str],
) -> Account:
    path = f"providers.{name}"
    entry = as_mapping(entry, source, path)
    generic_keys = _AccountEntry.__struct_fields__
    generic = {key: entry[key] for key in generic_keys if key in entry}
    head = convert(generic, _AccountEntry, source, path)
    provider = providers.get(head.plugin)
    if provider is None and head.plugin in unavailable:
        provider = UnavailablePlugin(head.plugin, unavailable[head.plugin])
    if provider is None:
        known = ", ".join(sorted(providers)) or "none"
        raise RoutesError(source, f"{path}.plugin", f"unknown plugin '{head.plugin}' (loaded: {known})")
    missing: set[str] = set()
    specific = substitute({k: v for k, v in entry.items() if k not in generic}, environ, missing)
    for key, value in specific.items():
        if isinstance(value, str) and has_credentials(value):
            raise RoutesError(
                source,
                f"{path}.{key}",
                "holds credentials (user:password@) in a URL; give them in the provider's own key "
                "(api_key, ...), not in the URL",
            )
    try:
        config = msgspec.convert(specific, provider.account_type, strict=False)
    except msgspec.ValidationError as exc:
        if not missing:  # raises with the key path
            convert(specific, provider.account_type, source, path, also_valid=generic_keys)
        config = provider.account_type.__new__(provider.account_type)
        problem = f"{unset_variables(missing)} ({exc})"
    else:
        problem = provider.check_account(config)
        if missing:  # the cause the operator must fix, whatever the provider concluded from it
            problem = f"{unset_variables(missing)} ({problem})" if problem else unset_variables(missing)
    models = {
        str(model): convert(declaration, ModelDeclaration, source, f"{path}.models.{model}")
        for model, declaration in head.models.items()
    }
    for model in models:  # the shape of each declaration, before any target uses it
        declared_capabilities(model, models, undeclared, source, path)
    return Account(
        name=name,
        provider=provider,
        config=config,
        timeout=head.timeout or Timeout(),
        problem=problem,
        models=models,
    )


def declared_capabilities(
    model: str, declarations: Mapping[str, ModelDeclaration], base: Base, source: str, account_path: str
) -> ModelCapabilities:
    """The capabilities an account's ``models:`` declare for ``model``, or a :class:`RoutesError` there."""
    try:
        return resolve_declared(model, declarations, base)
    except DeclarationError as exc:
        raise RoutesError(
            source, f"{account_path}.models.{exc.model}.{exc.path}".rstrip("."), exc.message
        ) from None
