"""What an upstream model can do, declared by its provider and read by the planner.

Providers return a :class:`ModelCapabilities` per upstream model. The planner compares a request with it and
either makes a plan (fan-out, size mapping, transcoding, URL hosting) or refuses with a 400 before any call.
The size helpers here are the ones providers use too, so mapping a size means the same thing everywhere.
"""

from __future__ import annotations

import datetime
import re
from fractions import Fraction
from typing import Literal

import msgspec

Operation = Literal["generate", "edit", "variation"]
Delivery = Literal["b64_json", "url", "bytes"]

ALL_FORMATS: tuple[str, ...] = ("png", "jpeg", "webp")  # raster formats the core can transcode into
ALPHA_FORMATS: frozenset[str] = frozenset({"png", "webp"})
# Formats only a model can make (an animation, a vector drawing): never transcoded into, never streamed.
GENERATED_ONLY_FORMATS: frozenset[str] = frozenset({"gif", "svg"})
OUTPUT_FORMATS: tuple[str, ...] = (*ALL_FORMATS, "gif", "svg")
END_USER_FIELDS: frozenset[str] = frozenset({"user", "safety_identifier"})


class SizeSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The sizes a model accepts. A model either takes exact sizes or takes aspect ratios.

    - ``sizes``: exact ``WxH`` values (and ``"auto"`` if the model accepts it);
    - ``multiple_of`` with bounds: any ``WxH`` whose sides are multiples, within side, pixel and ratio limits;
    - ``aspect_ratios``: the upstream takes a ratio such as ``"3:2"``; any requested ``WxH`` maps to the
      nearest one and the response reports the size actually produced.
    """

    sizes: tuple[str, ...] = ()
    multiple_of: int | None = None
    min_side: int = 1
    max_side: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    max_ratio: float | None = None  # 3.0 means between 1:3 and 3:1
    aspect_ratios: tuple[str, ...] = ()
    default: str | None = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.sizes:
            parts.append(", ".join(self.sizes))
        if self.multiple_of:
            rule = f"any WxH with sides multiples of {self.multiple_of}"
            if self.max_side:
                rule += f", sides {self.min_side}-{self.max_side}"
            elif self.min_side > 1:
                rule += f", sides at least {self.min_side}"
            if self.min_pixels and self.max_pixels:
                rule += f", {self.min_pixels}-{self.max_pixels} pixels"
            elif self.max_pixels:
                rule += f", at most {self.max_pixels} pixels"
            elif self.min_pixels:
                rule += f", at least {self.min_pixels} pixels"
            if self.max_ratio:
                rule += f", aspect ratio within 1:{self.max_ratio:g} and {self.max_ratio:g}:1"
            parts.append(rule)
        if self.aspect_ratios:
            parts.append("any WxH, mapped to the nearest of " + ", ".join(self.aspect_ratios))
        return "; ".join(parts) or "no size parameter"

    def accepts(self, size: str) -> bool:
        """True when the model takes ``size`` (``auto`` or ``WxH``, see :func:`parse_size`) as it is."""
        if size == "auto":
            return "auto" in self.sizes
        parsed = parse_size(size)
        return parsed is not None and self.accepts_dimensions(*parsed)

    def accepts_dimensions(self, width: int, height: int) -> bool:
        """True when the model takes ``width`` x ``height`` as it is."""
        if f"{width}x{height}" in self.sizes:
            return True
        if self.multiple_of is None:
            return False
        m = self.multiple_of
        if width % m or height % m:
            return False
        if min(width, height) < self.min_side or (self.max_side and max(width, height) > self.max_side):
            return False
        pixels = width * height
        if self.max_pixels and pixels > self.max_pixels:
            return False
        if self.min_pixels and pixels < self.min_pixels:
            return False
        return not (self.max_ratio and max(width, height) / min(width, height) > self.max_ratio)


class Retirement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The upstream vendor stopped serving a model: when, and what to use instead. A model that is retired
    stays routable (compatible upstreams may still serve it); when an upstream answers that it does not know
    it, the client gets an error naming the replacement."""

    date: datetime.date
    replacement: str | tuple[str, ...]

    def describe(self) -> str:
        names = (self.replacement,) if isinstance(self.replacement, str) else self.replacement
        return f"retired on {self.date.isoformat()}; use {' or '.join(names)} instead"


