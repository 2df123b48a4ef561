"""Verified provider results → the OpenAI response body (or a stream's events): base64 as the upstream gave
it (its JSON literal spliced in unparsed), or bytes hosted behind a gateway URL, or the upstream's own URL;
and the metadata, with the size and format read from the images themselves. Fetching, verifying and
transcoding happen inside the attempt (:mod:`imagegate.results`); nothing here decodes an image."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .concurrency import gather
from .images import ImageHeader
from .planner import Plan
from .provider import ProviderResult, ResultImage, Usage
from .store import ImageStore

HOSTED_PATH = "/v1/images/hosted/"


@dataclass(slots=True)
class Delivery:
    """Where to keep the images a client gets by gateway URL."""

    store: ImageStore
    public_base_url: str  # gateway-served URLs are public_base_url + HOSTED_PATH + name


@dataclass(slots=True)
class Batch:
    """One upstream call's verified result together with the plan it was made under."""

    result: ProviderResult
    plan: Plan


async def build_response(batches: list[Batch], delivery: Delivery) -> dict[str, Any]:
    items = await gather(
        *(adapt_image(image, batch, delivery) for batch in batches for image in batch.result.images)
    )
    first = batches[0]
    return response_body(
        items,
        created=[b.result.created for b in batches],
        metadata=produced_metadata(first.result, first.plan, first.result.images[0].header),
        usages=[b.result.usage for b in batches if b.result.usage is not None],
        svg_usages=[b.result.svg_usage for b in batches if b.result.svg_usage],
    )


def response_body(
    items: list[dict[str, Any]],
    created: Iterable[int | None],
    metadata: dict[str, Any],
    usages: list[Usage],
    svg_usages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The final response body of adapted ``items``, for a body answer and for what a stream sent alike:
    the earliest upstream ``created`` time (else now), the produced ``metadata``, and usage added up."""
    body: dict[str, Any] = {
        "created": min((c for c in created if c), default=None) or int(time.time()),
        "data": items,
        **metadata,
    }
    usage = sum_usage(usages)
    if usage is not None:
        body["usage"] = usage
    svg_usage = _sum_svg_usage(svg_usages or [])
    if svg_usage is not None:
        body["svg_usage"] = svg_usage
    return body


def produced_metadata(result: Any, plan: Plan, header: ImageHeader | None) -> dict[str, Any]:
    """``background``, ``output_format``, ``quality`` and ``size`` of what was produced: the format and size
    read from the image (``header``: always there, unless an upstream URL was passed on unread), else what
    the upstream's answer (a :class:`ProviderResult` or :class:`PartialImage`) or the plan says."""
    if header is not None:
        output_format, size = header.format, header.size
    else:
        output_format = plan.transcode.format if plan.transcode else result.output_format
        size = result.size or (plan.size if plan.dimensions else None)
    metadata = {
        "background": result.background,
        "output_format": output_format,
        "quality": result.quality,
        "size": size,
    }
    return {key: value for key, value in metadata.items() if value is not None}


async def adapt_image(image: ResultImage, batch: Batch, delivery: Delivery) -> dict[str, Any]:
    """The response item for one verified image."""
    item: dict[str, Any] = {}
    if batch.plan.deliver == "b64_json":
        item["b64_json"] = image.b64_json_value()
    elif image.url is not None:
        item["url"] = image.url
    else:
        assert image.header is not None  # read when the image was verified
        name = await delivery.store.put(image.data(), image.header.format)
        item["url"] = await delivery.store.url(
            name, delivery.public_base_url.rstrip("/") + HOSTED_PATH + name
        )
    return _finish(item, image)


def _finish(item: dict[str, Any], image: ResultImage) -> dict[str, Any]:
    if image.revised_prompt is not None:
        item["revised_prompt"] = image.revised_prompt
    item.update(image.extra)
    return item


def _sum_svg_usage(usages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """SVG authoring tokens of all calls added up; ``model`` is the author model's name."""
    if not usages:
        return None
    total: dict[str, Any] = {"model": usages[0].get("model")}
    for usage in usages:
        for key, value in usage.items():
            if key != "model" and isinstance(value, int):
                total[key] = total.get(key, 0) + value
    return total


def sum_usage(usages: list[Usage]) -> dict[str, Any] | None:
    if not usages:
        return None
    total: dict[str, Any] = {
        "input_tokens": sum(u.input_tokens for u in usages),
        "output_tokens": sum(u.output_tokens for u in usages),
        "total_tokens": sum(u.total_tokens for u in usages),
    }
    for name in ("input_tokens_details", "output_tokens_details"):
        details: dict[str, int] = {}
        for usage in usages:
            for key, value in (getattr(usage, name) or {}).items():
                details[key] = details.get(key, 0) + value
        if details:
            total[name] = details
    return total
