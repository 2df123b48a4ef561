"""The request path after parsing: route → plan → provider.build → send → provider.parse → adapt.

Fan-out and fallback: a plan splits ``n`` into calls of at most the target's ``max_images_per_call``; the calls
run concurrently (at most ``server.max_parallel_calls`` at once). Images from calls that succeed are kept; if
some calls fail with an error that allows fallback, the images still missing are asked of the next target
that can serve the request. If no target is left, the request fails with the last error and the images made
so far are dropped: a client asking for n images gets n images or an error, never fewer.

Routing and resilience (docs/routing.md): the model's strategy orders its targets (:mod:`imagegate.router`);
targets whose account is not configured or that are cooling down are passed by; each call is retried on its
target as :mod:`imagegate.retry` decides, within one deadline for the whole request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

from .accesslog import AttemptRecord, RequestRecord
from .adapt import Batch, Delivery, build_response
from .config import ModelRoute, RouteTable, Target, Timeout
from .errors import ContentPolicyViolation, GatewayError, InvalidRequest, ModelNotFound
from .planner import Plan, make_plan, split_batches
from .provider import ProviderResult, UpstreamCall, UpstreamRequest, UpstreamResponse
from .request import ImageRequest
from .retry import Deadline
from .router import Router
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
    def __init__(
        self,
        routes: RouteState,
        transport: Transport,
        store: ImageStore,
        hook: Any,
        router: Router | None = None,
    ) -> None:
        self.routes = routes
        self.transport = transport
        self.store = store
        self.hook = hook
        self.router = router or Router()

    async def handle(
        self, request: ImageRequest, request_id: str, base_url: str, record: RequestRecord
    ) -> dict[str, Any]:
        table = self.routes.table
        record.model = request.model
        self.hook.imagegate_request_received(request=request, request_id=request_id)
        batches = await self._produce(request, table, record)
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

    async def _produce(self, request: ImageRequest, table: RouteTable, record: RequestRecord) -> list[_Made]:
        candidates = self.candidates(request, table)
        route = table.models[request.model]
        record.route = route.model
        deadline = Deadline(self.router.clock, route.retry.deadline_seconds)
        made: list[_Made] = []
        remaining = request.n
        failure: GatewayError | None = None  # the last error of a target that was tried
        passed_by: GatewayError | None = None  # why the last target passed by was not tried
        for target, plan in self.router.order(route, candidates):
            unusable = self.router.unusable(target, request.model)
            if unusable is not None:
                record.skip(target.label, unusable.code or unusable.type)
                passed_by = unusable
                continue
            plan.batches = split_batches(remaining, target.capabilities.max_images_per_call)
            results, error = await self._run_plan(
                request, route, target, plan, table.server.max_parallel_calls, deadline, record
            )
            made.extend(_Made(Batch(result, plan, target.capabilities), target.timeout) for result in results)
            remaining -= sum(len(result.images) for result in results)
            if error is None or remaining <= 0:
                return made
            if not (error.fallback or _falls_back_on_refusal(route, error)):
                raise error
            failure = error
        error = failure or passed_by
        assert error is not None
        raise error

    async def _run_plan(
        self,
        request: ImageRequest,
        route: ModelRoute,
        target: Target,
        plan: Plan,
        parallel: int,
        deadline: Deadline,
        record: RequestRecord,
    ) -> tuple[list[ProviderResult], GatewayError | None]:
        provider = target.account.provider
        limit = asyncio.Semaphore(parallel)

        async def attempt(call: UpstreamCall, timeout: Timeout, record: AttemptRecord) -> ProviderResult:
            async def send(upstream_request: UpstreamRequest) -> UpstreamResponse:
                response = await self.transport.send(upstream_request, timeout)
                record.status = response.status
                return response

            try:
                return await provider.run(call, send)
            except GatewayError:
                raise
            except Exception:
                log.exception("provider %s failed on %s", provider.name, target.label)
                raise InternalError(f"The provider '{provider.name}' failed unexpectedly.") from None

        async def one(call: UpstreamCall) -> ProviderResult:
            async with limit:
                return await self.router.call(
                    target, route, deadline, call.index, functools.partial(attempt, call), record
                )

        outcomes = await asyncio.gather(
            *(one(call) for call in plan.calls(request, target)), return_exceptions=True
        )
        results = [outcome for outcome in outcomes if isinstance(outcome, ProviderResult)]
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for error in errors:
            if not isinstance(error, GatewayError):
                raise error
        return results, (errors[0] if errors else None)  # type: ignore[return-value]


def _falls_back_on_refusal(route: ModelRoute, error: GatewayError) -> bool:
    """A content-policy refusal moves to the next target only where the model opts in."""
    return route.fallback_on_content_policy and isinstance(error, ContentPolicyViolation)


@dataclass(slots=True)
class _Made:
    batch: Batch
    target_timeout: Any
