"""Admitting a client's request against its budget and images per minute, and charging what it cost.

:meth:`Accounting.admit` runs after the request is parsed, routed and planned, before any upstream call: a
spent budget is a 429 ``insufficient_quota``, too many images in the last minute a 429
``rate_limit_exceeded`` with ``retry-after``. :meth:`Accounting.charge` is the step that records what the
upstream calls of a request produced; the response step calls it once per request (a JSON body or a stream),
whether the request succeeded or not. Spend goes to the shared state in every period at once.

A budget is checked before a request, not reserved: requests running at once when the budget runs out may
overshoot it by what they cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import ClientRateLimited, InsufficientQuota
from ..state import Period, SharedState, Spend
from .budgets import PeriodName, current_periods
from .ratelimit import ImageRateLimiter
from .registry import Client


class Accounting:
    def __init__(self, state: SharedState, wall_clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.limiter = ImageRateLimiter(state.rate_limit_storage)
        self.wall_clock = wall_clock
        self._periods: dict[PeriodName, Period] = {}
        self._periods_until = 0.0  # the current periods hold until the day ends

    def periods(self) -> dict[PeriodName, Period]:
        """The current day, week, month and total (worked out once a day, not per request)."""
        now = self.wall_clock()
        if not self._periods_until > now >= self._periods_until - 86_400:
            self._periods = current_periods(now)
            self._periods_until = self._periods["day"].ends_at or 0.0
        return self._periods

    async def admit(self, client: Client, images: int) -> None:
        """Raise unless ``client`` may have ``images`` more now; count them against its limit when it may."""
        budget = client.budget
        if budget is not None:
            period = self.periods()[budget.period]
            spent = await self.state.get_spend(client.name, period)
            if spent.usd >= budget.limit:
                raise InsufficientQuota(
                    f"This key's budget of {budget.limit:g} USD for the {budget.period} is spent "
                    f"({spent.usd:.2f} USD); ask the gateway's operator to raise it."
                )
        per_minute = client.images_per_minute
        if per_minute is None:
            return
        if images > per_minute:
            raise ClientRateLimited(
                f"This request asks for {images} images; this key may have at most {per_minute} per minute.",
                param="n",
                headers={"x-should-retry": "false"},
            )
        wait = await self.limiter.acquire(client.name, per_minute, images)
        if wait is not None:
            raise ClientRateLimited(
                f"This key may have {per_minute} images per minute; {images} more fit in "
                f"{max(1, round(wait))} s.",
                retry_after=wait,
            )

    async def charge(self, client: Client | None, spend: Spend) -> None:
        """Record what ``client``'s request cost (nothing for a request without a client or without images)."""
        if client is None or (spend.images == 0 and spend.usd == 0):
            return
        await self.state.add_spend(client.name, list(self.periods().values()), spend)

    async def usage(self, client: Client) -> dict[str, Any]:
        """``client``'s images and USD in its budget's period (the month without a budget), and what is left."""
        budget = client.budget
        name = budget.period if budget is not None else "month"
        period = self.periods()[name]
        spent = await self.state.get_spend(client.name, period)
        return {
            "client": client.name,
            "period": name,
            "period_key": period.key,
            "images": spent.images,
            "usd": round(spent.usd, 6),
            "budget_usd": budget.limit if budget is not None else None,
            "remaining_usd": round(max(0.0, budget.limit - spent.usd), 6) if budget is not None else None,
            "images_per_minute": client.images_per_minute,
        }
