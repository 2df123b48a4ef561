"""Prices of upstream models and what one upstream call's images cost.

A price is per token where the upstream reports ``usage`` (the gpt-image family: input text, input image and
output tokens) and per image otherwise (a flat rate, or a table by quality and size). Providers ship default
prices (:meth:`imagegate.provider.Provider.price`); a route target's ``price:`` replaces them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

if TYPE_CHECKING:
    from ..provider import Usage

USD = Annotated[float, msgspec.Meta(ge=0)]
ANY = "*"  # a quality or size that matches any other in a table


class TokenRates(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """USD per million tokens."""

    input_text: USD = 0.0
    input_image: USD = 0.0
    output: USD = 0.0


class Price(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """How an upstream model is priced. Token rates apply when the upstream reports usage; otherwise the
    per-image table (quality → size → USD, ``*`` for any), then the flat ``usd_per_image``."""

    usd_per_image: USD | None = None
    usd_per_million_tokens: TokenRates | None = None
    usd_per_image_table: dict[str, dict[str, USD]] | None = None

    def per_image(self, quality: str | None, size: str | None) -> float | None:
        table = self.usd_per_image_table
        if table:
            row = table.get(quality or ANY) or table.get(ANY)
            if row:
                value = row.get(size or ANY, row.get(ANY))
                if value is not None:
                    return value
        return self.usd_per_image

    def describe(self) -> str:
        """A one-line summary for ``imagegate check``."""
        parts = []
        if self.usd_per_million_tokens is not None:
            rates = self.usd_per_million_tokens
            parts.append(
                f"USD per million tokens: input text {rates.input_text:g}, input image "
                f"{rates.input_image:g}, output {rates.output:g}"
            )
        if self.usd_per_image_table:
            values = [value for row in self.usd_per_image_table.values() for value in row.values()]
            parts.append(f"USD per image {min(values):g} to {max(values):g} by quality and size")
        if self.usd_per_image is not None:
            parts.append(f"{self.usd_per_image:g} USD per image")
        return "; ".join(parts) or "0 USD"


def tokens_cost(rates: TokenRates, usage: Usage) -> float:
    """USD for one call's ``usage``; without a breakdown of input tokens, all of them count as text."""
    details = usage.input_tokens_details or {}
    image_in = details.get("image_tokens", 0)
    text_in = details.get("text_tokens", usage.input_tokens - image_in)
    return (
        text_in * rates.input_text + image_in * rates.input_image + usage.output_tokens * rates.output
    ) / 1_000_000


def call_cost(
    price: Price | None, images: int, usage: Usage | None, quality: str | None, size: str | None
) -> float:
    """USD for one upstream call that produced ``images`` (0 without a price, or when nothing was made)."""
    if price is None or images == 0:
        return 0.0
    if price.usd_per_million_tokens is not None and usage is not None:
        return tokens_cost(price.usd_per_million_tokens, usage)
    per_image = price.per_image(quality, size)
    return images * per_image if per_image is not None else 0.0
