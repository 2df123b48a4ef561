"""Target ordering per strategy, and which targets are passed by (account not configured, cooling down)."""

from __future__ import annotations

import collections
import random

import pytest
from imagegate.config import RouteTable, parse_routes
from imagegate.errors import ProviderNotConfigured
from imagegate.health import TargetCoolingDown, target_key
from imagegate.plugins import build_plugin_manager, collect_providers
from imagegate.router import Router

from tests.support.clock import FakeClock

ROUTES = """
providers:
  a: {plugin: offline}
  b: {plugin: offline}
  c: {plugin: offline}
  keyless: {plugin: openai, api_key: "${UNSET_KEY}"}
models:
  ordered: [{provider: a}, {provider: b}, {provider: c}]
  shared:
    strategy: weighted
    targets: [{provider: a, weight: 6}, {provider: b, weight: 3}, {provider: c, weight: 1}]
  balanced:
    strategy: least-busy
    targets: [{provider: a}, {provider: b}, {provider: c}]
  gpt-image-1: [{provider: keyless}]
"""


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return parse_routes(ROUTES, "routes.yaml", collect_providers(build_plugin_manager({})), {})


def accounts(ordered: list) -> list[str]:
    return [target.account.name for target, _ in ordered]


def candidates(table: RouteTable, model: str) -> list:
    return [(target, f"plan {index}") for index, target in enumerate(table.models[model].targets)]


def test_fallback_keeps_the_file_order(table: RouteTable) -> None:
    router = Router(clock=FakeClock())
    ordered = router.order(table.models["ordered"], candidates(table, "ordered"))
    assert accounts(ordered) == ["a", "b", "c"] and ordered[0][1] == "plan 0"


def test_weighted_puts_each_target_first_in_proportion_to_its_weight(table: RouteTable) -> None:
    router = Router(clock=FakeClock(), rng=random.Random(2024))
    route = table.models["shared"]
    firsts = collections.Counter(
        accounts(router.order(route, candidates(table, "shared")))[0] for _ in range(5000)
    )
    assert 0.57 < firsts["a"] / 5000 < 0.63
    assert 0.27 < firsts["b"] / 5000 < 0.33
    assert 0.08 < firsts["c"] / 5000 < 0.12


def test_weighted_orders_every_target_for_fallback(table: RouteTable) -> None:
    router = Router(clock=FakeClock(), rng=random.Random(1))
    route = table.models["shared"]
    for _ in range(50):
        assert sorted(accounts(router.order(route, candidates(table, "shared")))) == ["a", "b", "c"]


async def test_least_busy_prefers_the_fewest_calls_in_flight(table: RouteTable) -> None:
    router = Router(clock=FakeClock())
    route = table.models["balanced"]
    a, _, c = route.targets
    assert accounts(router.order(route, candidates(table, "balanced"))) == ["a", "b", "c"]
    permits = [router.health.admit(target_key(a)) for _ in range(2)] + [router.health.admit(target_key(c))]
    assert accounts(router.order(route, candidates(table, "balanced"))) == ["b", "c", "a"]
    for permit in permits:
        assert permit is not None
        await permit.succeeded()
    assert accounts(router.order(route, candidates(table, "balanced"))) == ["a", "b", "c"]


def test_an_account_without_its_secret_is_passed_by(table: RouteTable) -> None:
    router = Router(clock=FakeClock())
    target = table.models["gpt-image-1"].targets[0]
    reason = router.unusable(target, "gpt-image-1")
    assert isinstance(reason, ProviderNotConfigured) and "UNSET_KEY" in reason.message


async def test_a_cooling_target_is_passed_by_until_its_probe(table: RouteTable) -> None:
    clock = FakeClock()
    router = Router(clock=clock)
    route = table.models["ordered"]
    target = route.targets[0]
    assert router.unusable(target, "ordered") is None
    for _ in range(route.cooldown.failures):
        permit = router.health.admit(target_key(target))
        assert permit is not None
        await permit.failed(route.cooldown)
    reason = router.unusable(target, "ordered")
    assert isinstance(reason, TargetCoolingDown) and reason.retry_after == route.cooldown.duration_seconds
    assert router.unusable(route.targets[1], "ordered") is None
    clock.advance(route.cooldown.duration_seconds)
    assert router.unusable(target, "ordered") is None
