"""The app factory: builds the plugin manager, loads the route table, and wires the Starlette app. Everything
stateful (plugin manager, aiohttp session, image store) belongs to one app; nothing is module-global."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import endpoints
from .config import RouteTable, load_routes
from .errors import GatewayError, MethodNotAllowed, NotFound
from .gateway import Gateway, RouteState
from .middleware import BodyLimitMiddleware, RequestIdMiddleware
from .plugins import build_plugin_manager, collect_providers
from .store import LocalImageStore
from .transport import Transport

log = logging.getLogger("imagegate")


def error_response(error: GatewayError) -> Response:
    return Response(
        msgspec.json.encode(error.body()),
        status_code=error.status,
        media_type="application/json",
        headers=error.response_headers(),
    )


async def _on_gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}."))
    if exc.status_code == 404:
        return error_response(NotFound(f"No endpoint at {request.url.path}."))
    return error_response(GatewayError(str(exc.detail)))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(
        GatewayError("The gateway failed unexpectedly; the request id identifies it in the logs.")
    )


def create_app(
    routes_path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    plugins: Sequence[object] = (),
) -> Starlette:
    """Build the gateway. ``environ`` (default: the process environment) supplies ``${VAR}`` secrets and
    ``IMAGEGATE_DISABLE_PLUGINS``; ``plugins`` are registered in addition to the entry-point plugins."""
    environ = dict(os.environ if environ is None else environ)
    manager = build_plugin_manager(environ, plugins)
    providers = collect_providers(manager)
    table = load_routes(Path(routes_path), providers, environ)
    state = RouteState(table=table)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        transport = Transport.create()
        store = _make_store(table)
        app.state.gateway = Gateway(routes=state, transport=transport, store=store, hook=manager.hook)
        app.state.loaded_at = time.time()
        cleaner = asyncio.create_task(_clean_periodically(state, store))
        manager.hook.imagegate_startup(app=app)
        try:
            yield
        finally:
            cleaner.cancel()
            await transport.close()

    app = Starlette(
        routes=[
            Route("/v1/images/generations", endpoints.generations, methods=["POST"]),
            Route("/v1/images/edits", endpoints.edits, methods=["POST"]),
            Route("/v1/images/variations", endpoints.variations, methods=["POST"]),
            Route("/v1/images/hosted/{name}", endpoints.hosted_image, methods=["GET"]),
            Route("/v1/models", endpoints.list_models, methods=["GET"]),
            Route("/healthz", endpoints.healthz, methods=["GET"]),
            Route("/readyz", endpoints.readyz, methods=["GET"]),
            Route("/openapi.json", endpoints.openapi, methods=["GET"]),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(
                BodyLimitMiddleware, limit_bytes=lambda: int(state.table.server.max_body_mb * 1024 * 1024)
            ),
        ],
        exception_handlers={
            GatewayError: _on_gateway_error,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.plugin_manager = manager
    app.state.providers = providers
    return app


def _make_store(table: RouteTable) -> LocalImageStore:
    settings = table.server.image_store
    return LocalImageStore(settings.directory, settings.ttl_seconds)


async def _clean_periodically(state: RouteState, store: LocalImageStore) -> None:
    while True:
        await asyncio.sleep(state.table.server.image_store.cleanup_interval_seconds)
        try:
            await store.cleanup()
        except OSError:
            log.warning("cleaning the image store failed", exc_info=True)
