"""Shared state in Redis (redis-py's ``redis.asyncio``), for several replicas.

Redis trouble never fails a request: every call has a short timeout (``timeout_seconds``); when it fails, the
call is answered by this process's own state (a :class:`~imagegate.state.memory.MemoryState`) instead, the
failure is counted (``imagegate_shared_state_errors_total``), and Redis is left alone for
:data:`RETRY_AFTER_SECONDS` before the next call tries it again, so a dead Redis costs requests nothing
and a restarted one is picked up by itself. That is failing open: while Redis is away, each process limits and
counts on its own. Operators who prefer refusing set ``budget_on_state_error: deny``: a budget that cannot be
read then answers 503 ``shared_state_unavailable``.

Keys (all under ``key_prefix``): ``limits:...`` the `limits` library's sliding-window counters (one Lua call per request);
``spend:{client}:{period}`` a hash of ``usd`` and ``images`` that expires a day after its period ends (written
by a background flush twice a second, read for budget checks at most once a second per client, so a budget
may be overshot by about a second of other replicas' spend, as it may by requests running at once);
``failures:{target}`` a failure count that expires with its window; ``cooldown:{target}`` a flag that expires
when the cooldown ends. Times are Redis's own expiries, so replicas need no common clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from limits.aio.storage import MemoryStorage, RedisStorage, SlidingWindowCounterSupport, Storage
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..config import SharedStateSettings
from . import Period, Spend, StateStatus, StateUnavailable
from .memory import MemoryState

log = logging.getLogger("imagegate")

T = TypeVar("T")
RETRY_AFTER_SECONDS = 1.0  # after a failure, Redis is tried again this much later
SPEND_KEPT_SECONDS = 86400  # a period's spend stays readable this long after the period ends
SPEND_CACHE_SECONDS = 1.0  # a budget check uses Redis's total as read at most this long ago
SPEND_FLUSH_SECONDS = 0.5  # spend waits at most about this long in the process before it is written
ZERO = Spend()


class RedisGuard:
    """Runs Redis calls with a deadline, and keeps requests away from a Redis that just failed."""

    def __init__(
        self, timeout_seconds: float, on_error: Callable[[str], None], clock: Callable[[], float]
    ) -> None:
        self.timeout = timeout_seconds
        self._on_error = on_error
        self._clock = clock
        self._resting_until = 0.0
        self.error: str | None = None  # the type of the last call's failure; None once Redis answers

    @property
    def available(self) -> bool:
        return self._clock() >= self._resting_until

    async def call(self, operation: str, run: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
        """``(True, result)`` when Redis answered in time; ``(False, None)`` when it failed or is resting."""
        if not self.available:
            return False, None
        try:
            async with asyncio.timeout(self.timeout):
                result = await run()
        except Exception as error:  # connection refused, timeout, a Redis error reply...
            self._resting_until = self._clock() + RETRY_AFTER_SECONDS
            self._on_error(operation)
            if self.error is None:
                log.warning(
                    "shared state: Redis failed (%s: %s); using this process's state", operation, error
                )
            self.error = type(error).__name__
            return False, None
        if self.error is not None:
            self.error = None
            log.warning("shared state: Redis answers again")
        return True, result


class FailoverStorage(Storage, SlidingWindowCounterSupport):
    """A `limits` storage that counts in Redis and, while Redis fails, in this process's memory."""

    STORAGE_SCHEME = None

    def __init__(self, primary: RedisStorage, fallback: MemoryStorage, guard: RedisGuard) -> None:
        super().__init__()
        self.primary, self.fallback, self.guard = primary, fallback, guard

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return self.primary.base_exceptions

    async def _either(self, operation: str, call: Callable[[Any], Awaitable[T]]) -> T:
        answered, result = await self.guard.call(operation, lambda: call(self.primary))
        if answered:
            return result  # type: ignore[return-value]
        return await call(self.fallback)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return await self._either("rate_limit", lambda s: s.incr(key, expiry, amount))

    async def get(self, key: str) -> int:
        return await self._either("rate_limit", lambda s: s.get(key))

    async def get_expiry(self, key: str) -> float:
        return await self._either("rate_limit", lambda s: s.get_expiry(key))

    async def check(self) -> bool:
        return await self._either("rate_limit", lambda s: s.check())

    async def reset(self) -> int | None:
        return await self._either("rate_limit", lambda s: s.reset())

    async def clear(self, key: str) -> None:
        await self._either("rate_limit", lambda s: s.clear(key))

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return await self._either(
            "rate_limit", lambda s: s.acquire_sliding_window_entry(key, limit, expiry, amount)
        )

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return await self._either("rate_limit", lambda s: s.get_sliding_window(key, expiry))

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        await self._either("rate_limit", lambda s: s.clear_sliding_window(key, expiry))


