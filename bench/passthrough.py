"""The reference: the thinnest proxy on the gateway's own stack (Starlette + uvicorn + aiohttp).

It reads the client's body, forwards it with the same method, path, content type and authorization to the
upstream over one pooled session, and returns the upstream's body untouched. No parsing, no routing: the
floor any gateway built on this stack stands on. ``python -m bench.passthrough --port P --upstream URL``
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

FORWARDED_HEADERS = ("content-type", "authorization")
UPSTREAM_VARIABLE = "BENCH_PASSTHROUGH_UPSTREAM"


def make_app(upstream: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            app.state.session = session
            yield

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        session: aiohttp.ClientSession = request.app.state.session
        async with session.request(
            request.method, upstream + request.url.path, data=body, headers=headers, allow_redirects=False
        ) as answer:
            content = await answer.read()
            return Response(content, status_code=answer.status, media_type=answer.headers.get("content-type"))

    async def ready(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/__ready", ready), Route("/{path:path}", forward, methods=["GET", "POST"])],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """The uvicorn factory (each worker builds its own app)."""
    return make_app(os.environ[UPSTREAM_VARIABLE].rstrip("/"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:9000")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[UPSTREAM_VARIABLE] = args.upstream
    uvicorn.run(
        "bench.passthrough:app_from_environment",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