class ModelCapabilities(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A provider's declaration of what one upstream model supports.

    "Native" values are what the upstream itself produces or accepts; anything else the core either adapts
    (fan-out, transcoding, URL hosting, base64 from URLs) or refuses with a clear 400.
    """

    operations: frozenset[str] = frozenset({"generate"})
    sizes: SizeSpec = SizeSpec()
    max_n: int = 10  # what a client may ask for in one request
    max_images_per_call: int = 1  # what one upstream call returns; more is fanned out by the core
    output_formats: frozenset[str] = frozenset({"png"})  # produced natively; the first listed in
    default_format: str = "png"  # ALL_FORMATS order is used when the default is not wanted
    output_compression: bool = False  # honours output_compression natively
    backgrounds: frozenset[str] = frozenset()  # accepted values of `background` ("transparent", ...)
    qualities: frozenset[str] = frozenset()  # accepted values of `quality`; empty: parameter not sent
    styles: frozenset[str] = frozenset()
    complexities: frozenset[str] = frozenset()  # accepted values of `complexity`
    moderation: bool = False  # takes `moderation` (a hint: dropped where the model has no such control)
    input_fidelity: bool = False  # edits take `input_fidelity` ...
    input_fidelities: frozenset[str] = frozenset({"high", "low"})  # ... with these values
    markup: bool = False  # edits take a `markup` image overlaid on the first image
    max_input_images: int = 0  # for edits
    mask: bool = False
    # Streams partial images: the upstream answers stream=true with server-sent events (Provider.parse_event),
    # or the provider draws previews itself (Provider.stream). Streaming clients then get one image per call.
    streaming: bool = False
    max_prompt_chars: int | None = None
    prompt_required: bool = True
    delivery: Delivery = "b64_json"  # how images come back when response_format is not sent
    response_formats: frozenset[str] = frozenset()  # accepted values of `response_format`
    download_hosts: frozenset[str] = frozenset()  # hosts the core may fetch result URLs from
    # Fields outside the OpenAI API the provider translates. None: the upstream speaks the client's own dialect
    # (OpenAI Images), so any field the gateway does not know is passed on unchanged for the upstream to judge
    # (routes.yaml `unknown_params`, docs/parameters.md).
    extra_params: frozenset[str] | None = frozenset()
    end_user_fields: frozenset[str] = frozenset()  # which of `user` / `safety_identifier` the upstream takes
    retired: Retirement | None = None

    @property
    def forwards_unknown_params(self) -> bool:
        return self.extra_params is None

    @property
    def transcode_source(self) -> str:
        """The native format the core transcodes from: the first of :data:`ALL_FORMATS` the model makes
        (lossless first), else its default."""
        return next((f for f in ALL_FORMATS if f in self.output_formats), self.default_format)

    @property
    def input_fidelity_values(self) -> frozenset[str]:
        return self.input_fidelities if self.input_fidelity else frozenset()


# Capabilities that refuse nothing, for stand-ins that must never turn a request away with a 400: a plugin
# that did not load (its routes answer 503 saying why), and the test kit's fallback provider.
PERMISSIVE = ModelCapabilities(
    operations=frozenset({"generate", "edit", "variation"}),
    sizes=SizeSpec(sizes=("auto",), multiple_of=1),
    max_n=2**31,
    max_images_per_call=2**31,
    output_formats=frozenset(OUTPUT_FORMATS),
    output_compression=True,
    backgrounds=frozenset({"transparent", "opaque", "auto"}),
    qualities=frozenset({"low", "medium", "high", "xhigh", "max", "auto", "standard", "hd"}),
    styles=frozenset({"vivid", "natural"}),
    complexities=frozenset({"low", "medium", "high"}),
    moderation=True,
    input_fidelity=True,
    markup=True,
    max_input_images=2**31,
    mask=True,
    prompt_required=False,
    delivery="bytes",
    extra_params=None,
    end_user_fields=END_USER_FIELDS,
)


# ASCII digits only (``str.isdigit`` also takes "²" and other scripts' digits), at most 5 of them per side.
_SIZE_PATTERN = re.compile(r"([0-9]{1,5})[xX]([0-9]{1,5})")


def parse_size(size: str) -> tuple[int, int] | None:
    """``"1024x768"`` (or ``"1024X768"``) → ``(1024, 768)``; ``None`` for anything else, zero sides included.
    The one parser of sizes: the planner hands providers the integers, never the client's text."""
    match = _SIZE_PATTERN.fullmatch(size)
    if match is None:
        return None
    width, height = int(match.group(1)), int(match.group(2))
    return (width, height) if width > 0 and height > 0 else None


def ratio_value(ratio: str) -> Fraction:
    w, _, h = ratio.partition(":")
    return Fraction(int(w), int(h))


def nearest_aspect_ratio(width: int, height: int, ratios: tuple[str, ...]) -> str:
    """The ratio from ``ratios`` closest to ``width:height``, compared on a log scale (2:1 is as far from
    1:1 as 1:2 is)."""
    import math

    target = math.log(width / height)
    return min(ratios, key=lambda r: abs(math.log(ratio_value(r)) - target))


def round_to_multiple(
    value: int, multiple: int, *, lowest: int | None = None, highest: int | None = None
) -> int:
    """``value`` rounded to the nearest multiple, kept within ``lowest``/``highest`` (themselves multiples)."""
    rounded = max(multiple, round(value / multiple) * multiple)
    if lowest is not None:
        rounded = max(rounded, lowest)
    if highest is not None:
        rounded = min(rounded, highest)
    return rounded
