"""bench.clients keeps running as the code it measures changes (a few requests; no timing is asserted)."""

from __future__ import annotations

import pytest

from bench.clients import main


def test_bench_clients_runs_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--requests", "20", "--rounds", "1"]) == 0
    printed = capsys.readouterr().out
    for step in ("key check", "models", "admit", "price", "charge", "metrics", "total"):
        assert step in printed
