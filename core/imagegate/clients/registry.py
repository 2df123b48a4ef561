"""The ``clients:`` section of routes.yaml: who may call the gateway, with which models, how fast, how much.

```yaml
clients:
  team-a:
    key_sha256: "9f86d0…"        # hex SHA-256 of the key (``imagegate keys new``); or key: "${TEAM_A_KEY}"
    models: ["gpt-image-2.5-*", sd3.5-large]   # globs over model ids and aliases; absent = all
    images_per_minute: 60        # counted in images (n), not requests
    budget_usd: {limit: 50, period: month}     # day | week | month | total
```
No section (or an empty one) means no client authentication.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated

import msgspec

from .budgets import PeriodName
from .keys import KeyRing, key_digest

_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")


class Budget(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[float, msgspec.Meta(ge=0)]
    period: PeriodName = "month"


class ClientEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    key_sha256: str | None = None
    key: str | None = None
    models: list[str] | None = None
    images_per_minute: Annotated[int, msgspec.Meta(ge=1)] | None = None
    budget_usd: Budget | None = None


class ClientsError(ValueError):
    """A ``clients:`` entry that cannot be used; ``path`` is the key path below ``clients``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    model_globs: tuple[str, ...] | None  # None: every model
    allowed_models: frozenset[str] | None  # the route table's model ids and aliases the globs match
    images_per_minute: int | None
    budget: Budget | None
    problem: str | None = None  # why the client cannot authenticate (its key's variable is unset)

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models

    def could_use(self, model: str) -> bool:
        """Whether the globs match ``model``, known to the route table or not."""
        globs = self.model_globs
        return globs is None or any(fnmatch.fnmatchcase(model, glob) for glob in globs)


class ClientRegistry:
    """The clients of one route table, and the key ring that finds them."""

    def __init__(self, clients: Mapping[str, Client], digests: Mapping[str, bytes]) -> None:
        self.clients = dict(clients)
        self.keys = KeyRing({digest: self.clients[name] for name, digest in digests.items()})

    def __iter__(self) -> Iterator[Client]:
        return iter(self.clients.values())

    def __len__(self) -> int:
        return len(self.clients)

    def authenticate(self, key: str | None) -> Client | None:
        return self.keys.owner(key)


def build_registry(
    entries: Mapping[str, ClientEntry], models: Collection[str], missing: Mapping[str, set[str]]
) -> ClientRegistry:
    """Clients from their entries (``${VAR}`` already substituted; ``missing[name]`` lists the unset variables
    of that entry) for a route table whose model ids and aliases are ``models``."""
    clients: dict[str, Client] = {}
    digests: dict[str, bytes] = {}
    owners: dict[bytes, str] = {}
    for name, entry in entries.items():
        digest, problem = _digest(name, entry, missing.get(name, set()))
        globs = tuple(entry.models) if entry.models is not None else None
        allowed = None
        if globs is not None:
            allowed = frozenset(m for m in models if any(fnmatch.fnmatchcase(m, g) for g in globs))
        clients[name] = Client(
            name=name,
            model_globs=globs,
            allowed_models=allowed,
            images_per_minute=entry.images_per_minute,
            budget=entry.budget_usd,
            problem=problem,
        )
        if digest is not None:
            if digest in owners:
                raise ClientsError(name, f"has the same key as client '{owners[digest]}'; each needs its own")
            owners[digest] = name
            digests[name] = digest
    return ClientRegistry(clients, digests)


def _digest(name: str, entry: ClientEntry, missing: set[str]) -> tuple[bytes | None, str | None]:
    if entry.key_sha256 is not None and entry.key is not None:
        raise ClientsError(name, "give key_sha256 or key, not both")
    if entry.key_sha256 is not None:
        if not _HEX_DIGEST.match(entry.key_sha256):
            raise ClientsError(f"{name}.key_sha256", "must be 64 hex digits (the SHA-256 of the key)")
        return bytes.fromhex(entry.key_sha256), None
    if entry.key:
        return key_digest(entry.key), None
    if missing:
        return None, f"environment variable {', '.join(sorted(missing))} is not set"
    raise ClientsError(name, "needs key_sha256 (see `imagegate keys new`) or key")
