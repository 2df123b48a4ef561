"""Default prices of OpenAI's image models, in USD, from OpenAI's published price list.

GPT image models are priced per million tokens of input text, input image and output (image) tokens, which
their answers report in ``usage``; the per-image table (quality → size) is OpenAI's own estimate per image and
prices an answer that lacks ``usage`` (some OpenAI-compatible upstreams). ``*`` rows price an unlisted
quality (auto, xhigh, max) as high and an unlisted size as the largest standard size, so a guess errs on the
side of the budget. DALL·E models are priced per image by quality and size.

Assumptions, where no price was published when this table was written (late 2026): gpt-image-2 (and its
snapshots), chatgpt-image-latest and the gpt-image-2.5 and 2.6 families (sunburst and flare) are priced at
gpt-image-1.5's rates, the latest published ones. A route sets the real figure with ``price:``.
"""

from __future__ import annotations

from types import MappingProxyType

from imagegate import Price, TokenRates

from .models import model_family


def _gpt(
    text_in: float,
    image_in: float,
    output: float,
    low: tuple[float, float],
    medium: tuple[float, float],
    high: tuple[float, float],
) -> Price:
    """Token rates, and per-image estimates as (square, portrait or landscape) per quality."""

    def row(square: float, wide: float) -> dict[str, float]:
        return {"1024x1024": square, "1024x1536": wide, "1536x1024": wide, "*": wide}

    return Price(
        usd_per_million_tokens=TokenRates(input_text=text_in, input_image=image_in, output=output),
        usd_per_image_table={"low": row(*low), "medium": row(*medium), "high": row(*high), "*": row(*high)},
    )


_GPT_IMAGE_1 = _gpt(5.00, 10.00, 40.00, low=(0.011, 0.016), medium=(0.042, 0.063), high=(0.167, 0.25))
_GPT_IMAGE_1_MINI = _gpt(2.00, 2.50, 8.00, low=(0.005, 0.006), medium=(0.011, 0.015), high=(0.036, 0.052))
_GPT_IMAGE_1_5 = _gpt(5.00, 8.00, 32.00, low=(0.009, 0.013), medium=(0.034, 0.05), high=(0.133, 0.2))

PRICES: MappingProxyType[str, Price] = MappingProxyType(
    {
        "gpt-image-1": _GPT_IMAGE_1,
        "gpt-image-1-mini": _GPT_IMAGE_1_MINI,
        "gpt-image-1.5": _GPT_IMAGE_1_5,
        "chatgpt-image-latest": _GPT_IMAGE_1_5,  # assumed: see the module docstring
        "gpt-image-2": _GPT_IMAGE_1_5,  # assumed
        "gpt-image-2.5-sunburst": _GPT_IMAGE_1_5,  # assumed
        "gpt-image-2.5-flare": _GPT_IMAGE_1_5,  # assumed
        "gpt-image-2.6-sunburst": _GPT_IMAGE_1_5,  # assumed
        "gpt-image-2.6-flare": _GPT_IMAGE_1_5,  # assumed
        "dall-e-3": Price(
            usd_per_image_table={
                "standard": {"1024x1024": 0.04, "*": 0.08},
                "hd": {"1024x1024": 0.08, "*": 0.12},
                "*": {"1024x1024": 0.04, "*": 0.08},  # standard is dall-e-3's default quality
            }
        ),
        "dall-e-2": Price(
            usd_per_image_table={"*": {"256x256": 0.016, "512x512": 0.018, "1024x1024": 0.02, "*": 0.02}}
        ),
    }
)

# OpenAI-compatible upstreams serve other names; like their capabilities, they are priced as gpt-image-1.
UNKNOWN_MODEL = _GPT_IMAGE_1


def price_for(model: str) -> Price:
    """The default price of ``model`` (dated snapshots resolve to their family)."""
    return PRICES.get(model_family(model), UNKNOWN_MODEL)
