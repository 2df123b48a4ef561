"""In-process shared state: what one gateway process needs when it is the only one (the default)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from limits.aio.storage import MemoryStorage

from . import Period, Spend


class MemoryState:
    """Rate-limit counters in the `limits` library's memory storage; the spend ledger in a dict."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        self._storage = MemoryStorage()
        self._ledger: dict[tuple[str, str], tuple[Spend, float | None]] = {}

    @property
    def rate_limit_storage(self) -> MemoryStorage:
        return self._storage

    async def add_spend(self, client: str, periods: Sequence[Period], spend: Spend) -> None:
        for period in periods:
            key = (client, period.key)
            entry = self._ledger.get(key)
            if entry is None:
                self._forget_ended()  # a new period began somewhere: drop those that are over
                total = spend
            else:
                total = Spend(usd=entry[0].usd + spend.usd, images=entry[0].images + spend.images)
            self._ledger[key] = (total, period.ends_at)

    async def get_spend(self, client: str, period: Period) -> Spend:
        entry = self._ledger.get((client, period.key))
        return Spend() if entry is None else entry[0]

    async def close(self) -> None:
        await self._storage.reset()

    def _forget_ended(self) -> None:
        now = self._wall_clock()
        for key in [
            key for key, (_, ends_at) in self._ledger.items() if ends_at is not None and ends_at <= now
        ]:
            del self._ledger[key]
