"""The request path after parsing: route → plan → provider.build → send → provider.parse → adapt → respond
(one body, :meth:`Gateway.handle`; or events, :meth:`Gateway.stream`).

Fan-out and fallback: a plan splits ``n`` into calls of at most the target's ``max_images_per_call``; the calls
run concurrently (at most ``server.max_parallel_calls`` at once). Images from calls that succeed are kept; if
some calls fail with an error that allows fallback, the images still missing are asked of the next target
that can serve the request. If no target is left, the request fails with the last error and the images made
so far are dropped: a client asking for n images gets n images or an error, never fewer.

The targets that can serve the request, each with its plan, come from :mod:`imagegate.candidates`.
Routing and resilience (docs/routing.md): the model's strategy orders its targets (:mod:`imagegate.router`);
targets whose account is not configured or that are cooling down are passed by; each call is retried on its
target as :mod:`imagegate.retry` decides, within one deadline for the whole request.

Streaming: each call's previews and images go out as events as they come (:mod:`imagegate.stream`); retries
and fallback work as above until the first event, and only retries on the same target after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive

from .accesslog import AttemptRecord, RequestRecord
from .adapt import Batch, Delivery, build_response
from .candidates import plan_candidates
from .clients.accounting import Accounting
from .clients.pricing import call_cost
from .clients.registry import Client
from .concurrency import gather
from .config import ModelRoute, RouteState, RouteTable, ServerSettings, Target, Timeout
from .errors import (
    ContentPolicyViolation,
    GatewayError,
    InvalidRequest,
    ModelRetired,
    UpstreamError,
)
from .planner import Plan, split_batches
from .provider import ProviderResult, UpstreamCall, UpstreamRequest, UpstreamResponse
from .request import ImageRequest
from .results import ResultChecks, prepare_result
from .retry import Deadline, retry_after_seconds
from .router import Router
from .state import Spend
from .store import ImageStore
from .stream.relay import CallRelay, StreamedImages
from .stream.response import EventStream
from .transport import Transport

log = logging.getLogger("imagegate")


class InternalError(GatewayError):
    """A bug inside the gateway or a plugin; details go to the log, never to the client."""


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
        table: RouteTable,
        request_id: str,
        base_url: str,
        record: RequestRecord,
        client: Client | None = None,
    ) -> dict[str, Any]:
        """Answer with one body, for ``client`` (``None`` without client authentication), from ``table``: the
        route table the request was parsed with, kept to the end even when a reload replaces it meanwhile."""
        candidates = await self._admit(request, table, request_id, record, client)
        try:
            batches = await self._produce(request, table, candidates, record)
            body = await build_response(batches, self._delivery(table, base_url))
            body.update(_echoed_end_user(request))
            self.hook.imagegate_response_ready(request=request, request_id=request_id, response=body)
            return body
        finally:
            await self.charge(client, record)

    async def stream(
        self,
        request: ImageRequest,
        table: RouteTable,
        request_id: str,
        base_url: str,
        record: RequestRecord,
        receive: Receive,
        client: Client | None = None,
    ) -> EventStream:
        """Answer with events (``stream=true``): the same path, whose last step writes each image (and its
        previews) as it is ready. A request no target can serve is refused before the stream starts, and so
        is any failure before the first event (or keep-alive); ``receive`` tells when the client leaves."""
        candidates = await self._admit(request, table, request_id, record, client)
        echoed = _echoed_end_user(request)  # on every completed event, as in a body answer
        events = EventStream(request.operation, table.server.stream_keepalive_seconds, record, echoed)
        streaming = _Streaming(events, StreamedImages(), self._delivery(table, base_url))

        async def production() -> None:
            try:
                await self._produce(request, table, candidates, record, streaming)
                body = {**streaming.images.body(), **echoed}
                self.hook.imagegate_response_ready(request=request, request_id=request_id, response=body)
            finally:  # also when the client left: what was made was paid for
                await asyncio.shield(self.charge(client, record))

        events.start(production(), receive)
        await events.first()
        return events

    async def _admit(
        self,
        request: ImageRequest,
        table: RouteTable,
        request_id: str,
        record: RequestRecord,
        client: Client | None,
    ) -> list[tuple[Target, Plan]]:
        """The steps before production, the same for a body and a stream: the targets that can serve the
        request with their plans, once ``client`` is admitted."""
        record.model = request.model
        record.end_user = request.params.end_user
        self.hook.imagegate_request_received(request=request, request_id=request_id)
        candidates = plan_candidates(request, table, client)
        if client is not None:
            await self.accounting.admit(client, request.n)
        return candidates

    async def charge(self, client: Client | None, record: RequestRecord) -> None:
        """Record what the request's upstream calls produced against ``client``: the last step of every
        response, a JSON body or a stream, whether the request succeeded or not."""
        await self.accounting.charge(client, Spend(usd=record.cost_usd, images=record.images))

    def _delivery(self, table: RouteTable, base_url: str) -> Delivery:
        return Delivery(store=self.store, public_base_url=table.server.public_base_url or base_url)

    async def fetch_image_url(self, server: ServerSettings, url: str, param: str) -> bytes:
        """An image a client's JSON body references by URL, fetched under ``server.image_urls``."""
        settings = server.image_urls
        if not settings.enabled:
            raise InvalidRequest(
                "This gateway does not fetch images by URL; send a data: URL or a multipart upload.",
                param=param,
                code="invalid_image_url",
            )
        return await self.transport.fetch_client_image(
            url,
            param,
            server.download_max_bytes,
            Timeout(connect=min(10.0, settings.timeout_seconds), total=settings.timeout_seconds),
            public_only=not settings.allow_private_networks,
        )

    async def _produce(
        self,
        request: ImageRequest,
        table: RouteTable,
        candidates: list[tuple[Target, Plan]],
        record: RequestRecord,
        streaming: _Streaming | None = None,
    ) -> list[Batch]:
        route = table.models[request.model]
        record.route = route.model
        deadline = Deadline(self.router.clock, route.retry.deadline_seconds, route.retry.min_attempt)
        server = table.server
        checks = ResultChecks(
            transport=self.transport,
            download_max_bytes=server.download_max_bytes,
            max_pixels=server.max_input_pixels,
        )
        made: list[Batch] = []
        remaining = request.n
        failure: GatewayError | None = None  # the last error of a target that was tried
        passed_by: GatewayError | None = None  # why the last target passed by was not tried
        for target, plan in self.router.order(route, candidates):
            unusable = self.router.unusable(target, request.model)
            if unusable is not None:
                record.skip(target.label, unusable.code or unusable.type)
                passed_by = unusable
                continue
            plan.batches = split_batches(remaining, plan.images_per_call)
            # Streamed, each image is priced as it is made: a client that leaves has been sent (and charged) some.
            price = functools.partial(_add_cost, record, target, plan, request)
            relays = (
                None
                if streaming is None
                else streaming.relays(plan, target, request.n - remaining, price, checks)
            )
            results, error = await self._run_plan(
                request, route, target, plan, server.max_parallel_calls, deadline, checks, record, relays
            )
            made.extend(Batch(result, plan) for result in results)
            if streaming is None:
                price(results)
            remaining -= sum(len(result.images) for result in results)
            if error is None or remaining <= 0:
                return made
            if not (error.fallback or _falls_back_on_refusal(route, error)):
                raise error
            if streaming is not None and streaming.events.started:
                raise error  # images were sent from this target: the rest cannot come from another
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
        checks: ResultChecks,
        record: RequestRecord,
        relays: list[CallRelay] | None,
    ) -> tuple[list[ProviderResult], GatewayError | None]:
        """Run the plan's calls, at most ``parallel`` at once; ``relays`` (one per call) stream each call's
        images as they come."""
        limit = asyncio.Semaphore(parallel)

        async def one(call: UpstreamCall) -> ProviderResult:
            relay = None if relays is None else relays[call.index]
            async with limit:
                attempt = functools.partial(self._attempt, call, target, plan, checks, relay)
                return await self.router.call(target, route, deadline, call.index, attempt, record)

        outcomes = await gather(*(one(call) for call in plan.calls(request, target)), return_exceptions=True)
        results = [outcome for outcome in outcomes if isinstance(outcome, ProviderResult)]
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for error in errors:
            if not isinstance(error, GatewayError):
                raise error
        return results, (errors[0] if errors else None)  # type: ignore[return-value]

    async def _attempt(
        self,
        call: UpstreamCall,
        target: Target,
        plan: Plan,
        checks: ResultChecks,
        relay: CallRelay | None,
        timeout: Timeout,
        record: AttemptRecord,
    ) -> ProviderResult:
        """One attempt of ``call`` on ``target`` (``relay``: streamed to the client as it comes). It succeeds
        only with its images verified (:mod:`imagegate.results`), and an upstream error gets the delay its
        answer's ``Retry-After`` asks for when the provider set none."""
        provider = target.account.provider
        answers: list[UpstreamResponse] = []  # the last one, for its Retry-After

        async def send(upstream_request: UpstreamRequest) -> UpstreamResponse:
            response = await self.transport.send(upstream_request, timeout)
            record.status = response.status
            answers[:] = [response]
            return response

        @contextlib.asynccontextmanager
        async def open_stream(upstream_request: UpstreamRequest) -> AsyncIterator[UpstreamResponse]:
            async with self.transport.stream(upstream_request, timeout) as response:
                record.status = response.status
                answers[:] = [response]
                yield response

        try:
            if relay is not None:
                return await relay.relay(provider.stream(call, send, open_stream), timeout)
            result = await provider.run(call, send)
        except UpstreamError as error:
            if error.retry_after is None and answers:
                error.retry_after = retry_after_seconds(answers[0].headers)
            retired = _retirement(target, error)
            if retired is None:
                raise
            raise retired from None
        except GatewayError:
            raise
        except Exception:
            log.exception("provider %s failed on %s", provider.name, target.label)
            raise InternalError(f"The provider '{provider.name}' failed unexpectedly.") from None
        return await prepare_result(result, call, plan, target.capabilities, checks, timeout)


