"""The unified request: what a client asked for, parsed and typed, whichever endpoint it came through."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import IO, Annotated, Any, Literal

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


class SvgReasoning(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None


class SvgOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The ``svg`` object: which model authors SVG output, and its reasoning effort."""

    model: str | None = None
    reasoning: SvgReasoning | None = None


class ImageParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The fields of the OpenAI Images API that the gateway understands (shared by all three endpoints).

    Decoded from JSON as is, and from multipart with ``strict=False`` so ``"2"`` and ``"true"`` convert.
    ``output_format`` and ``response_format`` also take each other's values (the seed API's spellings);
    parsing settles them (:func:`imagegate.parsing.settle_spellings`) before anything else reads them."""

    model: str | None = None
    prompt: str | None = None
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    complexity: Literal["low", "medium", "high"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp", "gif", "svg", "url", "b64_json"] | None = None
    output_compression: int | None = None
    response_format: Literal["url", "b64_json", "png", "jpeg", "webp", "gif", "svg"] | None = None
    frame_count: Annotated[int, msgspec.Meta(ge=2, le=16)] | None = None  # gif only
    frame_duration_ms: Annotated[int, msgspec.Meta(ge=1)] | None = None  # gif only
    svg: SvgOptions | None = None  # svg only
    input_fidelity: Literal["high", "low"] | None = None
    stream: bool | None = None
    partial_images: int | None = None
    safety_identifier: str | None = None
    user: str | None = None

    @property
    def end_user(self) -> str | None:
        """The effective end-user id: a non-empty ``safety_identifier``, else ``user`` (OpenAI's rule)."""
        return self.safety_identifier or self.user or None


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
    markup: InputImage | None = None  # edits: a transparent PNG overlaid on the first image as guidance

    @property
    def n(self) -> int:
        return self.params.n if self.params.n is not None else 1
