"""Default prices of Stability's v2beta endpoints: credits per image from Stability's published price list,
converted at its published rate of 1,000 credits for 10 USD.

An edit target without ``edit:`` uses inpaint when the client sends a mask and the model's image-to-image
mode otherwise; it is priced as its generation model (a route's ``price:`` sets an exact figure).
"""

from __future__ import annotations

from imagegate import Price

from .config import StabilityTarget

USD_PER_CREDIT = 0.01

GENERATION_CREDITS: dict[str, float] = {
    "ultra": 8,
    "core": 3,
    "sd3.5-large": 6.5,
    "sd3.5-large-turbo": 4,
    "sd3.5-medium": 3.5,
    "sd3-large": 6.5,
    "sd3-large-turbo": 4,
    "sd3-medium": 3.5,
}

EDIT_CREDITS: dict[str, float] = {
    "inpaint": 5,
    "erase": 5,
    "outpaint": 4,
    "search-and-replace": 5,
    "search-and-recolor": 5,
    "remove-background": 5,
}


def stability_price(upstream_model: str, options: StabilityTarget, operation: str) -> Price | None:
    if operation == "edit" and options.edit is not None:
        credits = EDIT_CREDITS.get(options.edit)
    else:
        credits = GENERATION_CREDITS.get(upstream_model)
    return None if credits is None else Price(usd_per_image=round(credits * USD_PER_CREDIT, 6))
