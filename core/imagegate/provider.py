"""The contract between the core and a provider plugin.

A provider translates between the unified request and one upstream dialect, in both directions, and declares
per upstream model what that model supports. It does no networking of its own: ``build`` returns an
:class:`UpstreamRequest` that the core sends, and ``parse`` turns the :class:`UpstreamResponse` into a
:class:`ProviderResult` or raises an error from :mod:`imagegate.errors`. A provider whose upstream needs several
calls (submit, then poll) overrides :meth:`Provider.run` and uses the ``send`` it is given.

Streaming (``stream=true`` from the client): the core consumes :meth:`Provider.stream` for each call, which
yields :class:`PartialImage` previews, and a :class:`ProviderResult` as each image completes. For a model whose
capabilities declare ``streaming``, the default asks the upstream to stream (``call.stream``), lets the core
read its server-sent events and translates each with :meth:`Provider.parse_event`; for any other model it
runs the call as usual and yields the result once (the core still streams it to the client).
"""

from __future__ import annotations

import binascii
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec
from pybase64 import b64decode, b64encode  # SIMD base64: many times the standard library's speed on images

from .capabilities import ModelCapabilities, Operation
from .clients.pricing import Price
from .errors import UpstreamError, UpstreamNotFound, UpstreamRejected
from .images import ImageHeader
from .request import InputImage
from .verbatim import decode_json


def decode_base64(text: str | bytes | memoryview) -> bytes:
    """Strict decoding first (the fast path); whatever the standard library's lenient decoder accepts
    (line breaks, stray characters) still decodes."""
    try:
        return b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b64decode(text)


class AccountConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base for a provider's account settings (the provider-specific keys of a ``providers:`` entry)."""


class TargetOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base for a provider's per-route settings (provider-specific keys of a target under ``models:``)."""


@dataclass(slots=True)
class UpstreamCall:
    """One upstream call as planned by the core: the client's request with sizes, counts and formats already
    decided against the target's :class:`ModelCapabilities`. A field left ``None`` is not to be sent: either
    the client did not ask for it, or the model's own default already means what the client asked for, or
    the core does it itself afterwards. Nothing here needs validating again: what the model cannot do was
    refused with a 400 before the call was planned."""

    operation: Operation  # "generate", "edit" or "variation"; always one the capabilities declare
    upstream_model: str  # the target's upstream_model (the model id when routes.yaml names none)
    account: Any  # the provider's account_type, as read from the routes.yaml ``providers:`` entry
    options: Any  # the provider's options_type, from the target's provider-specific keys
    # None for variations, and when the client sent none to a model with prompt_required=False.
    prompt: str | None = None
    n: int = 1  # images this call must return: at most max_images_per_call (the core fans out the rest)
    # The client's size as the model takes it: the canonical "WxH" (parsed strictly by the core) or "auto";
    # None when the client sent no size, sent "auto" to a model without "auto", or the size was mapped to
    # ``aspect_ratio``.
    size: str | None = None
    width: int | None = None  # ``size`` as integers when it is a WxH (None with "auto"): providers use these
    height: int | None = None
    # Only for models that declare sizes.aspect_ratios: the declared ratio nearest to the client's WxH.
    aspect_ratio: str | None = None
    quality: str | None = None  # one of capabilities.qualities; None when not sent or "auto" is not one
    style: str | None = None  # one of capabilities.styles; None when not sent
    complexity: str | None = None  # one of capabilities.complexities; None when not sent
    # "transparent" when asked for (and declared); "opaque"/"auto" only when in capabilities.backgrounds.
    background: str | None = None
    moderation: str | None = None  # "low"/"auto", only when capabilities.moderation (a hint, else dropped)
    # The format to ask the upstream for: None when the model has only one format (nothing to choose) or the
    # client named none; a native format the core transcodes from when the client wants one that is not.
    output_format: str | None = None
    # 0-100, only when capabilities.output_compression (else the core transcodes).
    output_compression: int | None = None
    # "b64_json" or "url" when one is needed and in capabilities.response_formats; None: the upstream's default.
    response_format: str | None = None
    input_fidelity: str | None = None  # one of capabilities.input_fidelities
    # gif (output_format "gif"): frames and the delay of each, as the client sent them (None: the defaults).
    frame_count: int | None = None
    frame_duration_ms: int | None = None
    svg: dict[str, Any] | None = None  # svg output: {"model": ..., "reasoning": {"effort": ...}} as sent
    # End-user ids, each only where capabilities.end_user_fields names it; an upstream with ``user`` only
    # gets the effective id there (a non-empty safety_identifier, else user).
    user: str | None = None
    safety_identifier: str | None = None
    # Only for models that declare ``streaming``, when the client streams: ask the upstream for a stream of
    # ``partial_images`` previews (0-3, an upper bound) before the image. The core then plans one image per call.
    stream: bool | None = None
    partial_images: int | None = None
    # The client's extra fields (names in capabilities.extra_params, or any when the model forwards unknown
    # fields) with the route's fixed ``params`` over them.
    params: dict[str, Any] = field(default_factory=dict)
    images: list[InputImage] = field(default_factory=list)  # edits and variations: the uploads, in order
    mask: InputImage | None = None  # edits: the mask, when the client sent one (and capabilities.mask)
    markup: InputImage | None = None  # edits: the markup image, when sent (and capabilities.markup)
    index: int = 0  # which call of a fan-out this is, from 0: vary a seed with it to get distinct images


