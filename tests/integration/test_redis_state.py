"""The Redis shared state against real Redis servers: what replicas share, and what happens when Redis fails.

Two :class:`RedisState` objects on one Redis stand for two replicas. Tests that stop Redis use a private
``redis-server`` on a free port, never the machine's shared one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from imagegate.config import SharedStateSettings
from imagegate.state import Period, Spend, StateStatus, StateUnavailable
from imagegate.state.memory import MemoryState
from imagegate.state.redis import RETRY_AFTER_SECONDS, SPEND_CACHE_SECONDS, RedisState
from limits import RateLimitItemPerMinute
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from tests.support.services import RedisServer, run_redis

MONTH = Period("month:2026-11", 4_000_000_000.0)
TOTAL = Period("total", None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Errors(list[str]):
    def __call__(self, operation: str) -> None:
        self.append(operation)


def make_state(url: str, prefix: str, errors: Errors | None = None, clock: Clock | None = None, **options):
    options.setdefault("timeout_seconds", 2)  # a busy test machine must not look like a Redis outage
    settings = SharedStateSettings(redis_url=url, key_prefix=prefix, **options)
    return RedisState(
        settings, MemoryState(), on_error=Errors() if errors is None else errors, clock=clock or Clock()
    )


async def test_spend_adds_up_across_replicas_and_expires_after_its_period(
    redis_url: str, redis_prefix: str
) -> None:
    clock = Clock()
    first, second = (
        make_state(redis_url, redis_prefix, clock=clock),
        make_state(redis_url, redis_prefix, clock=clock),
    )
    await first.add_spend("team-a", [MONTH, TOTAL], Spend(usd=0.25, images=2))
    assert await first.get_spend("team-a", MONTH) == Spend(usd=0.25, images=2)  # its own, not yet written
    assert await second.get_spend("team-a", MONTH) == Spend()
    await first.flush()  # what the background flush does twice a second
    await second.add_spend("team-a", [MONTH, TOTAL], Spend(usd=0.5, images=1))
    await second.flush()
    assert await first.get_spend("team-a", MONTH) == Spend(usd=0.25, images=2)  # read less than 1 s ago
    clock.now += SPEND_CACHE_SECONDS
    assert await first.get_spend("team-a", MONTH) == Spend(usd=0.75, images=3)
    assert await second.get_spend("team-a", TOTAL) == Spend(usd=0.75, images=3)
    assert await second.get_spend("team-b", MONTH) == Spend()
    client = redis.Redis.from_url(redis_url)
    assert client.ttl(f"{redis_prefix}spend:team-a:{MONTH.key}") > 0  # forgotten a day after the month
    assert client.ttl(f"{redis_prefix}spend:team-a:{TOTAL.key}") == -1
    client.close()
    await first.close()
    await second.close()


async def test_rate_limits_hold_across_replicas(redis_url: str, redis_prefix: str) -> None:
    first, second = make_state(redis_url, redis_prefix), make_state(redis_url, redis_prefix)
    five = RateLimitItemPerMinute(5)
    through_first = SlidingWindowCounterRateLimiter(first.rate_limit_storage)
    through_second = SlidingWindowCounterRateLimiter(second.rate_limit_storage)
    assert await through_first.hit(five, "team-a", cost=3)
    assert not await through_second.hit(five, "team-a", cost=3)  # 3 + 3 > 5, whichever replica counts
    assert await through_second.hit(five, "team-a", cost=2)
    assert not await through_first.hit(five, "team-a", cost=1)
    keys = redis.Redis.from_url(redis_url).keys(redis_prefix + "limits*")
    assert keys  # counted in Redis, under the prefix
    await first.close()
    await second.close()


async def test_failures_and_cooldowns_are_shared(redis_url: str, redis_prefix: str) -> None:
    first, second = make_state(redis_url, redis_prefix), make_state(redis_url, redis_prefix)
    assert await first.add_failure("acct/model/x", 60) == 1
    assert await second.add_failure("acct/model/x", 60) == 2
    await second.start_cooldown("acct/model/x", 30)
    left = await first.cooldowns(["acct/model/x", "acct/other/y"])
    assert list(left) == ["acct/model/x"] and 29 < left["acct/model/x"] <= 30
    assert await first.add_failure("acct/model/x", 60) == 1  # the count started afresh
    await first.end_cooldown("acct/model/x")
    assert await second.cooldowns(["acct/model/x"]) == {}
    await first.close()
    await second.close()


async def test_a_failure_window_expires_in_redis(redis_url: str, redis_prefix: str) -> None:
    state = make_state(redis_url, redis_prefix)
    assert await state.add_failure("t", 0.05) == 1
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.pttl(f"{redis_prefix}failures:t") <= 50
    client.close()
    await state.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with run_redis(tmp_path / "redis") as server:
        yield server


async def test_redis_down_falls_back_and_comes_back_by_itself(
    private_redis: RedisServer, redis_prefix: str
) -> None:
    errors, clock = Errors(), Clock()
    state = make_state(private_redis.url, redis_prefix, errors, clock)
    await state.add_spend("team-a", [MONTH], Spend(usd=1.0, images=1))
    await state.flush()
    private_redis.stop()
    # Nothing raises: each call is answered by this process's state, and the failure is counted once, after
    # which Redis is left alone (no more waiting on it) until RETRY_AFTER_SECONDS have passed.
    await state.add_spend("team-a", [MONTH], Spend(usd=0.5, images=1))
    await state.flush()  # refused: the spend waits for Redis
    assert await state.get_spend("team-a", MONTH) == Spend(usd=0.5, images=1)  # what this process knows
    assert await state.add_failure("t", 60) == 1
    await state.start_cooldown("t", 30)
    assert "t" in await state.cooldowns(["t"])
    limiter = SlidingWindowCounterRateLimiter(state.rate_limit_storage)
    assert await limiter.hit(RateLimitItemPerMinute(5), "team-a", cost=2)
    assert errors == ["spend"]
    assert state.status() == StateStatus(backend="redis", healthy=False, error="ConnectionError")
    private_redis.start()
    clock.now += RETRY_AFTER_SECONDS
    # Redis answers again (this one kept nothing on disk): the spend recorded meanwhile reaches it.
    await state.flush()
    client = redis.Redis.from_url(private_redis.url)
    assert client.hget(f"{redis_prefix}spend:team-a:{MONTH.key}", "usd") == b"0.5"
    client.close()
    assert await state.get_spend("team-a", MONTH) == Spend(usd=0.5, images=1)
    assert errors == ["spend"]
    assert state.status() == StateStatus(backend="redis", healthy=True)
    await state.close()


async def test_slow_redis_times_out_into_the_fallback(private_redis: RedisServer, redis_prefix: str) -> None:
    errors = Errors()
    state = make_state(private_redis.url, redis_prefix, errors, timeout_seconds=0.1)
    assert await state.add_failure("t", 60) == 1
    client = redis.Redis.from_url(private_redis.url)
    client.execute_command("CLIENT", "PAUSE", "1000", "ALL")  # Redis stops answering for a second
    assert await state.add_failure("t", 60) == 1  # this process's own count, after 0.1 s
    assert errors == ["target_health"]
    client.close()
    await state.close()


async def test_deny_refuses_a_budget_it_cannot_read(private_redis: RedisServer, redis_prefix: str) -> None:
    state = make_state(private_redis.url, redis_prefix, budget_on_state_error="deny")
    private_redis.stop()
    with pytest.raises(StateUnavailable) as raised:
        await state.get_spend("team-a", MONTH)
    assert raised.value.status == 503 and raised.value.code == "shared_state_unavailable"
    await state.add_spend("team-a", [MONTH], Spend(usd=1.0, images=1))  # recording still never fails
    await state.close()
