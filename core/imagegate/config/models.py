"""The ``models:`` section: each model id clients may ask for, its targets, strategy, retry and cooldown
(overlaying ``server:``'s key by key), and the aliases that share its route."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .convert import RoutesError, as_mapping, convert, overlay
from .settings import RetrySettings, ServerSettings
from .table import Account, ModelRoute, Strategy, UnknownParams
from .targets import load_target


class _ModelEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    targets: list[dict[str, Any]]
    strategy: Strategy = "fallback"
    aliases: list[str] = []
    retry: dict[str, Any] = {}  # overlays server.retry, key by key
    cooldown: dict[str, Any] = {}  # overlays server.cooldown
    fallback_on_content_policy: bool = False
    unknown_params: UnknownParams | None = None  # default: forward where the target speaks OpenAI's dialect


class _AliasEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    alias_of: str


def load_models(
    section: Any, source: str, server: ServerSettings, accounts: Mapping[str, Account]
) -> dict[str, ModelRoute]:
    """Every model's route by model id, aliases included (sharing their model's route)."""
    entries = {str(model): entry for model, entry in as_mapping(section, source, "models").items()}
    alias_of = {
        model: convert(entry, _AliasEntry, source, f"models.{model}").alias_of
        for model, entry in entries.items()
        if isinstance(entry, dict) and "alias_of" in entry
    }
    models = {
        model: _load_model(model, entry, source, server, accounts)
        for model, entry in entries.items()
        if model not in alias_of
    }
    _add_aliases(models, alias_of, source)
    return models


def check_retry(retry: RetrySettings, source: str, path: str) -> RetrySettings:
    if retry.min_attempt >= retry.deadline_seconds:
        raise RoutesError(
            source,
            f"{path}.min_attempt_seconds",
            f"must be less than deadline_seconds ({retry.deadline_seconds:g}), or no attempt could ever start",
        )
    return retry


def _load_model(
    model: str, entry: Any, source: str, server: ServerSettings, accounts: Mapping[str, Account]
) -> ModelRoute:
    path = f"models.{model}"
    if isinstance(entry, list):
        entry = {"targets": entry}
    head = convert(as_mapping(entry, source, path), _ModelEntry, source, path)
    if not head.targets:
        raise RoutesError(source, f"{path}.targets", "a model needs at least one target")
    targets = [
        load_target(model, raw, source, f"{path}.targets[{index}]", accounts)
        for index, raw in enumerate(head.targets)
    ]
    if head.unknown_params == "forward" and not any(t.capabilities.forwards_unknown_params for t in targets):
        raise RoutesError(
            source,
            f"{path}.unknown_params",
            "no target of this model speaks the client's dialect, so unknown parameters cannot be forwarded",
        )
    return ModelRoute(
        model=model,
        targets=targets,
        strategy=head.strategy,
        retry=check_retry(
            overlay(server.retry, head.retry, source, f"{path}.retry"), source, f"{path}.retry"
        ),
        cooldown=overlay(server.cooldown, head.cooldown, source, f"{path}.cooldown"),
        fallback_on_content_policy=head.fallback_on_content_policy,
        aliases=[str(alias) for alias in head.aliases],
        unknown_params=head.unknown_params,
    )


def _add_aliases(models: dict[str, ModelRoute], alias_of: dict[str, str], source: str) -> None:
    """Let each alias share its model's route: ``aliases:`` lists on models, and ``{alias_of: model}`` entries
    (which may name another alias; a cycle is an error)."""
    for model, route in list(models.items()):
        for index, alias in enumerate(route.aliases):
            if alias in models or alias in alias_of:
                raise RoutesError(
                    source, f"models.{model}.aliases[{index}]", f"'{alias}' is already a model or an alias"
                )
            models[alias] = route
    for alias in alias_of:
        chain = [alias]
        while chain[-1] in alias_of:
            following = alias_of[chain[-1]]
            if following in chain:
                cycle = " -> ".join([*chain[chain.index(following) :], following])
                raise RoutesError(source, f"models.{alias}.alias_of", f"aliases form a cycle: {cycle}")
            chain.append(following)
        route = models.get(chain[-1])
        if route is None:
            raise RoutesError(
                source, f"models.{chain[-2]}.alias_of", f"'{chain[-1]}' is not a model in this file"
            )
        models[alias] = route
        route.aliases.append(alias)