@dataclass(slots=True)
class FilePart:
    """A file in a multipart upstream request; ``content`` is an upload (streamed, not copied) or bytes."""

    content: InputImage | bytes
    filename: str
    content_type: str


FormValue = str | FilePart


@dataclass(slots=True)
class UpstreamRequest:
    """What ``build`` returns and the core sends: JSON (``json``, encoded with msgspec) or multipart
    (``form``), or neither for a bodiless request. ``query`` is added to ``url``."""

    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None  # encoded with msgspec
    form: list[tuple[str, FormValue]] | None = None  # multipart/form-data, in order
    query: dict[str, str] | None = None


@dataclass(slots=True)
class UpstreamEvent:
    """One server-sent event of a streaming upstream: its ``event:`` name and its ``data:`` lines joined."""

    event: str | None
    data: bytes

    def json(self, type: Any = Any, *, verbatim: str | None = None) -> Any:
        """The data decoded as ``type``; ``verbatim`` as for :meth:`UpstreamResponse.json`."""
        return decode_json(self.data, type, verbatim)


@dataclass(slots=True)
class UpstreamResponse:
    """The upstream's answer as the core received it, whatever its status: ``parse`` decides what it means."""

    status: int
    headers: Any  # a case-insensitive mapping (multidict)
    body: bytes
    # A streamed answer (2xx, text/event-stream) leaves ``body`` empty: its events arrive through this.
    events: AsyncIterator[UpstreamEvent] | None = None

    def json(self, type: Any = Any, *, verbatim: str | None = None) -> Any:
        """The body decoded as ``type``. ``verbatim`` names the key of the images' base64 (``b64_json``): its
        string values are found without the decoder walking their megabytes, and come back as
        :class:`msgspec.Raw` views of the body where ``type`` has ``msgspec.Raw`` for them. Give them to
        :class:`ResultImage` as they are: the core verifies them and passes them on verbatim, uncopied."""
        return decode_json(self.body, type, verbatim)


# Base64 checked in slices this long: each decodes into a buffer small enough to be reused, never mapped fresh.
_CHECKED_SLICE_CHARS = 128 * 1024


