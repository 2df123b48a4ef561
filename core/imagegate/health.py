"""Per-target circuit breaking (cooldown) and load counting.

A target that fails ``failures`` times within ``window_seconds`` is skipped for ``duration_seconds``; then one
call at a time is let through as a probe: its success closes the breaker, its failure opens it again. A
failure is an upstream fault that allows fallback (5xx, timeouts, connection errors, 429, refused credentials);
any other answer from the upstream (a 400 included) shows it is up.

State is keyed by what identifies an upstream deployment (account name, upstream model, provider options),
not by the route table, so it survives a reload for every target that still exists.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from .config import CooldownSettings, Target
from .errors import GatewayError, InvalidRequest, UpstreamError, UpstreamUnavailable
from .retry import Clock

TargetKey = tuple[str, str, bytes]


def target_key(target: Target) -> TargetKey:
    return (target.account.name, target.upstream_model, msgspec.json.encode(target.options))


class TargetCoolingDown(UpstreamUnavailable):
    """Every target that could serve the request is cooling down after repeated failures."""

    status = 503
    default_code = "upstream_cooling_down"
    retryable = False


def is_upstream_fault(error: GatewayError) -> bool:
    return isinstance(error, UpstreamError) and error.fallback


@dataclass(slots=True)
class _Breaker:
    failures: deque[float] = field(default_factory=deque)  # times of recent failures
    open_until: float | None = None  # None: closed
    probing: bool = False  # the one probe after a cooldown is in flight
    in_flight: int = 0  # calls in flight, for the least-busy strategy


class Permit:
    """Leave to make one call to a target; report how it went exactly once (later reports are ignored)."""

    def __init__(self, book: HealthBook, breaker: _Breaker, probe: bool) -> None:
        self._book, self._breaker, self.probe = book, breaker, probe
        self._settled = False
        breaker.in_flight += 1
        breaker.probing = breaker.probing or probe

    def succeeded(self) -> None:
        if self._settle() and self.probe:
            self._breaker.open_until = None
            self._breaker.failures.clear()

    def failed(self, settings: CooldownSettings) -> None:
        if self._settle():
            self._book._record_failure(self._breaker, settings, self.probe)

    def settle(self, error: GatewayError, settings: CooldownSettings) -> None:
        """Report a call that ended with ``error``: a failure if it is the upstream's fault, a sign of life
        if the upstream answered (a refusal included), and no verdict otherwise (a bug of the gateway's)."""
        if is_upstream_fault(error):
            self.failed(settings)
        elif isinstance(error, UpstreamError | InvalidRequest):
            self.succeeded()
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
    """The breakers of every target the gateway has called; one per app, kept across reloads."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._breakers: dict[TargetKey, _Breaker] = {}

    def _breaker(self, key: TargetKey) -> _Breaker:
        return self._breakers.setdefault(key, _Breaker())

    def cooldown_remaining(self, key: TargetKey) -> float | None:
        """``None`` when the target may be called now; else seconds until it may be probed (0 while another
        request's probe is in flight)."""
        breaker = self._breakers.get(key)
        if breaker is None or breaker.open_until is None:
            return None
        if breaker.probing:
            return 0.0
        remaining = breaker.open_until - self.clock.now()
        return remaining if remaining > 0 else None

    def is_available(self, key: TargetKey) -> bool:
        return self.cooldown_remaining(key) is None

    def admit(self, key: TargetKey) -> Permit | None:
        """A permit for one call, or ``None`` while the target cools down or its probe is in flight."""
        if not self.is_available(key):
            return None
        breaker = self._breaker(key)
        return Permit(self, breaker, probe=breaker.open_until is not None)

    def in_flight(self, key: TargetKey) -> int:
        breaker = self._breakers.get(key)
        return breaker.in_flight if breaker is not None else 0

    def retain(self, keys: Iterable[TargetKey]) -> None:
        """Forget targets no longer routed to (after a reload), unless calls to them are still in flight."""
        keep = set(keys)
        for key in [
            key for key, breaker in self._breakers.items() if key not in keep and not breaker.in_flight
        ]:
            del self._breakers[key]

    def _record_failure(self, breaker: _Breaker, settings: CooldownSettings, probe: bool) -> None:
        now = self.clock.now()
        if probe:
            breaker.open_until = now + settings.duration_seconds
            return
        if breaker.open_until is not None or settings.failures == 0:
            return  # already open (a call that started before it opened), or cooldown is off
        breaker.failures.append(now)
        while breaker.failures and breaker.failures[0] <= now - settings.window_seconds:
            breaker.failures.popleft()
        if len(breaker.failures) >= settings.failures:
            breaker.open_until = now + settings.duration_seconds
            breaker.failures.clear()
