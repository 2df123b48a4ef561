"""The OpenAI Images dialect, both directions, shared by every provider that speaks it (OpenAI, Azure, ...).

Requests: :func:`json_body` (generations) and :func:`multipart_form` (edits, variations) send every planned
field that is not ``None`` plus ``call.params``; planned fields win over params of the same name. Answers:
:func:`parse_images` reads a 200 body, :func:`error_from_response` maps an error body to the gateway's tree,
:func:`parse_stream_event` reads one server-sent event of a streamed answer (``stream=true``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from imagegate import (
    ContentPolicyViolation,
    FilePart,
    FormValue,
    GatewayError,
    InputImage,
    PartialImage,
    ProviderResult,
    ResultImage,
    StreamItem,
    UpstreamAuthError,
    UpstreamCall,
    UpstreamError,
    UpstreamEvent,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamResponse,
    Usage,
    upstream_error,
)

__all__ = [
    "error_from_response",
    "json_body",
    "multipart_form",
    "parse_images",
    "parse_stream_event",
]

# UpstreamCall fields that map one to one onto OpenAI request fields of the same name.
_PLANNED_FIELDS = (
    "prompt",
    "n",
    "size",
    "quality",
    "style",
    "complexity",
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "response_format",
    "input_fidelity",
    "frame_count",
    "frame_duration_ms",
    "svg",
    "user",
    "stream",
    "partial_images",
    "safety_identifier",
)
# Names the dialect fills itself; a param of these names is never sent.
_RESERVED_NAMES = frozenset({"model", "image", "image[]", "mask", "markup"})

_CONTENT_POLICY_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
_BILLING_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
_UNKNOWN_MODEL_CODES = frozenset({"model_not_found", "model_deprecated"})
_MAX_ERROR_TEXT = 500


# --- requests ------------------------------------------------------------------------------------------


def _fields(call: UpstreamCall, include_model: bool) -> dict[str, Any]:
    fields = {
        name: value
        for name, value in call.params.items()
        if value is not None and name not in _RESERVED_NAMES
    }
    if include_model:
        fields["model"] = call.upstream_model
    for name in _PLANNED_FIELDS:
        value = getattr(call, name)
        if value is not None:
            fields[name] = value
    return fields


def json_body(call: UpstreamCall, *, include_model: bool = True) -> dict[str, Any]:
    """The JSON body of ``POST /images/generations``."""
    return _fields(call, include_model)


def _form_values(name: str, value: Any) -> Iterator[tuple[str, str]]:
    """One field as the official SDK writes it in multipart: ``true``/``false``, decimal numbers,
    ``name[key]`` for objects and repeated ``name[]`` for arrays."""
    if value is None:
        return
    if isinstance(value, bool):
        yield name, "true" if value else "false"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _form_values(f"{name}[{key}]", item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _form_values(f"{name}[]", item)
    else:
        yield name, str(value)


def _file_part(image: InputImage, stem: str) -> FilePart:
    """The upload as the client sent it; a missing name or a non-image content type (which OpenAI refuses
    as "unsupported mimetype") is replaced from the sniffed format."""
    content_type = image.content_type if image.content_type.startswith("image/") else f"image/{image.format}"
    filename = image.filename or f"{stem}.{'jpg' if image.format == 'jpeg' else image.format}"
    return FilePart(content=image, filename=filename, content_type=content_type)


def multipart_form(call: UpstreamCall, *, include_model: bool = True) -> list[tuple[str, FormValue]]:
    """The multipart form of ``POST /images/edits`` and ``/images/variations``: text fields first, then one
    image as part ``image`` or several as repeated ``image[]`` parts, then ``mask`` or ``markup``."""
    form: list[tuple[str, FormValue]] = []
    for name, value in _fields(call, include_model).items():
        form.extend(_form_values(name, value))
    image_field = "image" if len(call.images) == 1 else "image[]"
    for index, image in enumerate(call.images):
        form.append((image_field, _file_part(image, f"image{index}" if index else "image")))
    if call.mask is not None:
        form.append(("mask", _file_part(call.mask, "mask")))
    if call.markup is not None:
        form.append(("markup", _file_part(call.markup, "markup")))
    return form


# --- answers -------------------------------------------------------------------------------------------


class _ImagesResponse(msgspec.Struct):
    """A 200 body of the Images API. Items stay mappings so unknown per-image keys survive."""

    data: list[dict[str, msgspec.Raw]] | None = None
    created: int | None = None
    background: str | None = None
    output_format: str | None = None
    quality: str | None = None
    size: str | None = None
    usage: Any = None
    svg_usage: Any = None
    error: Any = None


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    try:
        return msgspec.convert(raw, Usage)
    except msgspec.ValidationError:
        return None  # an odd usage shape from a compatible upstream must not lose the images


_EMPTY_LITERALS = (b"null", b'""')


def _result_image(raw_item: dict[str, msgspec.Raw]) -> ResultImage:
    # The base64 text stays the upstream's JSON literal (no copy, no re-escaping); the rest is decoded.
    b64_literal = raw_item.pop("b64_json", None)
    empty = b64_literal is None or (len(b64_literal) <= 4 and bytes(b64_literal) in _EMPTY_LITERALS)
    if not empty and memoryview(b64_literal)[:1] != b'"':
        raise UpstreamError("The upstream answered with a b64_json that is not a string.")
    b64_json = None if empty else b64_literal
    item = {key: msgspec.json.decode(value) for key, value in raw_item.items()}
    url = item.pop("url", None) or None
    revised_prompt = item.pop("revised_prompt", None)
    if b64_json is None and url is None:
        raise UpstreamError("The upstream answered with an image entry that has neither b64_json nor url.")
    extra = {key: value for key, value in item.items() if value is not None}
    return ResultImage(b64_json=b64_json, url=url, revised_prompt=revised_prompt, extra=extra)


def parse_images(call: UpstreamCall, response: UpstreamResponse) -> ProviderResult:
    """Read a successful Images API body (``created``, ``data[]``, and for GPT models ``background``,
    ``output_format``, ``quality``, ``size``, ``usage``, ``svg_usage``)."""
    try:
        body = response.json(_ImagesResponse, verbatim="b64_json")
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise UpstreamError(
            f"The upstream answered HTTP {response.status} with a body that is not an images response: {exc}"
        ) from None
    if not body.data:
        if body.error is not None:
            raise UpstreamError(
                f"The upstream answered HTTP {response.status} with an error.", detail=str(body.error)
            )
        raise UpstreamError("The upstream answered without any image.")
    return ProviderResult(
        images=[_result_image(item) for item in body.data],
        usage=_usage(body.usage),
        size=body.size,
        quality=body.quality,
        background=body.background,
        output_format=body.output_format,
        created=body.created,
        svg_usage=body.svg_usage if isinstance(body.svg_usage, dict) else None,
    )


class _ErrorBody(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


def _error_fields(response: UpstreamResponse) -> _ErrorBody:
    """The ``error`` object of an OpenAI error body; for anything else, the body's text as the message."""
    try:
        raw = response.json()
    except msgspec.DecodeError:
        raw = None
    error = _error_object(raw.get("error")) if isinstance(raw, dict) else None
    if error is not None:
        return error
    if isinstance(raw, dict) and isinstance(raw.get("message"), str):
        return _ErrorBody(message=raw["message"])
    text = response.body[:_MAX_ERROR_TEXT].decode("utf-8", "replace").strip()
    return _ErrorBody(message=text or None)


