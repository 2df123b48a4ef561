"""When to try the same target again, and how long to wait first.

Exponential backoff with jitter; an upstream's own ``Retry-After``/``retry-after-ms`` (read by the core from
every upstream answer, :func:`retry_after_seconds`, and carried by the error as ``retry_after``) is honoured up
to a cap, past which the target is given up for this request; a maximum number of attempts per call; and one
deadline for the whole request, which also shortens each attempt's timeout and never lets an attempt start
with less than ``min_attempt_seconds`` left. Time comes from an injected :class:`Clock` so tests never wait.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Mapping
from typing import Protocol

from .config import RetrySettings, Timeout
from .errors import GatewayError


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


class DeadlineExceeded(GatewayError):
    """The request's deadline passed before any target produced the images; nothing is left to try. Not an
    upstream fault: no target is charged a failure for it."""

    status = 504
    type = "upstream_error"
    default_code = "deadline_exceeded"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The delay an upstream asks for: ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
    """One deadline for a whole request: every attempt, wait and fallback fits inside it, and no attempt
    starts with less than ``min_attempt`` seconds left."""

    def __init__(self, clock: Clock, seconds: float, min_attempt: float = 0.0) -> None:
        self.clock = clock
        self.seconds = seconds
        self.min_attempt = min_attempt
        self.expires_at = clock.now() + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self.clock.now())

    def allows_wait(self, delay: float) -> bool:
        """Whether an attempt could still start after waiting ``delay`` seconds."""
        return delay + self.min_attempt < self.remaining()

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"No upstream produced the images within this model's deadline of {self.seconds:g} s."
        )

    def limit(self, timeout: Timeout) -> Timeout:
        """``timeout`` shortened to the time left; :class:`DeadlineExceeded` when less than the minimum is."""
        remaining = self.remaining()
        if remaining <= 0 or remaining < self.min_attempt:
            raise self.exceeded()
        if remaining >= timeout.total and remaining >= timeout.connect:
            return timeout
        return Timeout(connect=min(timeout.connect, remaining), total=min(timeout.total, remaining))
