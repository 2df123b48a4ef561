"""The request path after parsing: route → plan → provider.build → send → provider.parse → adapt.

Fan-out and fallback: a plan splits ``n`` into calls of at most the target's ``max_images_per_call``; the calls
run concurrently (at most ``server.max_parallel_calls`` at once). Images from calls that succeed are kept; if
some calls fail with an error that allows fallback, the images still missing are asked of the next target
that can serve the request. If no target is left, the request fails with the last error and the images made
so far are dropped: a client asking for n images gets n images or an error, never fewer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from .adapt import Batch, Delivery, build_response
from .config import RouteTable, Target
from .errors import GatewayError, InvalidRequest, ModelNotFound, ProviderNotConfigured
from .planner import Plan, make_plan, split_batches
from .provider import ProviderResult, UpstreamRequest, UpstreamResponse
from .request import ImageRequest
from .store import ImageStore
from .transport import Transport

log = logging.getLogger("imagegate")


class InternalError(GatewayError):
    """A bug inside the gateway or a plugin; details go to the log, never to the client."""


@dataclass(slots=True)
class RouteState:
    """The live route table. Requests take ``table`` once at their start and keep using it."""

    table: RouteTable
    reload_error: str | None = None


class Gateway:
    def __init__(self, routes: RouteState, transport: Transport, store: ImageStore, hook: Any) -> None:
        self.routes = routes
        self.transport = transport
        self.store = store
        self.hook = hook

    async def handle(self, request: ImageRequest, request_id: str, base_url: str) -> dict[str, Any]:
        table = self.routes.table
        self.hook.imagegate_request_received(request=request, request_id=request_id)
        batches = await self._produce(request, table)
        server = table.server
        delivery = Delivery(
            transport=self.transport,
            store=self.store,
            public_base_url=server.public_base_url or base_url,
            download_max_bytes=int(server.download_max_mb * 1024 * 1024),
            download_timeout=batches[0].target_timeout,
        )
        body = await build_response([b.batch for b in batches], delivery)
        self.hook.imagegate_response_ready(request=request, request_id=request_id, response=body)
        return body

    def candidates(self, request: ImageRequest, table: RouteTable) -> list[tuple[Target, Plan]]:
        """Every target of the model that can serve the request, with its plan; a 400 if none can."""
        route = table.models.get(request.model)
        if route is None:
            raise ModelNotFound(
                f"The model '{request.model}' does not exist on this gateway. Known models: "
                f"{', '.join(sorted(table.models)) or 'none'}.",
                param="model",
            )
        planned: list[tuple[Target, Plan]] = []
        first_refusal: InvalidRequest | None = None
        for target in route.targets:
            try:
                planned.append(
                    (target, make_plan(request, target.capabilities, request.model, target.params))
                )
            except InvalidRequest as refusal:
                first_refusal = first_refusal or refusal
        if not planned:
            assert first_refusal is not None
            raise first_refusal
        return planned

    async def _produce(self, request: ImageRequest, table: RouteTable) -> list[_Made]:
        made: list[_Made] = []
        remaining = request.n
        last_error: GatewayError | None = None
        for target, plan in self.candidates(request, table):
            if target.account.problem is not None:
                last_error = ProviderNotConfigured(
                    f"The upstream account '{target.account.name}' for model '{request.model}' is not configured: "
                    f"{target.account.problem}."
                )
                continue
            plan.batches = split_batches(remaining, target.capabilities.max_images_per_call)
            results, error = await self._run_plan(request, target, plan, table.server.max_parallel_calls)
            made.extend(_Made(Batch(result, plan, target.capabilities), target.timeout) for result in results)
            remaining -= sum(len(result.images) for result in results)
            if error is None or remaining <= 0:
                return made
            if not error.fallback:
                raise error
            last_error = error
        assert last_error is not None
        raise last_error

    async def _run_plan(
        self, request: ImageRequest, target: Target, plan: Plan, parallel: int
    ) -> tuple[list[ProviderResult], GatewayError | None]:
        provider = target.account.provider
        limit = asyncio.Semaphore(parallel)

        async def send(upstream_request: UpstreamRequest) -> UpstreamResponse:
            return await self.transport.send(upstream_request, target.timeout)

        async def one(call: Any) -> ProviderResult:
            async with limit:
                try:
                    return await provider.run(call, send)
                except GatewayError:
                    raise
                except Exception:
                    log.exception("provider %s failed on %s", provider.name, target.label)
                    raise InternalError(f"The provider '{provider.name}' failed unexpectedly.") from None

        outcomes = await asyncio.gather(
            *(one(call) for call in plan.calls(request, target)), return_exceptions=True
        )
        results = [outcome for outcome in outcomes if isinstance(outcome, ProviderResult)]
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for error in errors:
            if not isinstance(error, GatewayError):
                raise error
        return results, (errors[0] if errors else None)  # type: ignore[return-value]


@dataclass(slots=True)
class _Made:
    batch: Batch
    target_timeout: Any
