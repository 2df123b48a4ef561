"""Provider results → the OpenAI response body, adapting what the upstream gave to what the client asked for:
transcoding, hosting bytes behind a gateway URL, fetching an upstream URL to give base64, reporting the size
actually produced. Each image is decoded and encoded at most once, and only when a step needs its bytes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from .capabilities import ModelCapabilities
from .config import Timeout
from .errors import UpstreamError
from .images import ImageHeader, ImageProblem, read_header, transcode
from .planner import Plan
from .provider import PartialImage, ProviderResult, ResultImage, Usage
from .store import ImageStore
from .transport import Transport

HOSTED_PATH = "/v1/images/hosted/"


@dataclass(slots=True)
class Delivery:
    """What adapting needs beyond the plan: where to fetch from and where to keep images."""

    transport: Transport
    store: ImageStore
    public_base_url: str  # gateway-served URLs are public_base_url + HOSTED_PATH + name
    download_max_bytes: int
    download_timeout: Timeout


@dataclass(slots=True)
class Batch:
    """One upstream call's result together with the plan and capabilities it was made under."""

    result: ProviderResult
    plan: Plan
    capabilities: ModelCapabilities


async def build_response(batches: list[Batch], delivery: Delivery) -> dict[str, Any]:
    adapted = await asyncio.gather(
        *(
            adapt_image(image, batch, delivery, want_header=batch.plan.measure_size and not batch.result.size)
            for batch in batches
            for image in batch.result.images
        )
    )
    first = batches[0]
    body: dict[str, Any] = {
        "created": min((b.result.created for b in batches if b.result.created), default=None)
        or int(time.time()),
        "data": [item for item, _ in adapted],
    }
    header = next((header for _, header in adapted if header is not None), None)
    body.update(produced_metadata(first.result, first.plan, header))
    usage = sum_usage([b.result.usage for b in batches if b.result.usage is not None])
    if usage is not None:
        body["usage"] = usage
    return body


def produced_metadata(result: Any, plan: Plan, header: ImageHeader | None) -> dict[str, Any]:
    """``background``, ``output_format``, ``quality`` and ``size`` of what was produced, as far as known:
    from the upstream's answer (a :class:`ProviderResult` or :class:`PartialImage`), the plan, or ``header``
    (the image's own, when it was read)."""
    size = result.size or (None if plan.measure_size else plan.size) or (header.size if header else None)
    output_format = plan.transcode.format if plan.transcode else result.output_format
    metadata = {
        "background": result.background,
        "output_format": output_format or (header.format if header else None),
        "quality": result.quality,
        "size": size,
    }
    return {key: value for key, value in metadata.items() if value is not None}


async def adapt_image(
    image: ResultImage, batch: Batch, delivery: Delivery, *, want_header: bool
) -> tuple[dict[str, Any], ImageHeader | None]:
    """The response item for one image, and its header when it was read: always for a hosted URL, and
    where ``want_header`` asks for it (to report a size or format the upstream did not)."""
    plan = batch.plan
    needs_bytes = plan.transcode is not None or (plan.deliver == "b64_json") or image.url is None
    if needs_bytes and not image.has_bytes:
        data = await delivery.transport.download(
            image.url or "",
            batch.capabilities.download_hosts,
            delivery.download_max_bytes,
            delivery.download_timeout,
        )
        image.replace_data(data)
    if plan.transcode is not None:
        image.replace_data(
            await asyncio.to_thread(
                transcode, image.data(), plan.transcode.format, plan.transcode.compression
            )
        )
    item: dict[str, Any] = {}
    if plan.deliver == "url" and image.url is not None:
        item["url"] = image.url
        return _finish(item, image), None
    # Read the header only where it is needed: to name a stored file, or to report what is not known otherwise.
    header = _upstream_header(image) if plan.deliver == "url" or want_header else None
    if plan.deliver == "url":
        assert header is not None
        name = await delivery.store.put(image.data(), header.format)
        item["url"] = await delivery.store.url(
            name, delivery.public_base_url.rstrip("/") + HOSTED_PATH + name
        )
    else:
        item["b64_json"] = image.b64_json_value()
    return _finish(item, image), header


async def adapt_partial(partial: PartialImage, plan: Plan) -> tuple[str | msgspec.Raw, ImageHeader | None]:
    """A preview's base64 (previews are always base64, even for response_format=url: they are shown once and
    never kept), transcoded as the final image is; and its header when its size is not otherwise known."""
    image = partial.image
    if plan.transcode is not None:
        image.replace_data(
            await asyncio.to_thread(
                transcode, image.data(), plan.transcode.format, plan.transcode.compression
            )
        )
    known = partial.size or (None if plan.measure_size else plan.size)
    header = None if known and (partial.output_format or plan.transcode) else _upstream_header(image)
    return image.b64_json_value(), header


def _upstream_header(image: ResultImage) -> ImageHeader:
    try:
        return read_header(image.data())
    except ImageProblem:
        raise UpstreamError(
            "The upstream returned data that is not an image.", code="upstream_bad_image"
        ) from None


def _finish(item: dict[str, Any], image: ResultImage) -> dict[str, Any]:
    if image.revised_prompt is not None:
        item["revised_prompt"] = image.revised_prompt
    item.update(image.extra)
    return item


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
