"""What each OpenAI image model accepts, as the core's planner reads it.

Facts come from the official SDK's parameter types and OpenAI's API reference. Where a fact is uncertain the
declaration errs towards what keeps working (the core adapts, the upstream's own 400 reaches the client),
and a route can override any field with ``capabilities:``.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from imagegate import ModelCapabilities, SizeSpec
from msgspec.structs import replace

_GPT_SIZES = SizeSpec(sizes=("1024x1024", "1536x1024", "1024x1536", "auto"), default="auto")

# gpt-image-2 takes any WxH with sides multiples of 16, ratio within 1:3..3:1, between 655,360 and
# 8,294,400 pixels (3840x2160), longest side 3840; the standard sizes all satisfy the rule.
_GPT_IMAGE_2_SIZES = SizeSpec(
    sizes=("auto",),
    multiple_of=16,
    max_side=3840,
    min_pixels=655_360,
    max_pixels=3840 * 2160,
    max_ratio=3.0,
    default="auto",
)

_GPT_IMAGE_1 = ModelCapabilities(
    operations=frozenset({"generate", "edit"}),
    sizes=_GPT_SIZES,
    max_n=10,
    max_images_per_call=10,
    output_formats=frozenset({"png", "jpeg", "webp"}),
    default_format="png",
    output_compression=True,
    backgrounds=frozenset({"transparent", "opaque", "auto"}),
    qualities=frozenset({"low", "medium", "high", "auto"}),
    moderation=True,
    input_fidelity=True,
    max_input_images=16,
    mask=True,
    max_prompt_chars=32_000,
    streaming=True,  # stream=true with partial_images 0-3: server-sent partial_image and completed events
    delivery="b64_json",
    response_formats=frozenset(),  # GPT models answer 400 unknown_parameter to response_format
    extra_params=None,  # the API grows new fields (safety_identifier, ...); the upstream validates them
)

_DALL_E_HOSTS = frozenset({"oaidalleapiprodscus.blob.core.windows.net"})

_DALL_E_2 = ModelCapabilities(
    operations=frozenset({"generate", "edit", "variation"}),
    sizes=SizeSpec(sizes=("256x256", "512x512", "1024x1024"), default="1024x1024"),
    max_n=10,
    max_images_per_call=10,
    qualities=frozenset({"standard"}),
    max_input_images=1,
    mask=True,
    max_prompt_chars=1_000,
    delivery="url",
    response_formats=frozenset({"url", "b64_json"}),
    download_hosts=_DALL_E_HOSTS,
)

_DALL_E_3 = ModelCapabilities(
    operations=frozenset({"generate"}),
    sizes=SizeSpec(sizes=("1024x1024", "1792x1024", "1024x1792"), default="1024x1024"),
    max_n=10,
    max_images_per_call=1,
    qualities=frozenset({"standard", "hd"}),
    styles=frozenset({"vivid", "natural"}),
    max_prompt_chars=4_000,
    delivery="url",
    response_formats=frozenset({"url", "b64_json"}),
    download_hosts=_DALL_E_HOSTS,
)

MODELS: MappingProxyType[str, ModelCapabilities] = MappingProxyType(
    {
        "dall-e-2": _DALL_E_2,
        "dall-e-3": _DALL_E_3,
        "gpt-image-1": _GPT_IMAGE_1,
        "gpt-image-1-mini": replace(_GPT_IMAGE_1, input_fidelity=False),
        "gpt-image-1.5": _GPT_IMAGE_1,
        # Transparent backgrounds are a preview on gpt-image-2 (400 without access); input_fidelity is not
        # accepted. A route with preview access adds "transparent" through `capabilities: {backgrounds: ...}`.
        "gpt-image-2": replace(
            _GPT_IMAGE_1,
            sizes=_GPT_IMAGE_2_SIZES,
            backgrounds=frozenset({"opaque", "auto"}),
            input_fidelity=False,
        ),
    }
)

# OpenAI-compatible upstreams serve other model names; treat them like gpt-image-1 unless a route says more.
UNKNOWN_MODEL = _GPT_IMAGE_1

_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def model_family(model: str) -> str:
    """The table entry a model name belongs to: ``gpt-image-1-2025-04-15`` → ``gpt-image-1``."""
    return _SNAPSHOT_SUFFIX.sub("", model.strip().lower())


def capabilities_for(model: str) -> ModelCapabilities:
    """The OpenAI table's declaration for ``model`` (dated snapshots resolve to their family; unknown
    names get gpt-image-1's). Raises ``ValueError`` for an empty name."""
    if not model.strip():
        raise ValueError("an upstream model name is required")
    return MODELS.get(model_family(model), UNKNOWN_MODEL)