def _echoed_end_user(request: ImageRequest) -> dict[str, str]:
    """The effective end-user id, echoed in the answer as OpenAI does (nothing when the client sent none)."""
    end_user = request.params.end_user
    return {} if end_user is None else {"safety_identifier": end_user}


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


def _retirement(target: Target, error: UpstreamError) -> ModelRetired | None:
    """The error naming the replacement, when an upstream does not know a model its vendor retired (what
    says "unknown model" is the provider's to tell: :meth:`Provider.unknown_model`)."""
    retired = target.capabilities.retired
    if retired is None or not target.account.provider.unknown_model(error):
        return None
    return ModelRetired(
        f"The model '{target.upstream_model}' is no longer served upstream: {retired.describe()}.",
        param="model",
        detail=error.detail or error.message,
    )


def _falls_back_on_refusal(route: ModelRoute, error: GatewayError) -> bool:
    """A content-policy refusal moves to the next target only where the model opts in."""
    return route.fallback_on_content_policy and isinstance(error, ContentPolicyViolation)


@dataclass(slots=True)
class _Streaming:
    """What production needs beyond the body path when the client streams."""

    events: EventStream
    images: StreamedImages
    delivery: Delivery

    def relays(
        self,
        plan: Plan,
        target: Target,
        first_index: int,
        price: Callable[[list[ProviderResult]], None],
        checks: ResultChecks,
    ) -> list[CallRelay]:
        """One relay per call of ``plan``, its images numbered from ``first_index`` in call order."""
        starts = itertools.accumulate(plan.batches, initial=first_index)
        return [
            CallRelay(
                self.events,
                self.images,
                plan,
                target.capabilities,
                self.delivery,
                checks,
                start,
                count,
                price,
            )
            for start, count in zip(starts, plan.batches, strict=False)
        ]
