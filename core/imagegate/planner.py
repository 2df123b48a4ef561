"""Request + a target's capabilities → a plan, or a 400 that names the parameter, before any upstream call.

The plan says how many upstream calls to make and with how many images each (fan-out), what to send for every
parameter (size as given, or mapped to an aspect ratio), which format to ask the upstream for and whether the
core transcodes afterwards, and whether the client gets base64 or a URL (hosted by the gateway if the
upstream cannot give one). The fields beyond the unified API (route params and defaults, unknown fields) are
planned by :mod:`imagegate.extra_params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from .capabilities import (
    GENERATED_ONLY_FORMATS,
    ModelCapabilities,
    nearest_aspect_ratio,
    parse_size,
)
from .config import Target
from .errors import InvalidRequest, UnsupportedValue
from .extra_params import check_pinned, plan_extra_params
from .provider import UpstreamCall
from .request import ImageParams, ImageRequest

OPERATION_NAMES = {"generate": "image generation", "edit": "image edits", "variation": "image variations"}
MAX_PARTIAL_IMAGES = 3


@dataclass(slots=True, frozen=True)
class Transcode:
    format: str
    compression: int | None


@dataclass(slots=True)
class Plan:
    batches: list[int]  # images per upstream call, in order
    images_per_call: int  # what a call may be asked for (fallback splits the images still missing by it)
    size: str | None
    aspect_ratio: str | None
    output_format: str | None  # sent upstream
    output_compression: int | None  # sent upstream
    response_format: str | None  # sent upstream
    quality: str | None
    style: str | None
    complexity: str | None
    background: str | None
    moderation: str | None
    input_fidelity: str | None
    stream: bool | None  # ask the upstream (or the provider) for a stream of partial images
    partial_images: int | None
    frame_count: int | None
    frame_duration_ms: int | None
    svg: dict[str, Any] | None
    user: str | None
    safety_identifier: str | None
    params: dict[str, Any]
    transcode: Transcode | None
    deliver: str  # "b64_json" or "url": what the client receives
    dimensions: tuple[int, int] | None = None  # ``size`` as integers, when it is a WxH

    def calls(self, request: ImageRequest, target: Target) -> list[UpstreamCall]:
        return [
            UpstreamCall(
                operation=request.operation,
                upstream_model=target.upstream_model,
                account=target.account.config,
                options=target.options,
                prompt=request.params.prompt,
                n=count,
                size=self.size,
                width=self.dimensions[0] if self.dimensions else None,
                height=self.dimensions[1] if self.dimensions else None,
                aspect_ratio=self.aspect_ratio,
                quality=self.quality,
                style=self.style,
                complexity=self.complexity,
                background=self.background,
                moderation=self.moderation,
                output_format=self.output_format,
                output_compression=self.output_compression,
                response_format=self.response_format,
                input_fidelity=self.input_fidelity,
                frame_count=self.frame_count,
                frame_duration_ms=self.frame_duration_ms,
                svg=self.svg,
                user=self.user,
                safety_identifier=self.safety_identifier,
                stream=self.stream,
                partial_images=self.partial_images,
                params=self.params,
                images=request.images,
                mask=request.mask,
                markup=request.markup,
                index=index,
            )
            for index, count in enumerate(self.batches)
        ]


def split_batches(n: int, per_call: int) -> list[int]:
    full, rest = divmod(n, max(1, per_call))
    return [per_call] * full + ([rest] if rest else [])


def make_plan(
    request: ImageRequest,
    caps: ModelCapabilities,
    model: str,
    route_params: dict[str, Any],
    unknown_params: str | None = None,
    route_defaults: dict[str, Any] | None = None,
) -> Plan:
    """Decide everything about serving ``request`` on a target with ``caps``, or raise a 400.
    ``unknown_params`` is the route's policy for fields the gateway does not know ("refuse", or forward
    where the target speaks the client's dialect). ``route_params`` are fixed by the route (a client sending
    another value is refused); ``route_defaults`` apply where the client sends no value of its own."""
    p = request.params
    if request.operation not in caps.operations:
        raise UnsupportedValue(
            f"Model '{model}' does not support {OPERATION_NAMES[request.operation]}.",
            param="model",
            code="operation_not_supported",
        )
    if p.stream:
        _check_stream(request)
    _check_prompt(request, caps, model)
    n = request.n
    if not 1 <= n <= caps.max_n:
        raise InvalidRequest(f"n must be between 1 and {caps.max_n} for model '{model}'; got {n}.", param="n")
    _check_inputs(request, caps, model)
    _check_format_options(request)
    params, forwarded = plan_extra_params(
        request, route_params, route_defaults or {}, caps, model, unknown_params
    )

    size, dimensions, aspect_ratio = _plan_size(p.size, caps, model)
    background = _plan_background(p.background, p.output_format, caps, model)
    upstream_format, upstream_compression, transcode = _plan_format(
        p.output_format, p.output_compression, caps, model
    )
    deliver, response_format = _plan_delivery(p.response_format, caps, transcode is not None, bool(p.stream))
    # One image per call when the upstream streams (every event then belongs to one known image) or makes an
    # SVG (OpenAI authors one per call): the core makes n calls instead.
    upstream_streams = bool(p.stream) and caps.streaming
    per_call = 1 if upstream_streams or p.output_format == "svg" else caps.max_images_per_call
    batches = split_batches(n, per_call)
    if forwarded:
        if upstream_streams:
            why = "a streamed answer is asked of the upstream one image per call"
        elif p.output_format == "svg":
            why = "an svg is made one per upstream call"
        else:
            why = f"model '{model}' makes at most {per_call} image(s) per call"
        check_pinned(
            forwarded,
            model,
            len(batches),
            (per_call, why),
            transcode.format if transcode else None,
            aspect_ratio,
        )
    user, safety_identifier = _plan_end_user(p, caps)
    return Plan(
        batches=batches,
        images_per_call=per_call,
        size=size,
        aspect_ratio=aspect_ratio,
        output_format=upstream_format,
        output_compression=upstream_compression,
        response_format=response_format,
        quality=_choose(p.quality, caps.qualities, "quality", model, droppable="auto"),
        style=_choose(p.style, caps.styles, "style", model),
        complexity=_choose(p.complexity, caps.complexities, "complexity", model),
        background=background,
        moderation=p.moderation if caps.moderation else None,  # a hint: the target's own policy otherwise
        input_fidelity=_choose(p.input_fidelity, caps.input_fidelity_values, "input_fidelity", model),
        frame_count=p.frame_count,
        frame_duration_ms=p.frame_duration_ms,
        svg=msgspec.to_builtins(p.svg) if p.svg is not None else None,
        user=user,
        safety_identifier=safety_identifier,
        params=params,
        stream=True if upstream_streams else None,
        partial_images=p.partial_images if upstream_streams else None,
        transcode=transcode,
        deliver=deliver,
        dimensions=dimensions,
    )


def _check_stream(request: ImageRequest) -> None:
    """What no target can stream, whatever its capabilities (any model streams: see imagegate.stream)."""
    p = request.params
    if request.operation == "variation":
        raise UnsupportedValue(
            "Image variations cannot be streamed; send the request without stream=true.", param="stream"
        )
    if p.output_format in GENERATED_ONLY_FORMATS:  # OpenAI refuses stream=true with gif and svg output
        raise UnsupportedValue(
            f"output_format '{p.output_format}' cannot be streamed; send the request without stream=true.",
            param="stream",
        )
    if p.partial_images is not None and not 0 <= p.partial_images <= MAX_PARTIAL_IMAGES:
        raise InvalidRequest(
            f"partial_images must be between 0 and {MAX_PARTIAL_IMAGES}; got {p.partial_images}.",
            param="partial_images",
        )


def _check_prompt(request: ImageRequest, caps: ModelCapabilities, model: str) -> None:
    prompt = request.params.prompt
    if request.operation != "variation" and caps.prompt_required and not prompt:
        raise InvalidRequest("A prompt is required.", param="prompt", code="missing_required_parameter")
    if prompt and caps.max_prompt_chars and len(prompt) > caps.max_prompt_chars:
        raise InvalidRequest(
            f"The prompt is {len(prompt)} characters; model '{model}' takes at most {caps.max_prompt_chars}.",
            param="prompt",
        )


def _check_inputs(request: ImageRequest, caps: ModelCapabilities, model: str) -> None:
    if request.operation == "generate":
        return
    limit = caps.max_input_images if request.operation == "edit" else 1
    if len(request.images) > limit:
        raise UnsupportedValue(
            f"Model '{model}' takes at most {limit} input image(s); got {len(request.images)}.", param="image"
        )
    if request.mask is not None and not caps.mask:
        raise UnsupportedValue(f"Model '{model}' does not take a mask.", param="mask")
    if request.markup is not None and not caps.markup:
        raise UnsupportedValue(f"Model '{model}' does not take a markup image.", param="markup")


def _check_format_options(request: ImageRequest) -> None:
    """The options that belong to one output format, and what gif and svg cannot be combined with."""
    p = request.params
    for name, owner in (("frame_count", "gif"), ("frame_duration_ms", "gif"), ("svg", "svg")):
        if getattr(p, name) is not None and p.output_format != owner:
            raise InvalidRequest(
                f"{name} applies to output_format={owner} only.", param=name, code="conflicting_parameters"
            )
    if p.output_format in GENERATED_ONLY_FORMATS and p.output_compression is not None:
        raise InvalidRequest(
            f"output_compression does not apply to {p.output_format} output.",
            param="output_compression",
            code="conflicting_parameters",
        )
    if p.output_format == "gif" and request.mask is not None:
        raise InvalidRequest(
            "gif output cannot be combined with a mask.", param="mask", code="conflicting_parameters"
        )


def _plan_end_user(p: ImageParams, caps: ModelCapabilities) -> tuple[str | None, str | None]:
    """(``user``, ``safety_identifier``) to send: each where the upstream has the field; an upstream with only
    ``user`` gets the effective id (a non-empty ``safety_identifier`` wins, as OpenAI's rule has it)."""
    fields = caps.end_user_fields
    if "safety_identifier" in fields:
        return (p.user if "user" in fields else None), p.safety_identifier
    return (p.end_user if "user" in fields else None), None


def _choose(
    value: str | None, allowed: frozenset[str], param: str, model: str, droppable: str | None = None
) -> str | None:
    """The value to send: as given when the model accepts it; ``None`` (not sent) when unset or when it is a
    value the model's own default already means (``auto``); else a 400 listing what the model takes."""
    if value is None or value in allowed:
        return value
    if value == droppable:
        return None
    supported = ", ".join(sorted(allowed)) if allowed else "none (the parameter is not supported)"
    raise UnsupportedValue(
        f"Model '{model}' does not support {param}='{value}'. Supported: {supported}.", param=param
    )


def _plan_size(
    size: str | None, caps: ModelCapabilities, model: str
) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """(size to send, the same as integers, aspect ratio to send). The client's text is parsed here, once and
    strictly; what is sent upstream is the canonical ``WxH``. The size the client is told is always the one
    read from the image produced."""
    spec = caps.sizes
    if size is None or (size == "auto" and "auto" not in spec.sizes):
        return None, None, None
    if size == "auto":
        return "auto", None, None
    parsed = parse_size(size)
    if parsed is None:
        raise InvalidRequest(
            f"size must be WIDTHxHEIGHT in ASCII digits (e.g. 1024x1024) or auto; got '{size[:40]}'.",
            param="size",
        )
    if spec.accepts_dimensions(*parsed):
        return f"{parsed[0]}x{parsed[1]}", parsed, None
    if spec.aspect_ratios:
        return None, None, nearest_aspect_ratio(*parsed, spec.aspect_ratios)
    raise UnsupportedValue(
        f"Model '{model}' does not support size '{size}'. Supported: {spec.describe()}.", param="size"
    )


def _plan_background(
    background: str | None, output_format: str | None, caps: ModelCapabilities, model: str
) -> str | None:
    if background == "transparent":
        if output_format == "jpeg":
            raise InvalidRequest(
                "A transparent background needs output_format png or webp; jpeg has no alpha channel.",
                param="background",
            )
        if "transparent" not in caps.backgrounds:
            raise UnsupportedValue(
                f"Model '{model}' cannot produce a transparent background.", param="background"
            )
        return background
    # "opaque" and "auto" describe what a model without the parameter produces anyway.
    return background if background in caps.backgrounds else None


def _plan_format(
    fmt: str | None, compression: int | None, caps: ModelCapabilities, model: str
) -> tuple[str | None, int | None, Transcode | None]:
    """(format to ask upstream for, compression to send, transcoding the core does afterwards)."""
    if compression is not None:
        if not 0 <= compression <= 100:
            raise InvalidRequest("output_compression must be between 0 and 100.", param="output_compression")
        if (fmt or caps.default_format) == "png":
            raise InvalidRequest(
                "output_compression applies to jpeg and webp output only.", param="output_compression"
            )
    if fmt in GENERATED_ONLY_FORMATS:
        if fmt not in caps.output_formats:
            raise UnsupportedValue(
                f"Model '{model}' cannot make output_format='{fmt}', and the gateway cannot convert other "
                f"images into {fmt} (it must be made by the model).",
                param="output_format",
            )
        return fmt, None, None
    if fmt is None and (compression is None or caps.output_compression):
        return None, compression, None
    fmt = fmt or caps.default_format
    offers_choice = len(caps.output_formats) > 1
    if fmt in caps.output_formats:
        if compression is None or caps.output_compression:
            return (fmt if offers_choice else None), compression, None
        return (fmt if offers_choice else None), None, Transcode(fmt, compression)
    # Not native: ask for the best native format (lossless first) and convert once.
    return (caps.transcode_source if offers_choice else None), None, Transcode(fmt, compression)


def _plan_delivery(
    wanted: str | None, caps: ModelCapabilities, transcoding: bool, streamed: bool
) -> tuple[str, str | None]:
    """(what the client gets, response_format to send upstream). Unasked, the model's own default, except
    that a stream's completed events carry base64 (their type requires ``b64_json``)."""
    deliver = wanted or ("url" if caps.delivery == "url" and not streamed else "b64_json")
    if transcoding:
        # The core needs the bytes: ask for base64 where the upstream offers a choice, to skip a download.
        return deliver, ("b64_json" if "b64_json" in caps.response_formats else None)
    return deliver, (deliver if deliver in caps.response_formats else None)
