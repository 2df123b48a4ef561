"""A closed-loop load generator: ``concurrency`` workers, each sending its next request as soon as the last
one's body has been read in full. Runs in its own process (several may share one run); prints its results as
JSON. ``python -m bench.load SPEC.json``

Every process starts at the same wall-clock instant (``start_at``), warms up, then measures a common window:
throughput counts answers completed inside it, latencies are those of requests started inside it, each with
its time to first byte (the status line and headers in). With ``first_event`` (streamed answers), the body is
read as it arrives and the time to its first bytes (the first event) is recorded instead.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import msgspec
import uvloop


class LoadSpec(msgspec.Struct, kw_only=True):
    url: str
    concurrency: int
    start_at: float  # time.time() at which every worker starts
    warmup: float  # seconds before the measured window
    duration: float  # seconds of the measured window
    body_file: str | None = None
    body_text: str | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = {}
    first_event: bool = False  # time to the first body bytes (the first event), not to the headers


class LoadResult(msgspec.Struct, kw_only=True):
    latencies: list[float]  # seconds, requests started in the window
    first_events: list[float] = []  # seconds to the answer's first byte (first event), same requests
    completed_in_window: int
    window: float
    errors: dict[str, int]  # status (or exception name) -> count, over the whole run
    first_error: str | None
    bytes_received: int  # in the window
    started_late: float  # seconds between start_at and this process's first request


async def run(spec: LoadSpec) -> LoadResult:
    body = Path(spec.body_file).read_bytes() if spec.body_file else (spec.body_text or "").encode()
    headers = {"Content-Type": spec.content_type, **spec.headers}
    window_start = spec.start_at + spec.warmup
    window_end = window_start + spec.duration
    latencies: list[float] = []
    first_events: list[float] = []
    completed = 0
    received = 0
    errors: dict[str, int] = {}
    first_error: list[str] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal completed, received
        while (started_wall := time.time()) < window_end:
            started = time.perf_counter()
            first_bytes = 0.0
            try:
                async with session.post(spec.url, data=body, headers=headers) as response:
                    first_bytes = time.perf_counter() - started  # the status line and headers are in
                    if spec.first_event:
                        parts = [await response.content.readany()]
                        first_bytes = time.perf_counter() - started
                        parts.append(await response.read())
                        content = b"".join(parts)
                    else:
                        content = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, content = 0, f"{type(exc).__name__}: {exc}".encode()
            elapsed = time.perf_counter() - started
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
                if not first_error:
                    first_error.append(f"HTTP {status}: {content[:300]!r}")
                continue
            finished_wall = started_wall + elapsed
            if window_start <= finished_wall < window_end:
                completed += 1
                received += len(content)
            if window_start <= started_wall:
                latencies.append(elapsed)
                first_events.append(first_bytes)

    connector = aiohttp.TCPConnector(limit=spec.concurrency)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        await asyncio.sleep(max(0.0, spec.start_at - time.time()))
        started_late = time.time() - spec.start_at
        await asyncio.gather(*(worker(session) for _ in range(spec.concurrency)))
    return LoadResult(
        latencies=latencies,
        first_events=first_events,
        completed_in_window=completed,
        window=spec.duration,
        errors=errors,
        first_error=first_error[0] if first_error else None,
        bytes_received=received,
        started_late=started_late,
    )


def main() -> None:
    spec = msgspec.json.decode(Path(sys.argv[1]).read_bytes(), type=LoadSpec)
    result = uvloop.run(run(spec))
    sys.stdout.buffer.write(msgspec.json.encode(result))


if __name__ == "__main__":
    main()
