"""``Router.call``: one upstream call retried on its target, with the breaker, the deadline and the access-log
record, driven by scripted attempts and a fake clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from imagegate.accesslog import AttemptRecord, RequestRecord
from imagegate.config import ModelRoute, RouteTable, Timeout, parse_routes
from imagegate.errors import (
    GatewayError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagegate.health import TargetCoolingDown, target_key
from imagegate.plugins import build_plugin_manager, collect_providers
from imagegate.retry import Deadline, DeadlineExceeded
from imagegate.router import Router

from tests.support.clock import FakeClock

ROUTES = """
providers:
  a: {plugin: offline, timeout: {connect: 5, total: 60}}
models:
  m:
    targets: [{provider: a}]
    retry: {max_attempts: 3, backoff_seconds: 2, max_backoff_seconds: 10, deadline_seconds: 100}
    cooldown: {failures: 5, window_seconds: 60, duration_seconds: 30}
"""


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return parse_routes(ROUTES, "routes.yaml", collect_providers(build_plugin_manager({})), {})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def router(clock: FakeClock) -> Router:
    return Router(clock=clock, rng=random.Random(11))


class Script:
    """An attempt function answering from a list: an exception to raise, or a value to return."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.timeouts: list[Timeout] = []

    async def __call__(self, timeout: Timeout, record: AttemptRecord) -> str:
        self.timeouts.append(timeout)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        record.status = 200
        return outcome


def run(router: Router, route: ModelRoute, deadline: Deadline, script: Callable[..., Any]) -> Any:
    return router.call(route.targets[0], route, deadline, 0, script, RequestRecord())


async def test_transient_failures_are_retried_with_backoff(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    route = table.models["m"]
    script = Script(UpstreamUnavailable("502"), UpstreamUnavailable("reset"), "image")
    assert await run(router, route, Deadline(clock, 100), script) == "image"
    first, second = clock.sleeps
    assert 1 <= first <= 2 and 2 <= second <= 4


async def test_the_last_error_is_raised_when_attempts_run_out(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    errors = [UpstreamUnavailable(f"failure {i}") for i in range(3)]
    with pytest.raises(UpstreamUnavailable) as raised:
        await run(router, table.models["m"], Deadline(clock, 100), Script(*errors))
    assert raised.value is errors[2] and len(clock.sleeps) == 2


async def test_a_rejection_is_not_retried(router: Router, clock: FakeClock, table: RouteTable) -> None:
    script = Script(UpstreamRejected("bad size"), "never")
    with pytest.raises(UpstreamRejected):
        await run(router, table.models["m"], Deadline(clock, 100), script)
    assert clock.sleeps == [] and script.outcomes == ["never"]


async def test_retry_after_is_waited_for(router: Router, clock: FakeClock, table: RouteTable) -> None:
    script = Script(UpstreamRateLimited("slow down", retry_after=7), "image")
    assert await run(router, table.models["m"], Deadline(clock, 100), script) == "image"
    assert clock.sleeps == [7]


async def test_no_wait_passes_the_deadline(router: Router, clock: FakeClock, table: RouteTable) -> None:
    script = Script(UpstreamRateLimited("slow down", retry_after=7), "never")
    with pytest.raises(UpstreamRateLimited):
        await run(router, table.models["m"], Deadline(clock, 6), script)
    assert clock.sleeps == []


async def test_each_attempt_gets_what_is_left_of_the_deadline(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    deadline = Deadline(clock, 100)
    clock.advance(70)
    script = Script(UpstreamRateLimited("later", retry_after=10), "image")
    await run(router, table.models["m"], deadline, script)
    assert script.timeouts == [Timeout(connect=5, total=30), Timeout(connect=5, total=20)]


async def test_a_spent_deadline_is_a_504(router: Router, clock: FakeClock, table: RouteTable) -> None:
    deadline = Deadline(clock, 100)
    clock.advance(100)
    with pytest.raises(DeadlineExceeded):
        await run(router, table.models["m"], deadline, Script("never"))


async def test_a_breaker_opening_stops_the_retries(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    route = table.models["m"]
    key = target_key(route.targets[0])
    for _ in range(4):  # four failures elsewhere; the fifth opens the breaker
        permit = router.health.admit(key)
        assert permit is not None
        await permit.failed(route.cooldown)
    failure = UpstreamUnavailable("502")
    with pytest.raises(UpstreamUnavailable) as raised:
        await run(router, route, Deadline(clock, 100), Script(failure, "never"))
    assert raised.value is failure and clock.sleeps == []
    with pytest.raises(TargetCoolingDown) as cooling:
        await run(router, route, Deadline(clock, 100), Script("never"))
    assert cooling.value.status == 503 and cooling.value.retry_after == 30


async def test_a_cancelled_attempt_frees_its_slot(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    route = table.models["m"]
    started = asyncio.Event()

    async def hang(timeout: Timeout, record: AttemptRecord) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(run(router, route, Deadline(clock, 100), hang))
    await started.wait()
    assert router.health.in_flight(target_key(route.targets[0])) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.health.in_flight(target_key(route.targets[0])) == 0


async def test_a_bug_in_the_attempt_is_not_retried(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    with pytest.raises(GatewayError):
        await run(router, table.models["m"], Deadline(clock, 100), Script(GatewayError("bug"), "never"))
    assert clock.sleeps == []


async def test_no_attempt_starts_with_less_than_the_minimum_slice(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    deadline = Deadline(clock, 100, min_attempt=5)
    clock.advance(96)  # 4 s left: a healthy target would be tried with a sliver of time and charged for it
    script = Script("never")
    with pytest.raises(DeadlineExceeded):
        await run(router, table.models["m"], deadline, script)
    assert script.timeouts == []


async def test_no_wait_leaves_less_than_the_minimum_slice(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    script = Script(UpstreamRateLimited("slow down", retry_after=7), "never")
    with pytest.raises(UpstreamRateLimited):  # 7 s of wait would leave 3 s, under the 5 s minimum
        await run(router, table.models["m"], Deadline(clock, 10, min_attempt=5), script)
    assert clock.sleeps == []


async def test_an_attempt_cut_short_by_the_deadline_is_a_504_the_target_is_not_charged_for(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    route = table.models["m"]  # timeout total 60; the deadline leaves 30
    key = target_key(route.targets[0])
    for _ in range(4):  # one failure short of opening the breaker
        permit = router.health.admit(key)
        assert permit is not None
        await permit.failed(route.cooldown)
    deadline = Deadline(clock, 100)
    clock.advance(70)
    script = Script(UpstreamTimeout("the upstream did not answer within 30 s"))
    with pytest.raises(DeadlineExceeded) as raised:
        await run(router, route, deadline, script)
    assert raised.value.status == 504 and raised.value.code == "deadline_exceeded"
    assert script.timeouts == [Timeout(connect=5, total=30)]
    assert router.health.is_available(key)  # a fifth failure would have opened it


async def test_a_timeout_within_the_targets_own_limit_is_still_the_targets_failure(
    router: Router, clock: FakeClock, table: RouteTable
) -> None:
    errors = [UpstreamTimeout(f"timeout {i}") for i in range(3)]
    with pytest.raises(UpstreamTimeout) as raised:
        await run(router, table.models["m"], Deadline(clock, 1000), Script(*errors))
    assert raised.value is errors[2]
