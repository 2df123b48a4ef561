"""In-process shared state: what one gateway process needs when it is the only one (the default)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence

from limits.aio.storage import MemoryStorage

from . import Period, Spend, StateStatus


class MemoryState:
    """Rate-limit counters in the `limits` library's memory storage; the spend ledger and target health in
    dicts. ``clock`` (monotonic seconds) times failure windows and cooldowns; the router's clock in tests."""

    def __init__(
        self, wall_clock: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._wall_clock = wall_clock
        self._clock = clock
        self._storage = MemoryStorage()
        self._ledger: dict[tuple[str, str], tuple[Spend, float | None]] = {}
        self._failures: dict[str, tuple[int, float]] = {}  # target -> (count, window end)
        self._cooling: dict[str, float] = {}  # target -> end of its cooldown

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
                total = entry[0] + spend
            self._ledger[key] = (total, period.ends_at)

    async def get_spend(self, client: str, period: Period) -> Spend:
        entry = self._ledger.get((client, period.key))
        return Spend() if entry is None else entry[0]

    async def add_failure(self, target: str, window_seconds: float) -> int:
        now = self._clock()
        count, window_end = self._failures.get(target, (0, 0.0))
        if window_end <= now:
            count, window_end = 0, now + window_seconds
        self._failures[target] = (count + 1, window_end)
        return count + 1

    async def start_cooldown(self, target: str, seconds: float) -> None:
        self._cooling[target] = self._clock() + seconds
        self._failures.pop(target, None)

    async def end_cooldown(self, target: str) -> None:
        self._cooling.pop(target, None)
        self._failures.pop(target, None)

    async def cooldowns(self, targets: Collection[str]) -> dict[str, float]:
        now = self._clock()
        for target in [target for target, end in self._cooling.items() if end <= now]:
            del self._cooling[target]
        return {target: self._cooling[target] - now for target in targets if target in self._cooling}

    def status(self) -> StateStatus:
        return StateStatus(backend="memory", healthy=True)

    async def close(self) -> None:
        await self._storage.reset()

    def _forget_ended(self) -> None:
        now = self._wall_clock()
        for key in [
            key for key, (_, ends_at) in self._ledger.items() if ends_at is not None and ends_at <= now
        ]:
            del self._ledger[key]
