"""What the hardening of issue #10 costs on the hot path, measured piece by piece (CPU time, not wall time).

```sh
python -m bench.hardening
```

- connection limits: server CPU per request of uvicorn's own httptools protocol and of imagegate's
  ``LimitedHttpProtocol`` (header timeout, header size, connection count), each serving a trivial ASGI app in
  its own process, alternating runs of sequential keep-alive requests;
- body idle timeout: ``BodyLimitMiddleware`` reading a one-part body, with and without its timeout;
- upstream image checks: checking the bench's 1.2 MB upstream PNG from its base64's two ends (what a
  b64_json answer passed on as it is gets) against decoding it all (what every check would cost otherwise).

End to end, ``python -m bench.run --candidate-src DIR`` compares two trees in the same rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import statistics
import subprocess
import sys
import time
import timeit

import msgspec

from .assets import noisy_png
from .procs import free_port, usage

SERVER = r"""
import sys, uvicorn
from imagegate.config import ConnectionSettings
from imagegate.serving import uvicorn_options

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

options = uvicorn_options(ConnectionSettings()) if sys.argv[2] == "limited" else {}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False, **options)
"""


def protocol_cpu_us(kind: str, requests: int) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), kind])
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for _ in range(200):  # warm up
            connection.request("POST", "/", body=b'{"prompt": "x"}')
            connection.getresponse().read()
        before = usage(server.pid)
        for _ in range(requests):
            connection.request("POST", "/", body=b'{"prompt": "x"}')
            connection.getresponse().read()
        return (usage(server.pid) - before).cpu_seconds / requests * 1e6
    finally:
        server.terminate()
        server.wait()


def body_read_us(with_timeout: bool, rounds: int) -> float:
    from imagegate.middleware import BodyLimitMiddleware

    async def app(scope: object, receive: object, send: object) -> None:
        await receive()  # type: ignore[operator]

    middleware = BodyLimitMiddleware(app, limit_bytes=lambda: 1 << 26, idle_seconds=lambda: 30.0)
    scope = {"type": "http", "headers": []}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def run() -> float:
        started = time.process_time()
        for _ in range(rounds):
            await (middleware(scope, receive, None) if with_timeout else app(scope, receive, None))  # type: ignore[arg-type]
        return (time.process_time() - started) / rounds * 1e6

    return asyncio.run(run())


def image_check_us(rounds: int) -> tuple[float, float]:
    from imagegate.images import inspect_image
    from imagegate.provider import ResultImage
    from imagegate.results import HEAD_BYTES, TAIL_BYTES, check_image, read_header

    png = noisy_png(1024, 1_200_000, seed=1)  # as the bench emulator answers
    literal = msgspec.json.encode(base64.b64encode(png).decode())

    def ends() -> None:
        head, tail = ResultImage(b64_json=msgspec.Raw(literal)).ends(HEAD_BYTES, TAIL_BYTES) or (b"", b"")
        check_image(read_header(head), head, tail, None, None, whole_jpeg=True)

    def whole() -> None:
        inspect_image(ResultImage(b64_json=msgspec.Raw(literal)).data(), None, whole_jpeg=True)

    return (
        timeit.timeit(ends, number=rounds) / rounds * 1e6,
        timeit.timeit(whole, number=rounds) / rounds * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hardening", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="per protocol run")
    parser.add_argument("--runs", type=int, default=4, help="alternating runs per protocol")
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {"uvicorn": [], "limited": []}
    for _ in range(args.runs):
        for kind in cpu:
            cpu[kind].append(protocol_cpu_us("plain" if kind == "uvicorn" else kind, args.requests))
    for kind, values in cpu.items():
        runs = ", ".join(f"{value:.0f}" for value in values)
        print(f"protocol {kind:8}: {statistics.median(values):5.0f} us CPU per request (runs: {runs})")
    plain, timed = body_read_us(False, 20000), body_read_us(True, 20000)
    print(f"body read: {plain:.1f} us without the idle timeout, {timed:.1f} us with it")
    ends, whole = image_check_us(300)
    print(
        f"upstream image check (1.2 MB PNG as base64): {ends:.0f} us from its ends, {whole:.0f} us decoding it all"
    )


if __name__ == "__main__":
    main()
