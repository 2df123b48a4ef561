"""State that must be shared across replicas when the gateway runs as several: the rate-limit counters and the
spend ledger (and, later, target health). One protocol, one module per backend: :mod:`.memory` keeps
everything in this process; a shared backend (Redis) implements the same protocol. The app factory picks the
backend; nothing else checks which one it has.

Rate limits are counted by the `limits` library: a backend hands it a storage of the library's async API
(``limits.aio.storage``). Spend is kept per client and per accounting period; a period has a key chosen by
the caller (``month:2026-11``) and the wall-clock time it ends, after which a backend may forget it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from limits.aio.storage import Storage


@dataclass(frozen=True, slots=True)
class Spend:
    """What a client spent in one period."""

    usd: float = 0.0
    images: int = 0


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # e.g. "day:2026-11-24", "month:2026-11", "total"
    ends_at: float | None  # epoch seconds when the period is over (None: never)


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

    async def close(self) -> None:
        """Release connections and background tasks; called once when the app stops."""
        ...


__all__ = ["Period", "SharedState", "Spend"]
