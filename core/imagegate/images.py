"""Pillow helpers the core uses: read an image's header, transcode, content types."""

from __future__ import annotations

import io
from typing import IO

from PIL import Image, UnidentifiedImageError

from .capabilities import ALPHA_FORMATS

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
INPUT_FORMATS = frozenset({"png", "jpeg", "webp"})


class ImageHeader:
    __slots__ = ("format", "has_alpha", "height", "width")

    def __init__(self, format: str, width: int, height: int, has_alpha: bool) -> None:
        self.format, self.width, self.height, self.has_alpha = format, width, height, has_alpha

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def read_header(source: IO[bytes] | bytes) -> ImageHeader | None:
    """Format and dimensions from the header only (no pixel decoding); ``None`` if it is not an image."""
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    stream.seek(0)
    try:
        with Image.open(stream) as image:
            fmt = (image.format or "").lower()
            alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
            return ImageHeader(fmt, image.width, image.height, alpha)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    finally:
        stream.seek(0)


def transcode(data: bytes, fmt: str, compression: int | None) -> bytes:
    """Re-encode ``data`` as ``fmt``. ``compression`` is OpenAI's 0-100 level, whose default of 100 means full
    quality, so it is used as the encoder's quality. Alpha is kept where the format has it and flattened onto
    white for jpeg."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if fmt in ALPHA_FORMATS:
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
        elif image.mode != "RGB":
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        out = io.BytesIO()
        options: dict[str, object] = {}
        if fmt in ("jpeg", "webp"):
            options["quality"] = compression if compression is not None else 90
        image.save(out, format=PIL_FORMATS[fmt], **options)
        return out.getvalue()
