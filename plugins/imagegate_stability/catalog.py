"""Stability's v2beta Stable Image endpoints and models: paths, parameters, and what each one takes.

Facts from Stability's published API reference (platform.stability.ai/docs/api-reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .params import MAX_SEED, Validator, choice, integer, number, text

ASPECT_RATIOS: tuple[str, ...] = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
OUTPUT_FORMATS: frozenset[str] = frozenset({"png", "jpeg", "webp"})
MAX_PROMPT_CHARS = 10_000
STYLE_PRESETS: tuple[str, ...] = (
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
)

SEED = integer(0, MAX_SEED)
NEGATIVE_PROMPT = text()
STYLE_PRESET = choice(STYLE_PRESETS)
STRENGTH = number(0, 1)
CFG_SCALE = number(1, 10)
SMALL_GROW_MASK = number(0, 20)
OUTPAINT_SIDES: tuple[str, ...] = ("left", "right", "up", "down")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Stability endpoint as this provider uses it."""

    name: str  # how messages refer to it, e.g. "edit/inpaint"
    path: str
    params: Mapping[str, Validator]  # the extra parameters it takes, with their checks
    required_params: frozenset[str] = frozenset()
    one_positive_of: tuple[str, ...] = ()  # at least one of these must be sent and above 0
    prompt: Literal["required", "optional", "absent"] = "required"
    aspect_ratio: bool = False  # takes aspect_ratio (output size follows the input image otherwise)
    image: bool = False  # takes the client's input image
    mask: bool = False  # takes a mask part
    fixed_fields: tuple[tuple[str, str], ...] = ()  # sent as is, e.g. mode=image-to-image
    output_formats: frozenset[str] = OUTPUT_FORMATS


@dataclass(frozen=True, slots=True)
class GenerationModel:
    text_to_image: Endpoint
    image_to_image: Endpoint | None = None  # used for edits without a mask
    form_fields: tuple[tuple[str, str], ...] = ()  # e.g. model=sd3.5-large


GENERATE = "/v2beta/stable-image/generate"
EDIT = "/v2beta/stable-image/edit"

_COMMON = {"negative_prompt": NEGATIVE_PROMPT, "seed": SEED, "style_preset": STYLE_PRESET}

_ULTRA = GenerationModel(
    text_to_image=Endpoint("generate/ultra", f"{GENERATE}/ultra", _COMMON, aspect_ratio=True),
    image_to_image=Endpoint(
        "generate/ultra (image-to-image)",
        f"{GENERATE}/ultra",
        {**_COMMON, "strength": STRENGTH},
        required_params=frozenset({"strength"}),
        image=True,
    ),
)

_CORE = GenerationModel(
    text_to_image=Endpoint("generate/core", f"{GENERATE}/core", _COMMON, aspect_ratio=True),
)


def _sd3(model: str) -> GenerationModel:
    params: dict[str, Validator] = {**_COMMON, "cfg_scale": CFG_SCALE}
    if "turbo" in model:
        # Stability documents negative_prompt as having no effect on the turbo models.
        del params["negative_prompt"]
    return GenerationModel(
        text_to_image=Endpoint(f"generate/sd3 ({model})", f"{GENERATE}/sd3", params, aspect_ratio=True),
        image_to_image=Endpoint(
            f"generate/sd3 ({model}, image-to-image)",
            f"{GENERATE}/sd3",
            {**params, "strength": STRENGTH},
            required_params=frozenset({"strength"}),
            image=True,
            fixed_fields=(("mode", "image-to-image"),),
        ),
        form_fields=(("model", model),),
    )


SD3_MODELS: tuple[str, ...] = (
    "sd3.5-large",
    "sd3.5-large-turbo",
    "sd3.5-medium",
    "sd3-large",
    "sd3-large-turbo",
    "sd3-medium",
)

GENERATION_MODELS: Mapping[str, GenerationModel] = {
    "ultra": _ULTRA,
    "core": _CORE,
    **{model: _sd3(model) for model in SD3_MODELS},
}

EDIT_ENDPOINTS: Mapping[str, Endpoint] = {
    "inpaint": Endpoint(
        "edit/inpaint",
        f"{EDIT}/inpaint",
        {**_COMMON, "grow_mask": number(0, 100)},
        image=True,
        mask=True,
    ),
    "erase": Endpoint(
        "edit/erase",
        f"{EDIT}/erase",
        {"seed": SEED, "grow_mask": SMALL_GROW_MASK},
        prompt="absent",
        image=True,
        mask=True,
    ),
    "outpaint": Endpoint(
        "edit/outpaint",
        f"{EDIT}/outpaint",
        {
            **{side: integer(0, 2000) for side in OUTPAINT_SIDES},
            "creativity": number(0, 1),
            "seed": SEED,
            "style_preset": STYLE_PRESET,
        },
        one_positive_of=OUTPAINT_SIDES,
        prompt="optional",
        image=True,
    ),
    "search-and-replace": Endpoint(
        "edit/search-and-replace",
        f"{EDIT}/search-and-replace",
        {**_COMMON, "search_prompt": text(), "grow_mask": SMALL_GROW_MASK},
        required_params=frozenset({"search_prompt"}),
        image=True,
    ),
    "search-and-recolor": Endpoint(
        "edit/search-and-recolor",
        f"{EDIT}/search-and-recolor",
        {**_COMMON, "select_prompt": text(), "grow_mask": SMALL_GROW_MASK},
        required_params=frozenset({"select_prompt"}),
        image=True,
    ),
    "remove-background": Endpoint(
        "edit/remove-background",
        f"{EDIT}/remove-background",
        {},
        prompt="absent",
        image=True,
        output_formats=frozenset({"png", "webp"}),
    ),
}