def _error_object(error: Any) -> _ErrorBody | None:
    """An ``error`` value as OpenAI gives it (an object, or a bare message); ``None`` for anything else."""
    if isinstance(error, dict):
        with contextlib.suppress(msgspec.ValidationError):
            return msgspec.convert(error, _ErrorBody)
    if isinstance(error, str):
        return _ErrorBody(message=error)
    return None


def _known_error(code: str | None, message: str, param: str | None) -> GatewayError | None:
    """What an error code says whatever the status: a safety block (the client's 400, with the upstream's
    code) or an account that cannot be billed (the operator's problem)."""
    if code in _CONTENT_POLICY_CODES:
        return ContentPolicyViolation(message, code=code, param=param)
    if code in _BILLING_CODES:
        return UpstreamAuthError(
            f"The upstream account cannot be billed ({code}); the operator must fix the account.",
            code="upstream_payment",
        )
    return None


def error_from_response(response: UpstreamResponse) -> GatewayError:
    """Map an OpenAI-dialect error answer to the gateway's error tree.

    Safety blocks stay the client's 400 with the upstream's code; quota and billing exhaustion and refused
    credentials are the operator's problem (502, never mistaken for the client's key); everything else
    follows :func:`imagegate.errors.upstream_error` by status, keeping the upstream's message and ``param``.
    """
    error = _error_fields(response)
    code = None if error.code is None else str(error.code)
    message = error.message or f"HTTP {response.status} without an error message"
    known = _known_error(code, message, error.param)
    if known is not None:
        return known
    return upstream_error(response.status, message, code=code, param=error.param)


