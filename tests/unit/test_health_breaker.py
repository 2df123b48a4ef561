"""The per-target circuit breaker: K failures within W seconds open it for T seconds, then one probe decides."""

from __future__ import annotations

import pytest
from imagegate.config import CooldownSettings
from imagegate.errors import (
    ContentPolicyViolation,
    GatewayError,
    UpstreamAuthError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagegate.health import HealthBook, Permit, target_id
from imagegate.state.memory import MemoryState

from tests.support.clock import FakeClock

SETTINGS = CooldownSettings(failures=3, window_seconds=60, duration_seconds=30)
KEY = ("acct", "model", b"{}")
OTHER = ("acct", "other-model", b"{}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def book(clock: FakeClock) -> HealthBook:
    return HealthBook(clock)


def admit(book: HealthBook, key: tuple = KEY) -> Permit:
    permit = book.admit(key)
    assert permit is not None
    return permit


async def fail(book: HealthBook, times: int = 1, settings: CooldownSettings = SETTINGS) -> None:
    for _ in range(times):
        await admit(book).failed(settings)


async def test_k_failures_within_the_window_open_the_breaker(book: HealthBook, clock: FakeClock) -> None:
    await fail(book, 2)
    assert book.is_available(KEY)
    await fail(book)
    assert not book.is_available(KEY) and book.admit(KEY) is None
    assert book.cooldown_remaining(KEY) == 30
    assert book.is_available(OTHER)  # other targets are not affected


async def test_failures_older_than_the_window_do_not_count(book: HealthBook, clock: FakeClock) -> None:
    await fail(book, 2)
    clock.advance(61)
    await fail(book, 2)
    assert book.is_available(KEY)
    await fail(book)
    assert not book.is_available(KEY)


async def test_after_the_cooldown_a_single_probe_is_let_through(book: HealthBook, clock: FakeClock) -> None:
    await fail(book, 3)
    clock.advance(29.9)
    assert book.admit(KEY) is None
    clock.advance(0.2)
    probe = admit(book)
    assert probe.probe
    assert book.admit(KEY) is None and book.cooldown_remaining(KEY) == 0  # the probe is in flight
    await probe.succeeded()
    assert book.is_available(KEY)
    assert not admit(book).probe


async def test_a_failed_probe_opens_the_breaker_again(book: HealthBook, clock: FakeClock) -> None:
    await fail(book, 3)
    clock.advance(30)
    await admit(book).failed(SETTINGS)
    assert book.cooldown_remaining(KEY) == 30
    clock.advance(30)
    await admit(book).succeeded()
    await fail(book, 2)  # closed again, with a fresh count
    assert book.is_available(KEY)


async def test_a_probe_that_ends_without_verdict_lets_another_probe_go(
    book: HealthBook, clock: FakeClock
) -> None:
    await fail(book, 3)
    clock.advance(31)
    admit(book).release()  # e.g. the client went away
    assert admit(book).probe


async def test_failures_while_open_do_not_extend_the_cooldown(book: HealthBook, clock: FakeClock) -> None:
    early = [admit(book) for _ in range(4)]  # calls already in flight when it opens
    for permit in early[:3]:
        await permit.failed(SETTINGS)
    clock.advance(10)
    await early[3].failed(SETTINGS)
    assert book.cooldown_remaining(KEY) == 20


async def test_a_late_success_does_not_close_an_open_breaker(book: HealthBook, clock: FakeClock) -> None:
    slow = admit(book)
    await fail(book, 3)
    await slow.succeeded()
    assert not book.is_available(KEY)


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (UpstreamUnavailable("502"), True),
        (UpstreamTimeout("slow"), True),
        (UpstreamAuthError("refused"), True),  # the target cannot serve anyone: skip it
        (UpstreamRejected("bad size"), False),  # the upstream answered: it is up
        (ContentPolicyViolation("blocked"), False),
        (GatewayError("a bug in the gateway"), False),
    ],
)
async def test_only_upstream_faults_count(book: HealthBook, error: GatewayError, counts: bool) -> None:
    for _ in range(3):
        await admit(book).settle(error, SETTINGS)
    assert book.is_available(KEY) is not counts


async def test_an_answer_from_the_upstream_closes_the_breaker_after_a_probe(
    book: HealthBook, clock: FakeClock
) -> None:
    await fail(book, 3)
    clock.advance(30)
    await admit(book).settle(UpstreamRejected("bad size"), SETTINGS)
    assert book.is_available(KEY) and not admit(book).probe


async def test_zero_failures_turns_cooldown_off(book: HealthBook) -> None:
    await fail(book, 50, CooldownSettings(failures=0))
    assert book.is_available(KEY)


async def test_calls_in_flight_are_counted_once(book: HealthBook) -> None:
    first, second = admit(book), admit(book)
    assert book.in_flight(KEY) == 2
    await first.succeeded()
    await first.failed(SETTINGS)  # a second report is ignored
    second.release()
    assert book.in_flight(KEY) == 0


async def test_retain_keeps_live_targets_and_those_with_calls_in_flight(
    book: HealthBook, clock: FakeClock
) -> None:
    await fail(book, 3)
    busy = admit(book, OTHER)
    gone = ("old", "model", b"{}")
    fail_gone = admit(book, gone)
    await fail_gone.failed(SETTINGS)
    book.retain([KEY])
    assert not book.is_available(KEY)  # still cooling down after the reload
    assert book.in_flight(OTHER) == 1  # kept while its call runs
    await busy.succeeded()
    book.retain([KEY])
    assert book.in_flight(OTHER) == 0 and book.is_available(gone)


async def test_books_sharing_a_state_learn_each_others_cooldowns(clock: FakeClock) -> None:
    """Two replicas (two books) on one shared state: failures add up across them, a cooldown started by one
    is passed by on the other after a refresh, and a probe's success ends it for both."""
    shared = MemoryState(clock=clock.now)
    first, second = HealthBook(clock, shared), HealthBook(clock, shared)
    for book in (first, second):
        book.retain([KEY])
    await fail(first, 2)
    await fail(second)  # the third failure of the target, counted across both
    assert not second.is_available(KEY)
    assert first.is_available(KEY)  # not yet refreshed
    await first.refresh()
    assert first.cooldown_remaining(KEY) == 30
    clock.advance(30)
    await admit(second).succeeded()  # the probe through the second
    assert await shared.cooldowns([target_id(KEY)]) == {}
    probe = admit(first)  # the first one's own view ended too: it probes once, as every replica does
    assert probe.probe
    await probe.succeeded()
    await fail(first, 2)
    assert first.is_available(KEY)  # the first one's count started afresh too
