"""The request path's gather: asyncio.gather's results and errors, a single awaitable awaited in place."""

from __future__ import annotations

import asyncio

import pytest
from imagegate.concurrency import gather


async def value(x: int) -> int:
    await asyncio.sleep(0)
    return x


async def fail(message: str) -> int:
    raise ValueError(message)


async def test_results_in_order_one_or_many() -> None:
    assert await gather(value(1)) == [1]
    assert await gather(value(1), value(2), value(3)) == [1, 2, 3]
    assert await gather() == []


@pytest.mark.parametrize("count", [1, 2])
async def test_errors_raised_or_returned(count: int) -> None:
    with pytest.raises(ValueError, match="bad"):
        await gather(*(fail("bad") for _ in range(count)))
    outcomes = await gather(*(fail("bad") for _ in range(count)), return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [ValueError] * count


async def test_a_cancelled_caller_is_cancelled_not_given_a_result() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(gather(forever(), return_exceptions=True))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
