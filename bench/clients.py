"""What client keys, limits and pricing cost per request, in CPU: ``python -m bench.clients``.

    python -m bench.clients [--requests 20000] [--rounds 5]

Runs the gateway's own code for each step a request with a client key goes through, on one event loop, and
reports CPU microseconds per request (median of ``--rounds``):

- ``key check``: the authentication middleware on a request with ``Authorization: Bearer`` (header parse,
  SHA-256, lookup among 1,000 clients, ``hmac.compare_digest``), minus the same middleware with no
  ``clients:`` (what every request paid before);
- ``models``: the allowed-model check (globs resolved at load time);
- ``admit``: the budget check (spend read from the in-process state) and the images-per-minute count (the
  `limits` library's sliding-window counter in its memory storage, cost n=2);
- ``price``: the cost of one gpt-image answer from its ``usage``;
- ``charge``: adding the spend to the day, week, month and total periods;
- ``metrics``: the two Prometheus counters (images and USD by client and model) fed from the access-log
  line, minus feeding a line without images.

CPU is ``time.process_time`` of this process; the numbers do not depend on the machine's other load as much
as wall time does, but a busy 2-core machine still adds some noise (the report prints the spread).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import time
from collections.abc import Awaitable, Callable

from imagegate.accesslog import RequestLine, RequestRecord
from imagegate.clients.accounting import Accounting
from imagegate.clients.auth import ClientAuthMiddleware
from imagegate.clients.pricing import call_cost
from imagegate.clients.registry import Budget, ClientEntry, build_registry
from imagegate.metrics import Metrics
from imagegate.provider import Usage
from imagegate.state import Spend
from imagegate.state.memory import MemoryState
from imagegate_openai.models import ModelTable

CLIENTS = 1000
MODELS = [f"model-{index}" for index in range(50)]


def registry_and_key() -> tuple[object, str]:
    entries = {
        f"team-{index}": ClientEntry(
            key_sha256=hashlib.sha256(f"key-{index}".encode()).hexdigest(),
            models=["model-1*", "model-2"],
            images_per_minute=10**9,
            budget_usd=Budget(limit=10**9, period="month"),
        )
        for index in range(CLIENTS)
    }
    return build_registry(entries, MODELS, {}), "key-500"


async def per_request_us(step: Callable[[], Awaitable[object]], requests: int) -> float:
    for _ in range(min(1000, requests)):  # warm up
        await step()
    started = time.process_time()
    for _ in range(requests):
        await step()
    return (time.process_time() - started) / requests * 1e6


async def measure(requests: int) -> dict[str, float]:
    registry, key = registry_and_key()
    client = registry.authenticate(key)  # type: ignore[attr-defined]
    assert client is not None

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    scope_headers = [
        (b"host", b"gw"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + key.encode()),
    ]

    def middleware(clients: object) -> Callable[[], Awaitable[object]]:
        step = ClientAuthMiddleware(app, clients=lambda: clients, admin_key=lambda: None)  # type: ignore[arg-type]

        async def run() -> None:
            scope = {
                "type": "http",
                "path": "/v1/images/generations",
                "method": "POST",
                "headers": scope_headers,
            }
            await step(scope, None, None)  # type: ignore[arg-type]

        return run

    state = MemoryState()
    accounting = Accounting(state)
    price = ModelTable.packaged().price("gpt-image-1")
    usage = Usage(
        input_tokens=50, output_tokens=1056, total_tokens=1106, input_tokens_details={"text_tokens": 50}
    )
    record = RequestRecord()

    async def models() -> bool:
        return client.may_use("model-15")

    async def admit() -> None:
        await accounting.admit(client, 2)

    async def price_step() -> float:
        record.cost_usd = call_cost(price, 2, usage, "medium", "1024x1024")
        return record.cost_usd

    async def charge() -> None:
        await accounting.charge(client, Spend(usd=0.04, images=2))

    metrics = Metrics()
    line_fields = dict(
        time="", request_id="r", method="POST", path="/v1/images/generations", client="team-500",
        model="model-15", route="model-15", end_user=None, status=200, outcome="success", error=None, latency_ms=1200,
        attempts=[], skipped=[],
    )  # fmt: skip
    priced, unpriced = (
        RequestLine(**line_fields, images=2, cost_usd=0.04),
        RequestLine(**line_fields, images=0, cost_usd=0),
    )

    async def observe_priced() -> None:
        metrics.observe(priced)

    async def observe_unpriced() -> None:
        metrics.observe(unpriced)

    with_key = await per_request_us(middleware(registry), requests)
    without = await per_request_us(middleware(None), requests)
    figures = {
        "key check": with_key - without,
        "models": await per_request_us(models, requests),
        "admit": await per_request_us(admit, requests),
        "price": await per_request_us(price_step, requests),
        "charge": await per_request_us(charge, requests),
        "metrics": await per_request_us(observe_priced, requests)
        - await per_request_us(observe_unpriced, requests),
    }
    await state.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rounds = [asyncio.run(measure(args.requests)) for _ in range(args.rounds)]
    print(f"CPU per request, microseconds (median of {args.rounds} rounds of {args.requests}; min-max)")
    totals = [sum(r.values()) for r in rounds]
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        print(f"  {name:<10} {statistics.median(values):7.2f}   ({min(values):.2f}-{max(values):.2f})")
    print(
        f"  {'total':<10} {statistics.median(totals):7.2f}   ({min(totals):.2f}-{max(totals):.2f})  target: 100"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
