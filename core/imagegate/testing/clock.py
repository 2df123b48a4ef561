"""A fake clock for the gateway's router: time moves only when slept (which returns at once) or advanced."""

from __future__ import annotations

import asyncio


class FakeClock:
    """The gateway's clock in tests: time moves only when slept (which returns at once) or advanced."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.time += seconds
