"""The route table a routes.yaml file loads into (upstream accounts, and each model's route to its targets), and
the live table of a running gateway, which reloads replace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..capabilities import ModelCapabilities, Operation
from ..catalog import ModelDeclaration
from ..clients.pricing import Price
from ..clients.registry import ClientRegistry
from ..provider import AccountConfig, Provider, TargetOptions
from .settings import CooldownSettings, RetrySettings, ServerSettings, Timeout

Strategy = Literal["fallback", "weighted", "least-busy"]
UnknownParams = Literal["forward", "refuse"]


@dataclass(slots=True)
class Account:
    name: str
    provider: Provider
    config: AccountConfig
    timeout: Timeout
    problem: str | None  # why the account cannot be used, or None
    models: dict[str, ModelDeclaration] = field(default_factory=dict)


@dataclass(slots=True)
class Target:
    account: Account
    upstream_model: str
    capabilities: ModelCapabilities
    options: TargetOptions
    params: dict[str, Any]  # fixed by the route
    timeout: Timeout
    weight: float
    prices: dict[Operation, Price] = field(default_factory=dict)  # none for an operation: priced at 0
    defaults: dict[str, Any] = field(default_factory=dict)  # the client may send its own value

    @property
    def label(self) -> str:
        return f"{self.account.name}/{self.upstream_model}"


@dataclass(slots=True)
class ModelRoute:
    model: str
    targets: list[Target]
    strategy: Strategy = "fallback"
    retry: RetrySettings = field(default_factory=RetrySettings)
    cooldown: CooldownSettings = field(default_factory=CooldownSettings)
    fallback_on_content_policy: bool = False
    aliases: list[str] = field(default_factory=list)  # other model ids that stand for this one
    # "refuse": fields the gateway does not know are refused for every target; None or "forward": passed on
    # to targets that speak the client's dialect, refused for the others (docs/parameters.md).
    unknown_params: UnknownParams | None = None


@dataclass(slots=True)
class RouteTable:
    source: str
    server: ServerSettings
    accounts: dict[str, Account]
    models: dict[str, ModelRoute] = field(default_factory=dict)  # aliases included, sharing their route
    clients: ClientRegistry | None = None  # None: no client authentication


@dataclass(slots=True)
class RouteState:
    """The live route table. Requests take ``table`` once at their start and keep using it."""

    table: RouteTable
    reload_error: str | None = None  # why the file's latest version was not taken, until one is
