"""Real image bytes for fake upstreams, and what an image is, for assertions."""

from __future__ import annotations

import io

from PIL import Image

PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}


def make_image(
    width: int, height: int, fmt: str = "png", *, color: tuple[int, ...] = (40, 120, 200), alpha: bool = False
) -> bytes:
    """A real encoded image of the given size and format (a colour field with a diagonal band)."""
    mode = "RGBA" if alpha else "RGB"
    fill = (*color[:3], 128) if alpha else color[:3]
    image = Image.new(mode, (width, height), fill)
    band = (255, 255, 255, 255) if alpha else (255, 255, 255)
    for offset in range(0, min(width, height), 4):
        image.putpixel((offset, offset), band)
    buffer = io.BytesIO()
    image.save(buffer, format=PIL_FORMATS.get(fmt, fmt.upper()))
    return buffer.getvalue()


def describe_image(data: bytes) -> tuple[str, int, int, str]:
    """(format, width, height, mode) of encoded image bytes, e.g. ("png", 1024, 1024, "RGBA"); raises
    ``PIL.UnidentifiedImageError`` for bytes that are not an image."""
    with Image.open(io.BytesIO(data)) as image:
        return (image.format or "").lower(), image.width, image.height, image.mode
