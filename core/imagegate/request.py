"""The unified request: what a client asked for, parsed and typed, whichever endpoint it came through."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import IO, Any, Literal

import msgspec

from .capabilities import Operation


@dataclass(slots=True)
class InputImage:
    """An uploaded image. The bytes stay in the spooled upload (memory, or disk past a threshold); nothing
    here copies them. ``format``/``width``/``height`` come from the image header, read once at parse time."""

    file: IO[bytes]
    filename: str
    content_type: str
    format: str  # png, jpeg, webp, ...
    width: int
    height: int
    has_alpha: bool
    param: str = "image"  # the request field it came in: "image" or "mask" (named by errors about it)

    def buffer(self) -> memoryview | None:
        """A zero-copy view of the bytes when the upload is held in memory, else ``None``."""
        raw = getattr(self.file, "_file", self.file)  # SpooledTemporaryFile keeps its BytesIO in _file
        return raw.getbuffer() if isinstance(raw, io.BytesIO) else None

    def fileno(self) -> int:
        return getattr(self.file, "_file", self.file).fileno()

    def read(self) -> bytes:
        """All the bytes. Safe while other tasks or threads read the same upload (no shared file offset)."""
        view = self.buffer()
        if view is not None:
            return bytes(view)
        return os.pread(self.fileno(), self.size_bytes(), 0)

    def size_bytes(self) -> int:
        view = self.buffer()
        return len(view) if view is not None else os.fstat(self.fileno()).st_size


class ImageParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The fields of the OpenAI Images API that the gateway understands (shared by all three endpoints).

    Decoded from JSON as is, and from multipart with ``strict=False`` so ``"2"`` and ``"true"`` convert."""

    model: str | None = None
    prompt: str | None = None
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = None
    response_format: Literal["url", "b64_json"] | None = None
    input_fidelity: Literal["high", "low"] | None = None
    stream: bool | None = None
    partial_images: int | None = None
    user: str | None = None


KNOWN_FIELDS: frozenset[str] = frozenset(ImageParams.__struct_fields__)


@dataclass(slots=True)
class ImageRequest:
    """One client request on its way through the gateway."""

    operation: Operation
    params: ImageParams
    model: str
    extra: dict[str, Any]  # fields the unified API does not name; providers declare which they accept
    images: list[InputImage]
    mask: InputImage | None = None

    @property
    def n(self) -> int:
        return self.params.n if self.params.n is not None else 1
