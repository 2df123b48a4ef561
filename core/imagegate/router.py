"""Which target to try first, and how one upstream call is attempted on a target.

Strategies order a model's targets (those whose capabilities can serve the request): ``fallback`` keeps the
order of routes.yaml, ``weighted`` draws a random order in which each target comes first in proportion to its
``weight``, ``least-busy`` puts the targets with the fewest calls in flight first (ties in file order).
Whatever the order, a target that cannot be used (account not configured, cooling down) is passed by.

:meth:`Router.call` carries out one call on one target: it asks the health book for leave, retries as
:mod:`imagegate.retry` decides, reports each outcome to the breaker and each attempt to the access log.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from .accesslog import AttemptRecord, RequestRecord
from .config import ModelRoute, Target, Timeout
from .errors import GatewayError, ProviderNotConfigured, UpstreamTimeout, without_credentials
from .health import HealthBook, TargetCoolingDown, target_key
from .retry import Clock, Deadline, SystemClock, retry_delay

T = TypeVar("T")
P = TypeVar("P")

Attempt = Callable[[Timeout, AttemptRecord], Awaitable[T]]

logger = logging.getLogger("imagegate")  # (`log` is the request record in Router.call)


class Router:
    """Routing state that outlives route reloads: target health and load, the clock, the random source."""

    def __init__(self, clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.health = HealthBook(self.clock)

    def order(self, route: ModelRoute, candidates: Sequence[tuple[Target, P]]) -> list[tuple[Target, P]]:
        """``candidates`` (tuples whose first item is a :class:`Target`) in the order to try them."""
        if route.strategy == "weighted":
            # Efraimidis-Spirakis: sorting by u ** (1 / weight) draws without replacement in proportion to weight.
            keys = {id(c): self.rng.random() ** (1 / c[0].weight) for c in candidates}
            return sorted(candidates, key=lambda c: keys[id(c)], reverse=True)
        if route.strategy == "least-busy":
            return sorted(candidates, key=lambda c: self.health.in_flight(target_key(c[0])))
        return list(candidates)

    def unusable(self, target: Target, model: str) -> GatewayError | None:
        """Why ``target`` must be passed by for now, or ``None`` when it may be tried."""
        account = target.account
        if account.problem is not None:
            return ProviderNotConfigured(
                f"The upstream account '{account.name}' for model '{model}' is not configured: "
                f"{account.problem}."
            )
        remaining = self.health.cooldown_remaining(target_key(target))
        return None if remaining is None else _cooling_down(target, remaining)

    async def call(
        self,
        target: Target,
        route: ModelRoute,
        deadline: Deadline,
        call_index: int,
        attempt: Attempt[T],
        log: RequestRecord,
    ) -> T:
        """Run ``attempt(timeout, record)`` on ``target`` until it succeeds or must not be retried; raise its
        last error then. ``timeout`` is the target's, shortened to what the deadline leaves; no attempt starts
        with less than ``retry.min_attempt_seconds`` left, and one the deadline cut short is
        :class:`DeadlineExceeded`, which the target is not charged for."""
        key = target_key(target)
        last_error: GatewayError | None = None
        for number in itertools.count(1):
            timeout = deadline.limit(target.timeout)
            permit = self.health.admit(key)
            if permit is None:  # cooling down, or another call is its probe
                raise last_error or _cooling_down(target, self.health.cooldown_remaining(key) or 0.0)
            record = log.attempt(target.label, call_index, number)
            started = time.perf_counter()  # real time for the log, whatever the clock
            try:
                result = await attempt(timeout, record)
            except GatewayError as error:
                failure: GatewayError | None = error
            except BaseException as error:
                cancelled = isinstance(error, asyncio.CancelledError)
                record.outcome = "cancelled" if cancelled else "internal_error"
                permit.release()
                raise
            else:
                failure = None
            finally:
                record.latency_ms = round((time.perf_counter() - started) * 1000)
            if failure is None:
                record.outcome = "ok"
                await permit.succeeded()
                return result
            if isinstance(failure, UpstreamTimeout) and timeout.total < target.timeout.total:
                failure = deadline.exceeded()  # the deadline cut it short, not the upstream: no verdict
            record.outcome = failure.code or failure.type
            if failure.detail:
                logger.warning(
                    "%s, call %d attempt %d: %s; the upstream said: %s",
                    target.label,
                    call_index,
                    number,
                    record.outcome,
                    without_credentials(failure.detail),
                )
            await permit.settle(failure, route.cooldown)
            delay = retry_delay(failure, number, route.retry, self.rng)
            if delay is None or not deadline.allows_wait(delay) or not self.health.is_available(key):
                raise failure
            record.retry_in_ms = round(delay * 1000)
            last_error = failure
            await self.clock.sleep(delay)
        raise AssertionError("unreachable")


def _cooling_down(target: Target, remaining: float) -> TargetCoolingDown:
    return TargetCoolingDown(
        f"The upstream {target.label} is cooling down after repeated failures; "
        f"it is tried again in {max(1, round(remaining))} s.",
        retry_after=max(remaining, 1.0),
    )
