"""Retry decisions: which errors are retried, backoff with jitter, Retry-After honoured up to its cap, the
deadline. Pure functions and a fake clock: nothing waits."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime, timedelta

import pytest
from imagegate.config import RetrySettings, Timeout
from imagegate.errors import (
    ContentPolicyViolation,
    GatewayError,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    upstream_error,
)
from imagegate.retry import Deadline, DeadlineExceeded, backoff_delay, retry_after_seconds, retry_delay
from multidict import CIMultiDict

from tests.support.clock import FakeClock

SETTINGS = RetrySettings(max_attempts=4, backoff_seconds=1, max_backoff_seconds=5, max_retry_after_seconds=30)


@pytest.mark.parametrize(
    "error",
    [
        UpstreamUnavailable("connection refused"),
        UpstreamTimeout("slow"),
        UpstreamRateLimited("slow down"),
        upstream_error(500, "boom"),
        upstream_error(503, "overloaded"),
        upstream_error(408, "request timeout"),
        upstream_error(409, "conflict"),
        upstream_error(429, "rate limited"),
    ],
)
def test_transient_failures_are_retried(error: GatewayError) -> None:
    assert retry_delay(error, 1, SETTINGS, random.Random(1)) is not None


@pytest.mark.parametrize(
    "error",
    [
        upstream_error(400, "bad size"),
        upstream_error(422, "unprocessable"),
        upstream_error(401, "bad key"),
        UpstreamRejected("invalid"),
        UpstreamAuthError("refused"),
        ContentPolicyViolation("blocked"),
        DeadlineExceeded("too late"),
    ],
)
def test_refusals_and_operator_errors_are_not_retried(error: GatewayError) -> None:
    assert retry_delay(error, 1, SETTINGS, random.Random(1)) is None


def test_the_404_of_an_unknown_deployment_is_not_retried_but_may_fall_back() -> None:
    error = upstream_error(404, "no such deployment")
    assert error.fallback and retry_delay(error, 1, SETTINGS, random.Random(1)) is None


def test_attempts_are_limited() -> None:
    error = UpstreamUnavailable("down")
    rng = random.Random(1)
    assert [retry_delay(error, made, SETTINGS, rng) is not None for made in (1, 2, 3, 4)] == [
        True,
        True,
        True,
        False,
    ]


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(5)
    for retry_number, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        delays = [backoff_delay(retry_number, SETTINGS, rng) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 100  # jittered, not fixed


def test_retry_after_is_honoured_exactly_up_to_the_cap() -> None:
    rng = random.Random(1)
    assert retry_delay(UpstreamRateLimited("x", retry_after=12.5), 1, SETTINGS, rng) == 12.5
    assert retry_delay(UpstreamRateLimited("x", retry_after=0), 1, SETTINGS, rng) == 0
    assert retry_delay(UpstreamRateLimited("x", retry_after=30), 1, SETTINGS, rng) == 30
    assert retry_delay(UpstreamRateLimited("x", retry_after=31), 1, SETTINGS, rng) is None


def test_a_deadline_shortens_timeouts_then_expires() -> None:
    clock = FakeClock()
    deadline = Deadline(clock, 100)
    generous = Timeout(connect=10, total=300)
    assert deadline.limit(generous) == Timeout(connect=10, total=100)
    assert deadline.limit(Timeout(connect=1, total=50)) == Timeout(connect=1, total=50)
    clock.advance(95)
    assert deadline.limit(generous) == Timeout(connect=5, total=5)
    assert deadline.allows_wait(4) and not deadline.allows_wait(5)
    clock.advance(5)
    with pytest.raises(DeadlineExceeded) as exceeded:
        deadline.limit(generous)
    assert exceeded.value.status == 504 and "100 s" in exceeded.value.message
    assert not exceeded.value.fallback


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # milliseconds preferred
        ({"retry-after": "20"}, 20.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: now
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x", "retry-after": "3"}, 3.0),
        ({}, None),
    ],
)
def test_retry_after_seconds_reads_both_headers(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(CIMultiDict(headers)) == seconds


def test_retry_after_as_a_future_http_date() -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 < (retry_after_seconds(CIMultiDict({"Retry-After": when})) or 0) <= 90
