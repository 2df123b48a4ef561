"""Run real servers on loopback ports in background threads, for integration tests.

``serve_asgi`` runs an ASGI app (the gateway) under uvicorn; ``serve_aiohttp`` runs an aiohttp upstream
emulator. Each picks a free port itself and stops when the ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def serve_aiohttp(make_app: Callable[[], web.Application]) -> Iterator[str]:
    """Serve the aiohttp application built by ``make_app`` (called inside the server's own event loop)."""
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner_box: dict[str, web.AppRunner] = {}

    async def start() -> None:
        runner = web.AppRunner(make_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runner_box["runner"] = runner
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(15):
        raise RuntimeError("emulator did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner_box["runner"].cleanup(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        loop.close()
