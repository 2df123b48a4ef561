"""The in-process state backend: the spend ledger, and a rate-limit storage the `limits` library counts in."""

from __future__ import annotations

from imagegate.state import Period, Spend
from imagegate.state.memory import MemoryState
from limits import RateLimitItemPerMinute
from limits.aio.strategies import SlidingWindowCounterRateLimiter


async def test_spend_adds_up_per_client_and_period() -> None:
    state = MemoryState()
    month, total = Period("month:2026-11", 2_000_000_000.0), Period("total", None)
    await state.add_spend("team-a", [month, total], Spend(usd=0.25, images=2))
    await state.add_spend("team-a", [month, total], Spend(usd=0.5, images=1))
    await state.add_spend("team-b", [month], Spend(usd=1.0, images=4))
    assert await state.get_spend("team-a", month) == Spend(usd=0.75, images=3)
    assert await state.get_spend("team-a", total) == Spend(usd=0.75, images=3)
    assert await state.get_spend("team-b", month) == Spend(usd=1.0, images=4)
    assert await state.get_spend("team-b", total) == Spend()
    await state.close()


async def test_ended_periods_are_forgotten_when_a_new_one_starts() -> None:
    now = [1000.0]
    state = MemoryState(wall_clock=lambda: now[0])
    yesterday, today = Period("day:1", 1500.0), Period("day:2", 2500.0)
    await state.add_spend("team-a", [yesterday], Spend(usd=1.0, images=1))
    now[0] = 1600.0
    await state.add_spend("team-a", [today], Spend(usd=2.0, images=1))
    assert await state.get_spend("team-a", yesterday) == Spend()
    assert await state.get_spend("team-a", today) == Spend(usd=2.0, images=1)


async def test_limits_counts_costs_in_its_storage() -> None:
    state = MemoryState()
    limiter = SlidingWindowCounterRateLimiter(state.rate_limit_storage)
    five_per_minute = RateLimitItemPerMinute(5)
    assert await limiter.hit(five_per_minute, "team-a", cost=3)
    assert not await limiter.hit(five_per_minute, "team-a", cost=3)
    assert await limiter.hit(five_per_minute, "team-a", cost=2)
    assert await limiter.hit(five_per_minute, "team-b", cost=5)
    await state.close()
