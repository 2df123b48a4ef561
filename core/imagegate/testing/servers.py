"""Real servers on loopback ports in background threads: the gateway (under uvicorn) and fake upstreams
(aiohttp). Each picks a free port itself and stops when its ``with`` block ends."""

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

START_TIMEOUT_SECONDS = 15


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_asgi(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT``). ``options``
    are more ``uvicorn.Config`` arguments (the gateway's connection limits)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)


@contextlib.contextmanager
def serve_upstream(app: web.Application | Callable[[], web.Application]) -> Iterator[str]:
    """Serve a fake upstream, an aiohttp application, on 127.0.0.1; yields its base URL.

    ``app`` is the application or a function that builds it; a function is called inside the server's own
    event loop, so the app may create loop-bound objects (events, locks) while it is built.
    """
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started: dict[str, Any] = {}

    async def start() -> None:
        try:
            application = app() if callable(app) and not isinstance(app, web.Application) else app
            runner = web.AppRunner(application, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            started["runner"] = runner
        except Exception as exc:  # reported in the test's thread, not lost in this one
            started["error"] = exc
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        if "runner" in started:
            loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_SECONDS):
        raise RuntimeError("the upstream did not start")
    if "error" in started:
        thread.join(START_TIMEOUT_SECONDS)
        loop.close()
        raise RuntimeError(f"the upstream did not start: {started['error']!r}") from started["error"]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(started["runner"].cleanup(), loop).result(START_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=START_TIMEOUT_SECONDS)
        loop.close()
