"""What one upstream call's stream becomes for the client: each preview and each image, adapted the way a
body answer's images are (transcoding, hosted URLs, the size and format produced, usage), as events.

Events name their image with ``image_index`` (its place among the request's ``n``; fan-out calls finish in
any order), a field the SDK keeps on its event objects. A call's usage goes with its last image, so summing
the events' usage gives the request's. A call retried after some of its images were sent sends only the
rest (and no previews of images already sent).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from ..adapt import Batch, Delivery, adapt_image, produced_metadata, response_body, sum_usage
from ..capabilities import ModelCapabilities
from ..config import Timeout
from ..errors import UpstreamError
from ..planner import Plan
from ..provider import PartialImage, ProviderResult, ResultImage, StreamItem, Usage
from ..results import ResultChecks, prepare_image
from .response import EventStream


class StreamedImages:
    """The images a stream sent, for the observers of a finished answer (the response-ready hook): the
    response body a client would have received without ``stream``, made from the same items."""

    def __init__(self) -> None:
        self.items: dict[int, dict[str, Any]] = {}
        self.created: list[int] = []
        self.usages: list[Usage] = []
        self.metadata: dict[str, Any] = {}

    def body(self) -> dict[str, Any]:
        items = [self.items[index] for index in sorted(self.items)]
        return response_body(items, self.created, self.metadata, self.usages)


class CallRelay:
    """One planned call's events, across the attempts the router makes of it."""

    def __init__(
        self,
        events: EventStream,
        images: StreamedImages,
        plan: Plan,
        capabilities: ModelCapabilities,
        delivery: Delivery,
        checks: ResultChecks,
        first_index: int,
        count: int,
        price: Callable[[list[ProviderResult]], None],
    ) -> None:
        self.events = events
        self.images = images
        self.plan = plan
        self.capabilities = capabilities
        self.delivery = delivery
        self.checks = checks  # every preview and image is verified before it is sent
        self.first_index = first_index  # the request-wide index of the call's first image
        self.count = count
        self.price = price  # called with each result made, as it comes
        self.sent: list[ResultImage] = []  # images of this call already sent, by any attempt

    async def relay(self, items: AsyncIterator[StreamItem], timeout: Timeout) -> ProviderResult:
        """Send what one attempt yields; the call's images once all are sent, else an upstream error."""
        made = 0  # images this attempt has yielded
        async with aclosing(items):
            async for item in items:
                if isinstance(item, PartialImage):
                    if len(self.sent) <= made < self.count:
                        await self._send_partial(item, self.first_index + made, timeout)
                    continue
                sending = [  # (position in the item, index in the call): those not sent by an earlier attempt
                    (position, made + position)
                    for position in range(len(item.images))
                    if len(self.sent) <= made + position < self.count
                ]
                made += len(item.images)
                # Checked before priced, as in a body answer: an image that fails its check was not made.
                for position, _ in sending:
                    await prepare_image(
                        item.images[position], self.plan, self.capabilities, self.checks, timeout
                    )
                self.price([item])
                for position, index in sending:
                    image = item.images[position]
                    last = position == len(item.images) - 1
                    await self._send_completed(image, item, self.first_index + index, last)
                    self.sent.append(image)
        if len(self.sent) < self.count:
            raise UpstreamError(
                f"The upstream's stream ended after {len(self.sent)} of {self.count} image(s) of this call."
            )
        return ProviderResult(images=self.sent)

    async def _send_partial(self, partial: PartialImage, index: int, timeout: Timeout) -> None:
        # Previews are always base64, even for response_format=url: they are shown once and never kept.
        await prepare_image(partial.image, self.plan, self.capabilities, self.checks, timeout)
        body: dict[str, Any] = {
            "b64_json": partial.image.b64_json_value(),
            "created_at": partial.created or int(time.time()),
            **produced_metadata(partial, self.plan, partial.image.header),
            "partial_image_index": partial.index,
            "image_index": index,
        }
        await self.events.send_partial(body)

    async def _send_completed(
        self, image: ResultImage, result: ProviderResult, index: int, last: bool
    ) -> None:
        """Send ``image``, already checked (and transcoded) by :func:`prepare_image`."""
        plan = self.plan
        item = await adapt_image(image, Batch(result, plan), self.delivery)
        created = result.created or int(time.time())
        metadata = produced_metadata(result, plan, image.header)
        body: dict[str, Any] = {**item, "created_at": created, **metadata, "image_index": index}
        if last and result.usage is not None:
            body["usage"] = sum_usage([result.usage])
            self.images.usages.append(result.usage)
        self.images.items[index] = item
        self.images.created.append(created)
        self.images.metadata = self.images.metadata or metadata
        await self.events.send_completed(body)