class RedisState:
    """The shared-state protocol on Redis, with ``fallback`` answering while Redis fails."""

    def __init__(
        self,
        settings: SharedStateSettings,
        fallback: MemoryState,
        on_error: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.prefix = settings.key_prefix
        self.fallback = fallback
        self.clock = clock
        self.guard = RedisGuard(settings.timeout_seconds, on_error, clock)
        self._unflushed: dict[str, tuple[Spend, float | None]] = {}  # key -> (spend, its period's end)
        self._read: dict[str, tuple[Spend, float]] = {}  # key -> (Redis's total, when it was read)
        self._flusher: asyncio.Task[None] | None = None
        # One immediate retry inside redis-py, so a pooled connection that died with a Redis restart is
        # replaced unnoticed; beyond that the guard decides when to try again, and the fallback answers.
        self.redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.timeout_seconds,
            socket_connect_timeout=settings.timeout_seconds,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        limits_storage = RedisStorage(
            "async+" + settings.redis_url if "://" in settings.redis_url else settings.redis_url,
            implementation="redispy",
            key_prefix=f"{self.prefix}limits",
            connection_pool=self.redis.connection_pool,  # type: ignore[arg-type]
        )
        self._storage = FailoverStorage(limits_storage, fallback.rate_limit_storage, self.guard)

    @property
    def rate_limit_storage(self) -> FailoverStorage:
        return self._storage

    def _spend_key(self, client: str, period: Period) -> str:
        return f"{self.prefix}spend:{client}:{period.key}"

    async def add_spend(self, client: str, periods: Sequence[Period], spend: Spend) -> None:
        """Kept here and written to Redis within :data:`SPEND_FLUSH_SECONDS`, by the background flush: the
        request does not wait for it. Spend that Redis refuses waits here for the next flush."""
        for period in periods:
            key = self._spend_key(client, period)
            waiting, _ = self._unflushed.get(key, (ZERO, None))
            self._unflushed[key] = (waiting + spend, period.ends_at)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_periodically())

    async def get_spend(self, client: str, period: Period) -> Spend:
        """Redis's total as read at most :data:`SPEND_CACHE_SECONDS` ago, plus what this process has not
        written yet: a budget check costs a Redis call about once a second per client, not per request."""
        key = self._spend_key(client, period)
        read = self._read.get(key)
        if read is None or self.clock() - read[1] >= SPEND_CACHE_SECONDS:
            answered, values = await self.guard.call(
                "spend", lambda: self.redis.hmget(key, ["usd", "images"])
            )
            if answered:
                usd, images = values or (None, None)
                read = (Spend(usd=float(usd or 0), images=int(images or 0)), self.clock())
                self._read[key] = read
            elif self.settings.budget_on_state_error == "deny":
                raise StateUnavailable(
                    "The gateway cannot check this key's budget right now; try again shortly."
                )
        known = read[0] if read is not None else ZERO
        return known + self._unflushed.get(key, (ZERO, None))[0]

    async def flush(self) -> None:
        """Write the spend recorded here since the last flush to Redis (one pipelined call)."""
        if not self._unflushed:
            return
        batch, self._unflushed = self._unflushed, {}

        async def write() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, (spend, ends_at) in batch.items():
                    pipe.hincrbyfloat(key, "usd", spend.usd)
                    pipe.hincrby(key, "images", spend.images)
                    if ends_at is not None:
                        pipe.expireat(key, int(ends_at) + SPEND_KEPT_SECONDS)
                await pipe.execute()

        answered, _ = await self.guard.call("spend", write)
        for key, (spend, ends_at) in batch.items():
            if not answered:  # back in line for the next flush
                waiting, _ = self._unflushed.get(key, (ZERO, None))
                self._unflushed[key] = (waiting + spend, ends_at)
            elif key in self._read:  # now part of Redis's total: count it there, not twice
                known, read_at = self._read[key]
                self._read[key] = (known + spend, read_at)
        stale = self.clock() - 10 * SPEND_CACHE_SECONDS
        self._read = {key: read for key, read in self._read.items() if read[1] >= stale}

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(SPEND_FLUSH_SECONDS)
            await self.flush()

    async def add_failure(self, target: str, window_seconds: float) -> int:
        key = f"{self.prefix}failures:{target}"

        async def count() -> int:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, 0, px=max(1, int(window_seconds * 1000)), nx=True)  # opens the window
                pipe.incr(key)
                return int((await pipe.execute())[1])

        answered, failures = await self.guard.call("target_health", count)
        if answered:
            return failures or 0
        return await self.fallback.add_failure(target, window_seconds)

    async def start_cooldown(self, target: str, seconds: float) -> None:
        async def start() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(f"{self.prefix}cooldown:{target}", 1, px=max(1, int(seconds * 1000)))
                pipe.delete(f"{self.prefix}failures:{target}")
                await pipe.execute()

        await self.fallback.start_cooldown(target, seconds)  # kept here too, should Redis fail later
        await self.guard.call("target_health", start)

    async def end_cooldown(self, target: str) -> None:
        await self.fallback.end_cooldown(target)
        await self.guard.call(
            "target_health",
            lambda: self.redis.delete(f"{self.prefix}cooldown:{target}", f"{self.prefix}failures:{target}"),
        )

    async def cooldowns(self, targets: Collection[str]) -> dict[str, float]:
        names = list(targets)

        async def read() -> list[int]:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.pttl(f"{self.prefix}cooldown:{name}")
                return await pipe.execute()

        answered, left = await self.guard.call("target_health", read) if names else (True, [])
        if not answered:
            return await self.fallback.cooldowns(names)
        return {name: ms / 1000 for name, ms in zip(names, left or [], strict=True) if ms > 0}

    def status(self) -> StateStatus:
        """Healthy unless the last Redis call failed; the target-health refresh makes one every half second
        (then one a second while Redis rests), so this is a second or two behind at most."""
        return StateStatus(backend="redis", healthy=self.guard.error is None, error=self.guard.error)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        await self.flush()
        await self.redis.aclose()
        await self.fallback.close()