class ResultImage:
    """One image as the upstream gave it: base64 text, raw bytes or a URL. Conversions happen at most once."""

    __slots__ = ("_b64", "_b64_json_literal", "_data", "extra", "header", "revised_prompt", "url")

    def __init__(
        self,
        *,
        b64_json: str | msgspec.Raw | None = None,
        data: bytes | None = None,
        url: str | None = None,
        revised_prompt: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if b64_json is None and data is None and url is None:
            raise ValueError("a ResultImage needs b64_json, data or url")
        # A JSON string literal taken verbatim from the upstream's body: spliced into the response unparsed.
        self._b64_json_literal = b64_json if isinstance(b64_json, msgspec.Raw) else None
        self._b64 = None if isinstance(b64_json, msgspec.Raw) else b64_json
        self._data = data
        self.url = url
        self.revised_prompt = revised_prompt
        self.extra = extra or {}  # provider-specific per-image fields kept in the response (seed, filters)
        self.header: ImageHeader | None = None  # read by the core when it verifies the image

    @property
    def has_bytes(self) -> bool:
        return self._data is not None or self._b64 is not None or self._b64_json_literal is not None

    def b64_json_value(self) -> str | msgspec.Raw:
        """The base64 text for a response body: the upstream's own JSON literal when untouched."""
        return self._b64_json_literal if self._b64_json_literal is not None else self.b64()

    def ends(self, head: int, tail: int) -> tuple[bytes, bytes] | None:
        """The first ``head`` and last ``tail`` bytes of an image held as base64, and the assurance that all of
        its text is strict base64 (so it is passed on verbatim as a valid JSON string), without decoding it
        into one buffer: the text is checked slice by slice and only its two ends are kept. ``None`` when the
        bytes are already decoded, or the text is not strict base64 on its own (JSON escapes, line breaks):
        the caller decodes the whole image then. The tail is right only if the base64 is padded: a caller
        doubting it decodes the whole image."""
        if self._data is not None:
            return None
        literal = self._b64_json_literal
        text: str | memoryview | None = self._b64 if literal is None else memoryview(literal)[1:-1]
        head_chars, tail_chars = -(-head // 3) * 4, -(-tail // 3) * 4 + 4
        if text is None or len(text) <= head_chars + tail_chars:
            return None
        middle_end = len(text) - tail_chars
        try:
            first = b64decode(text[:head_chars], validate=True)[:head]
            for start in range(head_chars, middle_end, _CHECKED_SLICE_CHARS):
                b64decode(text[start : min(start + _CHECKED_SLICE_CHARS, middle_end)], validate=True)
            return first, b64decode(text[middle_end:], validate=True)[-tail:]
        except (binascii.Error, ValueError):
            return None

    def data(self) -> bytes:
        if self._data is None:
            literal = self._b64_json_literal
            if self._b64 is None and literal is not None:
                try:  # the literal without its quotes is the base64 text unless it holds JSON escapes
                    self._data = b64decode(memoryview(literal)[1:-1], validate=True)
                    return self._data
                except (binascii.Error, ValueError):
                    self._b64 = msgspec.json.decode(literal, type=str)
            if self._b64 is None:
                raise ValueError("image only has a URL; the core downloads it first")
            self._data = decode_base64(self._b64)
        return self._data

    def b64(self) -> str:
        if self._b64 is None and self._b64_json_literal is not None:
            self._b64 = msgspec.json.decode(self._b64_json_literal, type=str)
        if self._b64 is None:
            self._b64 = b64encode(self.data()).decode("ascii")
        return self._b64

    def replace_data(self, data: bytes) -> None:
        self._data, self._b64, self._b64_json_literal, self.url, self.header = data, None, None, None, None


class Usage(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Token usage as OpenAI's image models report it; passed through to the client, summed over a fan-out."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, int] | None = None
    output_tokens_details: dict[str, int] | None = None


@dataclass(slots=True)
class ProviderResult:
    """What one upstream call produced, as ``parse`` (or ``run``) returns it.

    ``images`` must hold ``call.n`` images, in order. The other fields report what the upstream says it made;
    ``None`` means it did not say, and the core fills in or leaves out the field of the response:

    - ``usage``: token usage, summed over the calls of a fan-out; ``None``: no ``usage`` in the response.
    - ``size``: the ``WxH`` produced; ``None``: the core reports the size it asked for, or reads it from the
      first image when that was not known in advance (``auto``, an aspect ratio, no size sent).
    - ``quality``, ``background``: as the upstream reports them; ``None``: left out of the response.
    - ``output_format``: the format of the images; ``None``: left out (when the core transcodes, the
      response reports the transcoded format whatever this says).
    - ``created``: the upstream's Unix time; ``None``: the gateway's clock. The earliest of a fan-out wins.
    """

    images: list[ResultImage]
    usage: Usage | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    created: int | None = None
    svg_usage: dict[str, Any] | None = None  # tokens spent authoring SVG output


@dataclass(slots=True)
class PartialImage:
    """A preview of the image a streaming call is making, sent to the client while it waits. A call making
    several images sends the previews of each before that image's result."""

    image: ResultImage
    index: int  # 0-based, per image (``partial_image_index``)
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    created: int | None = None


Send = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]
# Send a request for a streamed answer: ``async with open_stream(request) as response`` gives the response
# with ``events`` to iterate (read as they arrive, never buffered whole), or, for an answer that is not an
# event stream (an error, an upstream that answered whole), with its ``body``.
OpenStream = Callable[[UpstreamRequest], AbstractAsyncContextManager[UpstreamResponse]]
StreamItem = PartialImage | ProviderResult


class Provider:
    """Base class for providers. Subclasses set ``name`` and the two config types, and implement
    ``capabilities``, ``build`` and ``parse``; the other methods have defaults a provider overrides where its
    upstream needs more (a token to fetch, several requests per call, streamed events, its own error codes
    for an unknown model)."""

    name: ClassVar[str]
    account_type: ClassVar[type[AccountConfig]] = AccountConfig
    options_type: ClassVar[type[TargetOptions]] = TargetOptions

    def capabilities(self, upstream_model: str, options: Any) -> ModelCapabilities:
        """What ``upstream_model`` supports. Raise ``ValueError`` for a model this provider cannot serve;
        the route table load reports it."""
        raise NotImplementedError

    def build(self, call: UpstreamCall) -> UpstreamRequest:
        """Translate one planned call into the upstream's dialect. Pure: no I/O."""
        raise NotImplementedError

    def parse(self, call: UpstreamCall, response: UpstreamResponse) -> ProviderResult:
        """Translate the upstream's answer back, or raise an error from :mod:`imagegate.errors`."""
        raise NotImplementedError

    def price(self, upstream_model: str, options: Any, operation: Operation) -> Price | None:
        """What ``operation`` on ``upstream_model`` costs at the upstream, from its published price list, or
        ``None`` when unknown (its images are then recorded at 0 and ``imagegate check`` says so). A route's
        ``price:`` replaces this. A paid model should never default to 0."""
        return None

    def check_account(self, account: Any) -> str | None:
        """Return why ``account`` cannot be used (for example a missing key), or ``None`` when it can."""
        return None

    async def prepare(self, call: UpstreamCall) -> UpstreamRequest:
        """The request for ``call``: :meth:`build`'s, completed where that needs I/O (a token to fetch)."""
        return self.build(call)

    async def run(self, call: UpstreamCall, send: Send) -> ProviderResult:
        """Carry out one call. The default is one request and its answer; override for multi-step upstreams."""
        return self.parse(call, await send(await self.prepare(call)))

    def unknown_model(self, error: UpstreamError) -> bool:
        """Whether ``error``, raised by this provider, says the upstream does not know the call's model. For a
        model declared ``retired`` the core then answers 400 ``model_retired`` naming the replacement. The
        default: :class:`UpstreamNotFound` (a 404), or :class:`UpstreamRejected` naming the ``model``
        parameter; a provider whose upstream says so with error codes of its own adds them."""
        if isinstance(error, UpstreamNotFound):
            return True
        return isinstance(error, UpstreamRejected) and error.param == "model"

    def parse_event(self, call: UpstreamCall, event: UpstreamEvent) -> StreamItem | None:
        """Translate one server-sent event of a streaming upstream: a :class:`PartialImage`, a
        :class:`ProviderResult` for a completed image, ``None`` for an event that carries neither (progress,
        an event type added later), or raise an error from :mod:`imagegate.errors` for an error event.
        Needed only by providers whose models declare ``streaming`` and keep the default :meth:`stream`."""
        raise NotImplementedError(f"the provider '{self.name}' declares streaming but cannot parse events")

    async def stream(
        self, call: UpstreamCall, send: Send, open_stream: OpenStream
    ) -> AsyncIterator[StreamItem]:
        """Carry out one call for a streaming client, yielding previews and results as they come.

        With ``call.stream`` set (the model declares ``streaming``) the default sends :meth:`prepare`'s
        request through ``open_stream`` and translates each event with :meth:`parse_event`; an answer that is
        not an event stream goes through :meth:`parse` (errors, or an upstream that answered whole).
        Otherwise it yields :meth:`run`'s result. A provider that can draw previews itself overrides this.
        """
        if not call.stream:
            yield await self.run(call, send)
            return
        async with open_stream(await self.prepare(call)) as response:
            if response.events is None:
                yield self.parse(call, response)
                return
            async for event in response.events:
                item = self.parse_event(call, event)
                if item is not None:
                    yield item
