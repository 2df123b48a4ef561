"""Per-target circuit breaking (cooldown) and load counting.

A target that fails ``failures`` times within ``window_seconds`` is skipped for ``duration_seconds``; then one
call at a time is let through as a probe: its success closes the breaker, its failure opens it again. A
failure is an upstream fault that allows fallback (5xx, timeouts, connection errors, 429, refused credentials);
any other answer from the upstream (a 400 included) shows it is up.

State is keyed by what identifies an upstream deployment (account name, upstream model, provider options),
not by the route table, so it survives a reload for every target that still exists.

Failure counts and cooldowns live in the shared state (:mod:`imagegate.state`): with Redis, a target cooled
down by one replica is passed by on all. The request path never waits for the state: it reads this
process's view, which failures and recoveries update at once and :meth:`HealthBook.follow` refreshes from
the state every :data:`REFRESH_SECONDS`. Calls in flight (for least-busy) and the one probe after a cooldown
are this process's own: a count of calls in flight would go stale the moment a replica died, and each
replica probing once after a cooldown costs at most one call per replica.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from .config import CooldownSettings, Target
from .errors import GatewayError, InvalidRequest, UpstreamError, UpstreamUnavailable
from .retry import Clock
from .state import SharedState
from .state.memory import MemoryState

log = logging.getLogger("imagegate")

TargetKey = tuple[str, str, bytes]
REFRESH_SECONDS = 0.5  # how stale this process's view of other replicas' cooldowns may be


def target_key(target: Target) -> TargetKey:
    return (target.account.name, target.upstream_model, msgspec.json.encode(target.options))


def target_id(key: TargetKey) -> str:
    """The target's name in the shared state: readable, and the same in every replica."""
    account, model, options = key
    return f"{account}/{model}/{hashlib.blake2b(options, digest_size=6).hexdigest()}"


class TargetCoolingDown(UpstreamUnavailable):
    """Every target that could serve the request is cooling down after repeated failures."""

    status = 503
    default_code = "upstream_cooling_down"
    retryable = False


def is_upstream_fault(error: GatewayError) -> bool:
    return isinstance(error, UpstreamError) and error.fallback


@dataclass(slots=True)
class _Breaker:
    cooling_until: float | None = None  # None: closed; else when it may be probed (this process's clock)
    probing: bool = False  # this process's probe after a cooldown is in flight
    in_flight: int = 0  # calls in flight, for the least-busy strategy


class Permit:
    """Leave to make one call to a target; report how it went exactly once (later reports are ignored)."""

    def __init__(self, book: HealthBook, key: TargetKey, breaker: _Breaker, probe: bool) -> None:
        self._book, self._key, self._breaker, self.probe = book, key, breaker, probe
        self._settled = False
        breaker.in_flight += 1
        breaker.probing = breaker.probing or probe

    async def succeeded(self) -> None:
        if self._settle() and self.probe:
            await self._book._recovered(self._key, self._breaker)

    async def failed(self, settings: CooldownSettings) -> None:
        if self._settle():
            await self._book._record_failure(self._key, self._breaker, settings, self.probe)

    async def settle(self, error: GatewayError, settings: CooldownSettings) -> None:
        """Report a call that ended with ``error``: a failure if it is the upstream's fault, a sign of life
        if the upstream answered (a refusal included), and no verdict otherwise (a bug of the gateway's)."""
        if is_upstream_fault(error):
            await self.failed(settings)
        elif isinstance(error, UpstreamError | InvalidRequest):
            await self.succeeded()
        else:
            self.release()

    def release(self) -> None:
        """End the call without a verdict (cancelled, or failed inside the gateway)."""
        self._settle()

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        self._breaker.in_flight -= 1
        if self.probe:
            self._breaker.probing = False
        return True


class HealthBook:
    """This process's view of every target's health; one per app, kept across reloads. ``state`` (the app's
    shared state; by default one in this process on ``clock``) holds failure counts and cooldowns."""

    def __init__(self, clock: Clock, state: SharedState | None = None) -> None:
        self.clock = clock
        self.state: SharedState = state or MemoryState(clock=clock.now)
        self._breakers: dict[TargetKey, _Breaker] = {}
        self._routed: set[TargetKey] = set()

    def _breaker(self, key: TargetKey) -> _Breaker:
        return self._breakers.setdefault(key, _Breaker())

    def cooldown_remaining(self, key: TargetKey) -> float | None:
        """``None`` when the target may be called now; else seconds until it may be probed (0 while this
        process's probe is in flight)."""
        breaker = self._breakers.get(key)
        if breaker is None or breaker.cooling_until is None:
            return None
        if breaker.probing:
            return 0.0
        remaining = breaker.cooling_until - self.clock.now()
        return remaining if remaining > 0 else None

    def is_available(self, key: TargetKey) -> bool:
        return self.cooldown_remaining(key) is None

    def admit(self, key: TargetKey) -> Permit | None:
        """A permit for one call, or ``None`` while the target cools down or its probe is in flight."""
        if not self.is_available(key):
            return None
        breaker = self._breaker(key)
        return Permit(self, key, breaker, probe=breaker.cooling_until is not None)

    def in_flight(self, key: TargetKey) -> int:
        breaker = self._breakers.get(key)
        return breaker.in_flight if breaker is not None else 0

    def retain(self, keys: Iterable[TargetKey]) -> None:
        """Keep following the targets routed to; forget the others (after a reload), unless calls to them
        are still in flight."""
        self._routed = set(keys)
        for key in [
            key
            for key, breaker in self._breakers.items()
            if key not in self._routed and not breaker.in_flight
        ]:
            del self._breakers[key]

    async def refresh(self) -> None:
        """Learn the cooldowns other replicas started (or that this one did before a reload)."""
        ids = {target_id(key): key for key in self._routed | self._breakers.keys()}
        remaining = await self.state.cooldowns(ids.keys())
        now = self.clock.now()
        for name, seconds in remaining.items():
            breaker = self._breaker(ids[name])
            if not breaker.probing:
                breaker.cooling_until = max(breaker.cooling_until or now, now + seconds)

    async def follow(self) -> None:
        """Refresh every :data:`REFRESH_SECONDS` until cancelled."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:
                log.warning("refreshing target health failed", exc_info=True)

    async def _recovered(self, key: TargetKey, breaker: _Breaker) -> None:
        breaker.cooling_until = None
        await self.state.end_cooldown(target_id(key))

    async def _record_failure(
        self, key: TargetKey, breaker: _Breaker, settings: CooldownSettings, probe: bool
    ) -> None:
        if probe:
            await self._open(key, breaker, settings)
            return
        if breaker.cooling_until is not None or settings.failures == 0:
            return  # already open (a call that started before it opened), or cooldown is off
        failures = await self.state.add_failure(target_id(key), settings.window_seconds)
        if failures >= settings.failures and breaker.cooling_until is None:
            await self._open(key, breaker, settings)

    async def _open(self, key: TargetKey, breaker: _Breaker, settings: CooldownSettings) -> None:
        breaker.cooling_until = self.clock.now() + settings.duration_seconds
        await self.state.start_cooldown(target_id(key), settings.duration_seconds)
