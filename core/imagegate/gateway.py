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
from .clients.accounting import Accounting
from .clients.pricing import call_cost
from .clients.registry import Client
from .config import ModelRoute, RouteTable, Target, Timeout
from .errors import ContentPolicyViolation, GatewayError, InvalidRequest, ModelNotAllowed, ModelNotFound
from .planner import Plan, make_plan, split_batches
from .provider import ProviderResult, UpstreamCall, UpstreamRequest, UpstreamResponse
from .request import ImageRequest
from .retry import Deadline
from .router import Router
from .state import Spend
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
        accounting: Accounting,
        router: Router | None = None,
    ) -> None:
        self.routes = routes
        self.transport = transport
        self.store = store
        self.hook = hook
        self.accounting = accounting
        self.router = router or Router()

    async def handle(
        self,
        request: ImageRequest,
        request_id: str,
        base_url: str,
        record: RequestRecord,
        client: Client | None = None,
    ) -> dict[str, Any]:
        """Serve ``request`` for ``client`` (``None`` without client authentication)."""
        table = self.routes.table
        record.model = request.model
        self.hook.imagegate_request_received(request=request, request_id=request_id)
        candidates = self.candidates(request, table, client)
        if client is not None:
            await self.accounting.admit(client, request.n)
        try:
            return await self._serve(request, request_id, base_url, record, table, candidates)
        finally:
            await self.charge(client, record)

    async def charge(self, client: Client | None, record: RequestRecord) -> None:
        """Record what the request's upstream calls produced against ``client``: the last step of every
        response, a JSON body or a stream, whether the request succeeded or not."""
        await self.accounting.charge(client, Spend(usd=record.cost_usd, images=record.images))

    async def _serve(
        self,
        request: ImageRequest,
        request_id: str,
        base_url: str,
        record: RequestRecord,
        table: RouteTable,
        candidates: list[tuple[Target, Plan]],
    ) -> dict[str, Any]:
        batches = await self._produce(request, table, candidates, record)
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

    def candidates(
        self, request: ImageRequest, table: RouteTable, client: Client | None = None
    ) -> list[tuple[Target, Plan]]:
        """Every target of the model that can serve the request, with its plan: a 403 if ``client`` may not
        use the model, a 404 if it does not exist, a 400 if no target can serve the request."""
        model = request.model
        if client is not None and not (
            client.may_use(model) if model in table.models else client.could_use(model)
        ):
            raise ModelNotAllowed(f"This API key may not use the model '{model}'.", param="model")
        route = table.models.get(model)
        if route is None:
            known = [name for name in table.models if client is None or client.may_use(name)]
            raise ModelNotFound(
                f"The model '{model}' does not exist on this gateway. Known models: "
                f"{', '.join(sorted(known)) or 'none'}.",
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

    async def _produce(
        self,
        request: ImageRequest,
        table: RouteTable,
        candidates: list[tuple[Target, Plan]],
        record: RequestRecord,
    ) -> list[_Made]:
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
            _add_cost(record, target, plan, request, results)
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


def _add_cost(
    record: RequestRecord, target: Target, plan: Plan, request: ImageRequest, results: list[ProviderResult]
) -> None:
    """Price what one target's calls produced (calls that failed produced nothing and cost nothing)."""
    price = target.prices.get(request.operation)
    for result in results:
        images = len(result.images)
        record.images += images
        record.cost_usd += call_cost(
            price, images, result.usage, result.quality or plan.quality, result.size or plan.size
        )


def _falls_back_on_refusal(route: ModelRoute, error: GatewayError) -> bool:
    """A content-policy refusal moves to the next target only where the model opts in."""
    return route.fallback_on_content_policy and isinstance(error, ContentPolicyViolation)


@dataclass(slots=True)
class _Made:
    batch: Batch
    target_timeout: Any
