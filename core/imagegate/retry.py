"""When to try the same target again, and how long to wait first.

Exponential backoff with jitter; an upstream's own ``Retry-After``/``retry-after-ms`` (carried by the error as
``retry_after``) is honoured up to a cap, past which the target is given up for this request; a maximum number
of attempts per call; and one deadline for the whole request, which also shortens each attempt's timeout.
Time comes from an injected :class:`Clock` so tests never wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Protocol

from .config import RetrySettings, Timeout
from .errors import GatewayError, UpstreamTimeout


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class DeadlineExceeded(UpstreamTimeout):
    """The request's deadline passed before any target produced the images; nothing is left to try."""

    default_code = "deadline_exceeded"
    retryable = False
    fallback = False


def backoff_delay(retry_number: int, settings: RetrySettings, rng: random.Random) -> float:
    """The wait before retry ``retry_number`` (1 for the first): the backoff doubled per retry, capped at
    ``max_backoff_seconds``, then jittered to a random point between half and all of it."""
    ceiling = min(settings.max_backoff_seconds, settings.backoff_seconds * 2 ** (retry_number - 1))
    return ceiling * (0.5 + rng.random() / 2)


def retry_delay(
    error: GatewayError, attempts_made: int, settings: RetrySettings, rng: random.Random
) -> float | None:
    """Seconds to wait before trying the same target again, or ``None`` when it must not be retried: the
    error is not retryable (an upstream 4xx other than 408/409/429, refused credentials, ...), the attempts are
    used up, or the upstream asks for a longer wait than ``max_retry_after_seconds``."""
    if not error.retryable or attempts_made >= settings.max_attempts:
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= settings.max_retry_after_seconds else None
    return backoff_delay(attempts_made, settings, rng)


class Deadline:
    """One deadline for a whole request: every attempt, wait and fallback fits inside it."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.expires_at = clock.now() + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self.clock.now())

    def allows_wait(self, delay: float) -> bool:
        """Whether an attempt could still start after waiting ``delay`` seconds."""
        return delay < self.remaining()

    def limit(self, timeout: Timeout) -> Timeout:
        """``timeout`` shortened to the time left; :class:`DeadlineExceeded` when none is."""
        remaining = self.remaining()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"No upstream produced the images within this model's deadline of {self.seconds:g} s."
            )
        if remaining >= timeout.total and remaining >= timeout.connect:
            return timeout
        return Timeout(connect=min(timeout.connect, remaining), total=min(timeout.total, remaining))
