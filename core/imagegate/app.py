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
from .accesslog import AccessLogMiddleware, record_for
from .clients.accounting import Accounting
from .clients.auth import ClientAuthMiddleware
from .config import RouteState, RouteTable, SharedStateSettings, StoreSettings, load_routes
from .errors import GatewayError, MethodNotAllowed, NotFound
from .gateway import Gateway
from .health import TargetKey, target_key
from .metrics import MULTIPROCESS_VARIABLE, Metrics
from .middleware import BodyLimitMiddleware, RequestIdMiddleware
from .plugins import build_plugin_manager, collect_providers
from .reload import RouteReloader, file_fingerprint
from .retry import Clock
from .router import Router
from .state import SharedState
from .state.memory import MemoryState
from .state.redis import RedisState
from .store import ImageStore
from .store.local import LocalImageStore
from .store.s3 import S3ImageStore
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
    record = record_for(request.state)
    record.error = exc.code or exc.type
    response = error_response(exc)
    if record.images:  # upstream calls were paid for before the request failed
        response.headers.update(endpoints.cost_headers(record))
    return response


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:  # Starlette's exception carries the Allow header
        message = f"{request.method} is not allowed on {request.url.path}."
        return error_response(MethodNotAllowed(message, headers=dict(exc.headers or {})))
    if exc.status_code == 404:
        return error_response(NotFound(f"No endpoint at {request.url.path}."))
    return error_response(GatewayError(str(exc.detail)))


def create_app(
    routes_path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    plugins: Sequence[object] = (),
    router: Router | None = None,
) -> Starlette:
    """Build the gateway. ``environ`` (default: the process environment) supplies ``${VAR}`` secrets and
    ``IMAGEGATE_DISABLE_PLUGINS``; ``plugins`` are registered in addition to the entry-point plugins;
    ``router`` (tests: one with a fake clock) keeps target health and load across route reloads."""
    environ = dict(os.environ if environ is None else environ)
    manager = build_plugin_manager(environ, plugins)
    providers = collect_providers(manager)
    path = Path(routes_path)
    fingerprint = file_fingerprint(path)
    unavailable = manager.unavailable()
    table = load_routes(path, providers, environ, unavailable)
    state = RouteState(table=table)
    router = router or Router()
    metrics = Metrics(environ.get(MULTIPROCESS_VARIABLE))

    router.health.retain(_target_keys(table))

    def on_swap(new: RouteTable) -> None:
        router.health.retain(_target_keys(new))
        for section in ("image_store", "shared_state"):
            if getattr(new.server, section) != getattr(table.server, section):
                log.warning("server.%s changes take effect when the gateway restarts", section)
        started, now = table.server.connections, new.server.connections
        followed = {
            name: getattr(started, name) for name in ("body_idle_seconds", "body_min_bytes_per_second")
        }
        if msgspec.structs.replace(now, **followed) != started:
            log.warning(
                "server.connections changes (but the body's idle time and rate) take effect when the gateway "
                "restarts"
            )

    reloader = RouteReloader(
        path,
        state,
        load=lambda: load_routes(path, providers, environ, unavailable),
        on_swap=on_swap,
        loaded_fingerprint=fingerprint,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        transport = Transport.create()
        store = _make_store(table.server.image_store)
        await store.start()
        shared = _make_shared_state(table.server.shared_state, router.clock, metrics)
        router.health.state = shared
        follower = asyncio.create_task(router.health.follow())
        app.state.gateway = Gateway(
            routes=state,
            transport=transport,
            store=store,
            hook=manager.hook,
            accounting=Accounting(shared),
            router=router,
        )
        app.state.shared_state = shared
        app.state.loaded_at = time.time()
        cleaner = asyncio.create_task(_clean_periodically(state, store))
        watcher = asyncio.create_task(reloader.run())
        reloader.install_signal_handler()
        manager.hook.imagegate_startup(app=app)
        try:
            yield
        finally:
            reloader.remove_signal_handler()
            watcher.cancel()
            cleaner.cancel()
            follower.cancel()
            await transport.close()
            await shared.close()
            await store.close()

    app = Starlette(
        routes=[
            Route("/v1/images/generations", endpoints.generations, methods=["POST"]),
            Route("/v1/images/edits", endpoints.edits, methods=["POST"]),
            Route("/v1/images/variations", endpoints.variations, methods=["POST"]),
            Route("/v1/images/hosted/{name}", endpoints.hosted_image, methods=["GET"]),
            Route("/v1/models", endpoints.list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", endpoints.retrieve_model, methods=["GET"]),
            Route("/healthz", endpoints.healthz, methods=["GET"]),
            Route("/readyz", endpoints.readyz, methods=["GET"]),
            Route("/openapi.json", endpoints.openapi, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            Route("/admin/usage", endpoints.admin_usage, methods=["GET"]),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AccessLogMiddleware, observe=metrics.observe),
            Middleware(
                ClientAuthMiddleware,
                clients=lambda: state.table.clients,
                admin_key=lambda: state.table.server.admin_key,
            ),
            Middleware(
                BodyLimitMiddleware,
                limit_bytes=lambda: state.table.server.max_body_bytes,
                idle_seconds=lambda: state.table.server.connections.body_idle_seconds,
                min_bytes_per_second=lambda: state.table.server.connections.body_min_bytes_per_second,
            ),
        ],
        exception_handlers={
            GatewayError: _on_gateway_error,
            HTTPException: _on_http_exception,
        },
        lifespan=lifespan,
    )
    app.state.plugin_manager = manager
    app.state.providers = providers
    app.state.reloader = reloader
    app.state.routes = state
    return app


def _make_store(settings: StoreSettings) -> ImageStore:
    if settings.s3 is not None:
        return S3ImageStore(settings)
    return LocalImageStore(settings.directory, settings.ttl_seconds)


def _target_keys(table: RouteTable) -> list[TargetKey]:
    return [target_key(target) for route in table.models.values() for target in route.targets]


def _make_shared_state(settings: SharedStateSettings | None, clock: Clock, metrics: Metrics) -> SharedState:
    """The backend for rate limits, spend and target health: in this process unless routes.yaml shares it
    (then this process's state stands in while Redis fails)."""
    local = MemoryState(clock=clock.now)
    if settings is None:
        return local
    return RedisState(settings, local, on_error=metrics.count_shared_state_error)


async def _clean_periodically(state: RouteState, store: ImageStore) -> None:
    while True:
        await asyncio.sleep(state.table.server.image_store.cleanup_interval_seconds)
        try:
            await store.cleanup()
        except (OSError, GatewayError):
            log.warning("cleaning the image store failed", exc_info=True)
