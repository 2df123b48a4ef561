"""What shared state costs a request: the state work of one image request, in-process vs Redis on loopback.

    python -m bench.shared_state [--redis redis://127.0.0.1:6379/0] [--concurrency 8] [--requests 4000]

Per request, the gateway's state work is what a client with images per minute and a budget needs: the
budget read and the rate-limit hit before any upstream call (``Accounting.admit``), the spend written after
(``Accounting.charge``). Target health adds nothing per request (a background refresh every 0.5 s). This
runs that work through the gateway's own ``Accounting`` with ``--concurrency`` requests at once, on the memory
backend and on the Redis backend, in alternating rounds, and prints per request: wall time (what a request
waits) and this process's CPU. The Redis backend's extra wall time per request is the difference. Keys go
under a prefix of this run's own and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import redis
from imagegate.clients.accounting import Accounting
from imagegate.clients.registry import Budget, Client
from imagegate.config import SharedStateSettings
from imagegate.state import SharedState, Spend
from imagegate.state.memory import MemoryState
from imagegate.state.redis import RedisState

CLIENT = Client(
    name="bench",
    model_globs=None,
    allowed_models=None,
    images_per_minute=100_000_000,
    budget=Budget(limit=1e9, period="month"),
)


async def one_round(state: SharedState, concurrency: int, requests: int) -> tuple[float, float]:
    """(mean wall ms a request spends in state calls, CPU ms per request)."""
    accounting = Accounting(state)
    spent: list[float] = []
    per_worker = requests // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            started = time.perf_counter()
            await accounting.admit(CLIENT, 1)
            await accounting.charge(CLIENT, Spend(usd=0.04, images=1))
            spent.append(time.perf_counter() - started)

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu_ms = (time.process_time() - cpu) * 1000 / len(spent)
    return statistics.mean(spent) * 1000, cpu_ms


async def main_async(args: argparse.Namespace) -> None:
    prefix = f"imagegate-bench:{uuid.uuid4().hex[:12]}:"
    backends: dict[str, SharedState] = {
        "memory": MemoryState(),
        "redis": RedisState(
            SharedStateSettings(redis_url=args.redis, key_prefix=prefix), MemoryState(), on_error=print
        ),
    }
    for state in backends.values():  # warm up: connections, scripts loaded into Redis
        await one_round(state, args.concurrency, args.concurrency * 20)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in backends}
    for index in range(args.rounds):
        order = list(backends) if index % 2 == 0 else list(reversed(backends))
        for name in order:
            figures[name].append(await one_round(backends[name], args.concurrency, args.requests))
    for state in backends.values():
        await state.close()
    client = redis.Redis.from_url(args.redis)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    print(
        f"{args.requests} requests x {args.rounds} rounds at concurrency {args.concurrency}; medians per request"
    )
    print(f"{'backend':10} {'wall ms':>8} {'cpu ms':>8}")
    medians = {
        name: (statistics.median(w for w, _ in rounds), statistics.median(c for _, c in rounds))
        for name, rounds in figures.items()
    }
    for name, (wall, cpu) in medians.items():
        print(f"{name:10} {wall:8.3f} {cpu:8.3f}")
    print(
        f"redis adds {medians['redis'][0] - medians['memory'][0]:.3f} ms of wall time and "
        f"{medians['redis'][1] - medians['memory'][1]:.3f} ms of CPU per request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
