"""Admission and charging against the in-process state, with a wall clock the test moves; the key command."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest
from imagegate.cli import main as cli_main
from imagegate.cli import open_access_warning
from imagegate.clients.accounting import Accounting
from imagegate.clients.registry import Budget, Client, ClientRegistry
from imagegate.config import RouteTable, ServerSettings
from imagegate.errors import InsufficientQuota
from imagegate.state import Spend
from imagegate.state.memory import MemoryState


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def client(period: str = "day", limit: float = 1.0) -> Client:
    return Client(
        name="team-a",
        model_globs=None,
        allowed_models=None,
        images_per_minute=None,
        budget=Budget(limit=limit, period=period),  # type: ignore[arg-type]
    )


async def test_a_day_budget_is_spent_then_renewed_the_next_day() -> None:
    now = [at("2026-11-30T23:59:00")]
    accounting = Accounting(MemoryState(), wall_clock=lambda: now[0])
    team = client("day")
    await accounting.admit(team, 1)
    await accounting.charge(team, Spend(usd=1.0, images=2))
    with pytest.raises(InsufficientQuota):
        await accounting.admit(team, 1)
    usage = await accounting.usage(team)
    assert usage["period_key"] == "day:2026-11-30" and usage["images"] == 2 and usage["remaining_usd"] == 0
    now[0] = at("2026-12-01T00:00:01")  # a new day (and month): the budget is whole again
    await accounting.admit(team, 1)
    assert (await accounting.usage(team))["usd"] == 0
    month = await accounting.usage(client("month"))
    assert month["period_key"] == "month:2026-12" and month["usd"] == 0


async def test_spend_counts_in_every_period_so_a_reloaded_period_keeps_it() -> None:
    now = [at("2026-11-25T12:00:00")]
    accounting = Accounting(MemoryState(), wall_clock=lambda: now[0])
    await accounting.charge(client("day"), Spend(usd=0.75, images=3))
    for period in ("week", "month", "total"):
        usage = await accounting.usage(client(period, limit=10))
        assert usage["usd"] == 0.75 and usage["images"] == 3 and usage["remaining_usd"] == 9.25
    assert (await accounting.usage(client("week")))["period_key"] == "week:2026-W48"
    await accounting.charge(None, Spend(usd=5, images=1))  # no client authentication: nothing to charge


def test_keys_new_prints_a_key_and_its_digest(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["keys", "new", "team-a"]) == 0
    printed = capsys.readouterr().out
    key = re.search(r"^  (ig-\S+)$", printed, re.M).group(1)  # type: ignore[union-attr]
    digest = re.search(r'key_sha256: "([0-9a-f]{64})"', printed).group(1)  # type: ignore[union-attr]
    assert hashlib.sha256(key.encode()).hexdigest() == digest and "  team-a:" in printed


def test_serving_beyond_loopback_without_clients_is_warned_about() -> None:
    open_table = RouteTable(source="routes.yaml", server=ServerSettings(), accounts={})
    warning = open_access_warning(open_table, "0.0.0.0", 8000)
    assert warning is not None and "routes.yaml has no clients:" in warning and "0.0.0.0:8000" in warning
    for host in ("127.0.0.1", "localhost", "::1"):
        assert open_access_warning(open_table, host, 8000) is None
    keyed = RouteTable(source="r", server=ServerSettings(), accounts={}, clients=ClientRegistry({}, {}))
    assert open_access_warning(keyed, "0.0.0.0", 8000) is None
