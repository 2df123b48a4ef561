"""Whether a provider's :class:`~imagegate.ModelCapabilities` declaration is consistent (the conformance
suite's first check): every value among those the API knows, and no field that contradicts another."""

from __future__ import annotations

from typing import get_args

from ..capabilities import (
    ALPHA_FORMATS,
    END_USER_FIELDS,
    ModelCapabilities,
    Operation,
    parse_size,
    ratio_value,
)
from ..request import KNOWN_FIELDS

OPERATIONS = frozenset(get_args(Operation))
BACKGROUNDS = frozenset({"transparent", "opaque", "auto"})
RESPONSE_FORMATS = frozenset({"b64_json", "url"})


def capability_problems(caps: ModelCapabilities) -> list[str]:
    """What is inconsistent in a declaration, in words; empty when nothing is."""
    problems: list[str] = []

    def check(ok: bool, problem: str) -> None:
        if not ok:
            problems.append(problem)

    check(
        bool(caps.operations) and caps.operations <= OPERATIONS,
        f"operations must be among {sorted(OPERATIONS)}",
    )
    check(
        caps.max_n >= 1 and caps.max_images_per_call >= 1, "max_n and max_images_per_call must be at least 1"
    )
    check(bool(caps.output_formats), "output_formats must name at least one format")
    check(caps.default_format in caps.output_formats, "default_format must be one of output_formats")
    check(caps.backgrounds <= BACKGROUNDS, f"backgrounds must be among {sorted(BACKGROUNDS)}")
    check(
        "transparent" not in caps.backgrounds or bool(caps.output_formats & ALPHA_FORMATS),
        "a transparent background needs an output format with alpha (png or webp)",
    )
    check(
        caps.response_formats <= RESPONSE_FORMATS,
        f"response_formats must be among {sorted(RESPONSE_FORMATS)}",
    )
    check(
        caps.delivery != "bytes" or not caps.response_formats,
        "delivery='bytes' means the upstream has no response_format: leave response_formats empty",
    )
    check(
        not caps.response_formats or caps.delivery in caps.response_formats,
        "delivery (the default way images come back) must be one of response_formats",
    )
    check(
        caps.delivery != "url" or bool(caps.download_hosts) or "b64_json" in caps.response_formats,
        "delivery='url' without download_hosts: the core could never give base64 or transcode",
    )
    edits = "edit" in caps.operations
    check(
        edits == (caps.max_input_images >= 1), "edits need max_input_images >= 1, and only edits take images"
    )
    check(edits or not caps.mask, "mask=True needs the edit operation")
    check(edits or not caps.input_fidelity, "input_fidelity=True needs the edit operation")
    check(edits or not caps.markup, "markup=True needs the edit operation")
    check(caps.max_prompt_chars is None or caps.max_prompt_chars >= 1, "max_prompt_chars must be at least 1")
    if caps.extra_params is not None:
        clash = caps.extra_params & KNOWN_FIELDS
        check(not clash, f"extra_params must not name parameters of the Images API: {sorted(clash)}")
    check(
        caps.end_user_fields <= END_USER_FIELDS,
        f"end_user_fields must be among {sorted(END_USER_FIELDS)}",
    )
    problems.extend(_size_problems(caps))
    return problems


def _size_problems(caps: ModelCapabilities) -> list[str]:
    spec = caps.sizes
    problems = [
        f"sizes.sizes: '{size}' is not WxH or auto"
        for size in spec.sizes
        if size != "auto" and parse_size(size) is None
    ]
    for ratio in spec.aspect_ratios:
        try:
            assert ratio_value(ratio) > 0
        except (ValueError, ZeroDivisionError, AssertionError):
            problems.append(f"sizes.aspect_ratios: '{ratio}' is not W:H")
    if spec.multiple_of is not None and spec.multiple_of < 1:
        problems.append("sizes.multiple_of must be at least 1")
    if spec.max_side is not None and spec.max_side < spec.min_side:
        problems.append("sizes.max_side is below min_side")
    if spec.default is not None and spec.default != "auto" and not spec.accepts(spec.default):
        problems.append(f"sizes.default '{spec.default}' is not a size the model accepts")
    return problems
