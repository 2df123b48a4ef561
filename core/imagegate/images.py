"""Pillow helpers the core uses: read and check an image's header, decode an upload safely, transcode.

Nothing here decodes pixels before the header has been checked: :func:`inspect_image` reads the format and
dimensions only, refuses more pixels than the limit (a 20 KB PNG can declare 169 million of them) and bytes
that stop before the image's end; :func:`decode_input` is how providers turn an upload into pixels, with
broken data as the client's 400 rather than the gateway's 500.
"""

from __future__ import annotations

import io
import re
from typing import IO

from PIL import Image, UnidentifiedImageError

from .capabilities import ALPHA_FORMATS
from .errors import InvalidRequest
from .request import InputImage

CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif", "svg": "svg"}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
INPUT_FORMATS = frozenset({"png", "jpeg", "webp"})
TAIL_BYTES = 64  # enough to hold a PNG's IEND chunk after a few stray bytes
# What Pillow raises on data it cannot read: unknown formats, bad headers, truncated or corrupt pixel data.
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
)


class ImageProblem(ValueError):
    """Why some bytes cannot be taken as an image. ``code`` is ``invalid_image`` or ``image_too_large``."""

    def __init__(self, message: str, code: str = "invalid_image") -> None:
        super().__init__(message)
        self.code = code


class ImageHeader:
    __slots__ = ("format", "has_alpha", "height", "width")

    def __init__(self, format: str, width: int, height: int, has_alpha: bool) -> None:
        self.format, self.width, self.height, self.has_alpha = format, width, height, has_alpha

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def pixel_limit(configured: int) -> int:
    """``configured`` pixels, never above Pillow's own decompression-bomb limit."""
    pillow = Image.MAX_IMAGE_PIXELS
    return min(configured, int(pillow)) if pillow else configured


def read_header(source: IO[bytes] | bytes | memoryview) -> ImageHeader:
    """Format and dimensions from the header only (no pixel decoding); :class:`ImageProblem` if it is not an
    image Pillow can open, or declares more pixels than Pillow ever decodes. An SVG document counts as an
    image of format ``svg``, sized by its root element."""
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    stream.seek(0)
    try:
        with Image.open(stream) as image:
            fmt = (image.format or "").lower()
            alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
            return ImageHeader(fmt, image.width, image.height, alpha)
    except Image.DecompressionBombError:
        most = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise ImageProblem(f"declares more than {most:.0f} megapixels", "image_too_large") from None
    except DECODE_ERRORS:
        stream.seek(0)
        svg = _svg_header(stream.read(_SVG_PROLOGUE_BYTES))
        if svg is None:
            raise ImageProblem("is not an image") from None
        return svg
    finally:
        stream.seek(0)


def check_image(
    header: ImageHeader,
    head: bytes,
    tail: bytes,
    length: int | None,
    max_pixels: int | None,
    *,
    whole_jpeg: bool = False,
) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels, or whose bytes stop before its
    end. ``head`` and ``tail`` are its first and last bytes (at least 12 and :data:`TAIL_BYTES`), ``length``
    its size in bytes (``None``: unknown, and a WebP's length goes unchecked). PNG must end with its IEND chunk
    and WebP must be as long as its RIFF header says.
    JPEG must end with its end-of-image marker only when ``whole_jpeg`` is set (images an upstream made):
    uploads may carry data after the marker (phones append motion photos), and Pillow decodes a truncated
    JPEG without complaint."""
    pixels = header.width * header.height
    if max_pixels is not None and pixels > max_pixels:
        raise ImageProblem(
            f"is {header.width}x{header.height} ({pixels / 1e6:.1f} megapixels); the limit is "
            f"{max_pixels / 1e6:g} megapixels",
            "image_too_large",
        )
    if header.format == "png" and b"IEND" not in tail:
        raise ImageProblem("is a truncated PNG (it stops before its end)")
    if header.format == "webp" and length is not None and length < int.from_bytes(head[4:8], "little") + 8:
        raise ImageProblem("is a truncated WebP (it stops before its end)")
    if header.format == "jpeg" and whole_jpeg and b"\xff\xd9" not in tail:
        raise ImageProblem("is a truncated JPEG (it stops before its end)")


def inspect_image(
    source: IO[bytes] | bytes | memoryview, max_pixels: int | None, *, whole_jpeg: bool = False
) -> ImageHeader:
    """:func:`read_header` and :func:`check_image` for a whole image in a seekable file or in memory."""
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        header = read_header(source)
        tail = bytes(view[-TAIL_BYTES:])
        check_image(header, bytes(view[:12]), tail, len(view), max_pixels, whole_jpeg=whole_jpeg)
        return header
    length = source.seek(0, io.SEEK_END)
    source.seek(max(0, length - TAIL_BYTES))
    tail = source.read(TAIL_BYTES)
    source.seek(0)
    head = source.read(12)
    header = read_header(source)
    check_image(header, head, tail, length, max_pixels, whole_jpeg=whole_jpeg)
    return header


def decode_input(image: InputImage) -> Image.Image:
    """An uploaded image's pixels, loaded; for providers that draw on inputs instead of forwarding them.

    Its header was checked when the request was parsed (pixel limit, complete file); data that is corrupt
    or truncated past the header is the client's 400 ``invalid_image`` naming the field it came in."""
    try:
        decoded = Image.open(io.BytesIO(image.read()))
        decoded.load()
    except DECODE_ERRORS as exc:
        raise InvalidRequest(
            f"The file '{image.filename}' cannot be decoded as an image ({exc}).",
            param=image.param,
            code="invalid_image",
        ) from None
    return decoded


_SVG_PROLOGUE_BYTES = 8192
_SVG_ROOT = re.compile(
    r"\A\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--.*?-->|<!DOCTYPE[^>]*>)\s*)*<svg\b([^>]*)>", re.DOTALL
)
_SVG_LENGTH = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*")


def _svg_header(prologue: bytes) -> ImageHeader | None:
    """The root ``<svg>`` element's size: its ``width``/``height`` in pixels, else its ``viewBox``."""
    root = _SVG_ROOT.match(prologue.decode("utf-8", "replace").lstrip("\ufeff"))
    if root is None:
        return None
    attributes = dict(re.findall(r"([\w:-]+)\s*=\s*[\"']([^\"']*)[\"']", root.group(1)))
    width, height = (_SVG_LENGTH.fullmatch(attributes.get(name, "")) for name in ("width", "height"))
    if width and height:
        return ImageHeader("svg", round(float(width[1])), round(float(height[1])), True)
    box = attributes.get("viewBox", "").replace(",", " ").split()
    if len(box) == 4:
        try:
            return ImageHeader("svg", round(float(box[2])), round(float(box[3])), True)
        except ValueError:
            pass
    return ImageHeader("svg", 0, 0, True)


def transcode(data: bytes, fmt: str, compression: int | None) -> bytes:
    """Re-encode ``data`` as ``fmt``. ``compression`` is OpenAI's 0-100 level, whose default of 100 means full
    quality, so it is used as the encoder's quality. Alpha is kept where the format has it and flattened onto
    white for jpeg. The caller has checked the header (:func:`inspect_image`); :class:`ImageProblem` when the
    pixel data cannot be decoded."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except DECODE_ERRORS as exc:
        raise ImageProblem(f"cannot be decoded ({exc})") from None
    with image:
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
