"""An upstream's answer made ready inside the attempt that got it: fetched, verified, transcoded.

Whatever a provider parsed, the core checks every image before the attempt counts as a success: it fetches
an image the upstream gave as a URL when the client's answer needs its bytes (base64 delivery, transcoding,
hosting), reads the magic bytes and header (a known format, complete, and within ``server.max_input_pixels``
when it is to be decoded), and transcodes when the plan says so. A body that is not the image it claims is an
:class:`~imagegate.errors.UpstreamBadImage`: retried, counted toward the target's cooldown, and fallen back
from like any other upstream fault, and never delivered to the client. The size and format reported to the
client are the ones read from the image, not the ones a provider claims.

Only images passed on as the upstream's own URL (``response_format=url`` from an upstream that gives URLs,
no transcoding) are not fetched, so not checked: the client fetches them from the upstream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .capabilities import ModelCapabilities
from .concurrency import gather
from .config import Timeout
from .errors import UpstreamBadImage
from .images import TAIL_BYTES, ImageHeader, ImageProblem, check_image, inspect_image, read_header, transcode
from .planner import Plan
from .provider import ProviderResult, ResultImage, UpstreamCall
from .transport import Transport

HEAD_BYTES = 64 * 1024  # enough for the header of a PNG, and of a JPEG without a long EXIF or ICC block


@dataclass(slots=True, frozen=True)
class ResultChecks:
    """What checking a result needs beyond the plan: where to fetch from, and the limits."""

    transport: Transport
    download_max_bytes: int
    max_pixels: int  # for images the core decodes (transcoding)


async def prepare_result(
    result: ProviderResult,
    call: UpstreamCall,
    plan: Plan,
    capabilities: ModelCapabilities,
    checks: ResultChecks,
    timeout: Timeout,
) -> ProviderResult:
    """``result`` with every image fetched where needed, verified and transcoded; :class:`UpstreamBadImage`
    if the upstream answered with fewer images than asked or with something that is not a usable image."""
    if len(result.images) < call.n:
        raise UpstreamBadImage(f"The upstream answered with {len(result.images)} of {call.n} images.")
    await gather(*(prepare_image(image, plan, capabilities, checks, timeout) for image in result.images))
    return result


async def prepare_image(
    image: ResultImage, plan: Plan, capabilities: ModelCapabilities, checks: ResultChecks, timeout: Timeout
) -> None:
    """One image (or a stream's preview) fetched if its bytes are needed, verified, and transcoded if the
    plan says so; its header is left on ``image.header``."""
    passed_on_as_url = plan.deliver == "url" and image.url is not None and plan.transcode is None
    if passed_on_as_url:
        return
    if not image.has_bytes:
        assert image.url is not None  # a ResultImage always has bytes or a URL
        data = await checks.transport.download(
            image.url, capabilities.download_hosts, checks.download_max_bytes, timeout
        )
        image.replace_data(data)
    try:
        image.header = _checked_header(image, plan, checks.max_pixels)
    except ImageProblem as problem:
        raise UpstreamBadImage(f"The upstream answered with an image that {problem}.") from None
    except ValueError:  # base64 that does not decode
        raise UpstreamBadImage("The upstream answered with base64 that is not valid.") from None
    if plan.transcode is not None:
        try:
            data = await asyncio.to_thread(
                transcode, image.data(), plan.transcode.format, plan.transcode.compression
            )
        except ImageProblem as problem:
            raise UpstreamBadImage(f"The upstream answered with an image that {problem}.") from None
        image.replace_data(data)
        image.header = read_header(data)


def _checked_header(image: ResultImage, plan: Plan, max_pixels: int) -> ImageHeader:
    """The verified header of ``image``. Base64 the client gets as it is (no transcoding, no hosting) is
    checked from its two ends, decoded on their own, with the rest of its text checked to be base64 in
    slices (never decoded into one megabyte buffer); anything this leaves in doubt, and every image whose
    bytes a later step needs anyway, is decided on the whole image, decoded once and kept for those steps."""
    if plan.transcode is None and plan.deliver == "b64_json":
        ends = image.ends(HEAD_BYTES, TAIL_BYTES)
        if ends is not None:
            head, tail = ends
            try:
                header = read_header(head)
                if header.format in ("png", "jpeg"):  # a WebP's check needs its exact length
                    check_image(header, head, tail, None, None, whole_jpeg=True)
                    return header
            except ImageProblem:
                pass  # perhaps only the ends misled (a long JPEG header, unpadded base64): look at it all
    return inspect_image(image.data(), max_pixels if plan.transcode else None, whole_jpeg=True)
