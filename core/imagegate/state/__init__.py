"""State that must be shared across replicas when the gateway runs as several: the rate-limit counters, the
spend ledger and target health (failure counts and cooldowns). One protocol, one module per backend:
:mod:`.memory` keeps everything in this process; :mod:`.redis` shares it through Redis and falls back to
the memory backend while Redis fails. The app factory picks the backend; nothing else checks which one it has.

Rate limits are counted by the `limits` library: a backend hands it a storage of the library's async API
(``limits.aio.storage``). Spend is kept per client and per accounting period; a period has a key chosen by
the caller (``month:2026-11``) and the wall-clock time it ends, after which a backend may forget it.

Target health is keyed by a target id (:func:`imagegate.health.target_id`); times are durations, never
instants, so replicas need no common clock (Redis expires the keys).

Each backend reports its own :meth:`SharedState.status` for ``/readyz``, from what it already knows (no call of
its own): the readiness probe must not depend on Redis, which fails open.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec
from limits.aio.storage import Storage

from ..errors import GatewayError


class StateUnavailable(GatewayError):
    """The shared state failed and the operator chose to refuse rather than guess
    (``server.shared_state.budget_on_state_error: deny``)."""

    status = 503
    default_code = "shared_state_unavailable"


@dataclass(frozen=True, slots=True)
class Spend:
    """What a client spent in one period."""

    usd: float = 0.0
    images: int = 0

    def __add__(self, other: Spend) -> Spend:
        return Spend(usd=self.usd + other.usd, images=self.images + other.images)


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # e.g. "day:2026-11-24", "month:2026-11", "total"
    ends_at: float | None  # epoch seconds when the period is over (None: never)


class StateStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What ``/readyz`` tells admins about the shared state."""

    backend: str  # "memory" or "redis"
    healthy: bool  # False: the last call to the backend failed, and this process's own state answers
    error: str | None = None  # the type of that failure (never its text, which may name hosts)


class SharedState(Protocol):
    @property
    def rate_limit_storage(self) -> Storage:
        """The storage the `limits` library counts in (an async storage with sliding-window support)."""
        ...

    async def add_spend(self, client: str, periods: Sequence[Period], spend: Spend) -> None:
        """Add ``spend`` to each of ``client``'s ``periods``."""
        ...

    async def get_spend(self, client: str, period: Period) -> Spend:
        """What ``client`` spent in ``period`` so far (zero when nothing was recorded)."""
        ...

    async def add_failure(self, target: str, window_seconds: float) -> int:
        """Count one failure of ``target``; return how many its current window holds (a window opens at the
        first failure and lasts ``window_seconds``)."""
        ...

    async def start_cooldown(self, target: str, seconds: float) -> None:
        """Let every replica pass ``target`` by for ``seconds``; its failure count starts afresh."""
        ...

    async def end_cooldown(self, target: str) -> None:
        """``target`` answered again: no cooldown and no failures counted."""
        ...

    async def cooldowns(self, targets: Collection[str]) -> dict[str, float]:
        """Those of ``targets`` cooling down, with the seconds each has left."""
        ...

    def status(self) -> StateStatus:
        """The backend and its health as last seen, without a call of its own."""
        ...

    async def close(self) -> None:
        """Release connections and background tasks; called once when the app stops."""
        ...


__all__ = ["Period", "SharedState", "Spend", "StateStatus", "StateUnavailable"]
