"""The unified request: what a client asked for, parsed and typed, whichever endpoint it came through."""

from __future__ import annotations

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

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def size_bytes(self) -> int:
        self.file.seek(0, 2)
        return self.file.tell()


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
