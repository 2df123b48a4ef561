"""OpenAI's mask convention (transparent pixels mark the area to edit) → Stability's (a grayscale image in
which white marks the area to edit and grey levels the strength)."""

from __future__ import annotations

import io

from imagegate import InputImage, InvalidRequest, decode_input
from PIL import ImageOps


def stability_mask(mask: InputImage, image: InputImage) -> bytes:
    """A grayscale PNG for Stability from an OpenAI-style mask.

    A mask with transparency becomes its inverted alpha channel (alpha 0 → white, edit; opaque → black,
    keep). A mask without transparency cannot follow OpenAI's convention; it is taken as already in
    Stability's (white = edit) and only converted to grayscale.
    """
    if (mask.width, mask.height) != (image.width, image.height):
        raise InvalidRequest(
            f"The mask is {mask.width}x{mask.height} but the image is {image.width}x{image.height}; "
            "they must be the same size.",
            param="mask",
        )
    with decode_input(mask) as source:
        if source.has_transparency_data:
            gray = ImageOps.invert(source.convert("RGBA").getchannel("A"))
        else:
            gray = source.convert("L")
    buffer = io.BytesIO()
    gray.save(buffer, format="PNG")
    return buffer.getvalue()