def rejects_unknown_model(error: UpstreamError) -> bool:
    """Whether a rejection carries the dialect's code for a model the upstream does not serve (any longer),
    whatever its ``param``: for :meth:`imagegate.Provider.unknown_model`."""
    return isinstance(error, UpstreamRejected) and error.code in _UNKNOWN_MODEL_CODES


# --- streamed answers ----------------------------------------------------------------------------------


class _StreamEvent(msgspec.Struct):
    """The data of one event: ``image_generation.partial_image`` / ``.completed`` (edits: ``image_edit.*``),
    or an error. The base64 stays the upstream's JSON literal, as in a body answer."""

    type: str | None = None
    b64_json: msgspec.Raw = msgspec.Raw(b"null")
    partial_image_index: int = 0
    created_at: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    usage: Any = None
    error: Any = None
    message: str | None = None  # an error given at the top level, as the Responses API does
    code: str | int | None = None
    param: str | None = None


def parse_stream_event(call: UpstreamCall, event: UpstreamEvent) -> StreamItem | None:
    """One event of a streamed answer: a :class:`PartialImage`, a :class:`ProviderResult` for a completed
    image, ``None`` for an event of another type (skipped), or raise an error event as the gateway's error."""
    try:
        body = event.json(_StreamEvent, verbatim="b64_json")
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"The upstream sent a stream event that is not an image event: {exc}") from None
    kind = body.type or event.event or ""
    if body.error or kind == "error":
        raise _stream_error(body)
    if not kind.endswith((".partial_image", ".completed")):
        return None
    b64 = body.b64_json
    if memoryview(b64)[:1] != b'"' or len(b64) <= 2:
        raise UpstreamError(f"The upstream sent a {kind} event without an image.")
    image = ResultImage(b64_json=b64)
    metadata = {
        "size": body.size,
        "quality": body.quality,
        "background": body.background,
        "output_format": body.output_format,
    }
    if kind.endswith(".partial_image"):
        return PartialImage(image=image, index=body.partial_image_index, created=body.created_at, **metadata)
    return ProviderResult(images=[image], usage=_usage(body.usage), created=body.created_at, **metadata)


def _stream_error(body: _StreamEvent) -> GatewayError:
    """An error event, mapped as an error answer would be where its code says what it is; any other is an
    upstream failure (which the core may retry): the stream has no HTTP status to go by."""
    fields = _error_object(body.error) or _ErrorBody(message=body.message, code=body.code, param=body.param)
    code = None if fields.code is None else str(fields.code)
    message = fields.message or "an error event without a message"
    known = _known_error(code, message, fields.param)
    if known is not None:
        return known
    if code == "rate_limit_exceeded":
        return UpstreamRateLimited("The upstream is rate limiting this gateway; retry later.", detail=message)
    return UpstreamError("The upstream's stream failed.", detail=message)
