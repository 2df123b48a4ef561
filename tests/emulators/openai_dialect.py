"""An emulator of OpenAI's Images API as of late 2026 (the openai SDK 3.57's models and parameters), for
integration tests.

Serves ``POST /v1/images/generations`` (JSON), ``/v1/images/edits`` and ``/v1/images/variations`` (multipart)
the way api.openai.com does: it checks the Bearer key, validates every field per model and answers OpenAI's
own error shape (``response_format`` sent to a GPT model is a 400 ``unknown_parameter``), and returns real
PNG/JPEG/WebP bytes of the requested size and format, real animated GIFs (``frame_count`` frames of
``frame_duration_ms`` rounded to 10 ms) and real SVG documents (with ``svg_usage``): base64 for GPT models, and
for DALL·E a URL that the emulator itself serves at ``/v1/files/...`` unless ``response_format=b64_json``.
The response echoes the effective ``safety_identifier`` (``user`` when none is given).

``make_app(shut_down=...)`` names models answered as api.openai.com answers a retired one (404
``model_not_found``); by default every model is served, as by a compatible upstream that still has them.

``app["received"]`` lists every request as a :class:`ReceivedRequest`; ``app["switches"]`` (a
:class:`Switches`) can be changed while serving to make the next answers a safety block, a rate limit or a
server error.

``stream=true`` (GPT models) answers in server-sent events as OpenAI does: ``partial_images`` previews of each
image (real images, in another colour), then its completed event with usage. Switches slow the events down
and make the next streams fail after their first event (an error event, or the connection dropped);
``app["streams"]`` records how each stream ended: completed, failed, dropped, or cancelled (the client hung
up before the end).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
import uuid
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from aiohttp import web
from PIL import Image

from tests.emulators.image_streams import StreamFailure, stream_images
from tests.support.images import make_gif, make_image, make_svg

Failure = Literal["moderation_blocked", "content_policy_violation", "rate_limited", "server_error"]


@dataclass
class Switches:
    failure: Failure | None = None
    retry_after: float = 1.0  # seconds, sent as retry-after and retry-after-ms with "rate_limited"
    stream_delay: float = 0.0  # seconds before each streamed event
    # How the next streams fail after their first event, one entry per stream (taken in order).
    stream_failures: list[StreamFailure] = field(default_factory=list)


@dataclass(frozen=True)
class ReceivedFile:
    field: str
    filename: str | None
    content_type: str
    size: int
    sha256: str = ""  # of the bytes received


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    content_type: str
    fields: dict[str, Any]  # the JSON body, or the multipart text fields (a repeated name gives a list)
    files: list[ReceivedFile] = field(default_factory=list)


@dataclass(frozen=True)
class _Model:
    operations: frozenset[str]
    sizes: tuple[str, ...]
    qualities: frozenset[str]
    max_n: int
    max_prompt: int
    gpt: bool
    max_images: int = 0
    free_sizes: bool = False  # gpt-image-2 and later: any WxH within its limits
    styles: bool = False
    input_fidelities: frozenset[str] = frozenset()
    transparent: bool = False
    formats: frozenset[str] = frozenset({"png"})
    complexity: bool = False
    markup: bool = False


_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
_GPT_QUALITIES = frozenset({"low", "medium", "high", "auto"})
_GPT = _Model(
    operations=frozenset({"generate", "edit"}),
    sizes=_GPT_SIZES,
    qualities=_GPT_QUALITIES,
    max_n=10,
    max_prompt=32_000,
    gpt=True,
    max_images=16,
    input_fidelities=frozenset({"high", "low"}),
    transparent=True,
    formats=frozenset({"png", "jpeg", "webp"}),
)
_GPT_2 = replace(_GPT, free_sizes=True, input_fidelities=frozenset(), transparent=False, complexity=True)
_GPT_2_5 = replace(
    _GPT_2,
    qualities=_GPT_QUALITIES | {"xhigh", "max"},
    transparent=True,
    formats=frozenset({"png", "jpeg", "webp", "gif", "svg"}),
    markup=True,
)
_MODELS: MappingProxyType[str, _Model] = MappingProxyType(
    {
        "dall-e-2": _Model(
            operations=frozenset({"generate", "edit", "variation"}),
            sizes=("256x256", "512x512", "1024x1024"),
            qualities=frozenset({"standard"}),
            max_n=10,
            max_prompt=1_000,
            gpt=False,
            max_images=1,
        ),
        "dall-e-3": _Model(
            operations=frozenset({"generate"}),
            sizes=("1024x1024", "1792x1024", "1024x1792"),
            qualities=frozenset({"standard", "hd"}),
            max_n=1,
            max_prompt=4_000,
            gpt=False,
            styles=True,
        ),
        "gpt-image-1": _GPT,
        "gpt-image-1.5": _GPT,
        "gpt-image-1-mini": replace(_GPT, input_fidelities=frozenset({"low"})),
        "gpt-image-2": _GPT_2,
        "gpt-image-2.5-sunburst": _GPT_2_5,
        "gpt-image-2.5-flare": _GPT_2_5,
        "gpt-image-2.6-sunburst": _GPT_2_5,
        "gpt-image-2.6-flare": _GPT_2_5,
        "chatgpt-image-latest": replace(_GPT_2, free_sizes=False, transparent=True),
    }
)
RETIRED = frozenset({"gpt-image-1", "dall-e-2", "dall-e-3"})  # what api.openai.com no longer serves

_GPT_FIELDS = {
    "prompt", "model", "n", "size", "quality", "output_format", "output_compression", "background", "moderation",
    "user", "safety_identifier", "stream", "partial_images", "complexity", "frame_count", "frame_duration_ms", "svg",
}  # fmt: skip
_FIELDS = MappingProxyType(
    {
        "generate": _GPT_FIELDS | {"style", "response_format"},
        "edit": _GPT_FIELDS | {"response_format", "input_fidelity"},
        "variation": {"model", "n", "size", "response_format", "user"},
    }
)
_GPT_ONLY = (
    "output_format", "output_compression", "background", "moderation", "input_fidelity", "safety_identifier",
    "complexity", "frame_count", "frame_duration_ms", "svg",
)  # fmt: skip
_INTEGER_FIELDS = ("n", "output_compression", "partial_images", "frame_count", "frame_duration_ms")
_UPLOAD_TYPES = ("image/png", "image/jpeg", "image/webp")
_FILE_FIELDS = ("image", "image[]", "mask", "markup")


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = "invalid_value",
        type_: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type_
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return web.json_response(body, status=self.status, headers=self.headers)


def make_app(
    *,
    api_key: str = "test-key",
    failure: Failure | None = None,
    retry_after: float = 1.0,
    shut_down: Collection[str] = (),
    more_models: Mapping[str, str] | None = None,
) -> web.Application:
    """The emulator. ``api_key`` is the only Bearer key it accepts; ``failure`` sets the initial switch;
    ``shut_down`` models are answered as retired (pass ``RETIRED`` to behave as api.openai.com today);
    ``more_models`` serves new names, each like a known model (``{"gpt-image-3": "gpt-image-2.5-sunburst"}``)."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    with warnings.catch_warnings():  # plain string keys, so tests can write app["received"]
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["api_key"] = api_key
        app["shut_down"] = frozenset(shut_down)
        app["models"] = {**_MODELS, **{name: _MODELS[like] for name, like in (more_models or {}).items()}}
        app["switches"] = Switches(failure=failure, retry_after=retry_after)
        app["received"] = []
        app["files"] = {}
        app["streams"] = []
    app.router.add_post("/v1/images/generations", _generations)
    app.router.add_post("/v1/images/edits", _edits)
    app.router.add_post("/v1/images/variations", _variations)
    app.router.add_get("/v1/files/{name}", _file)
    return app


# --- handlers ------------------------------------------------------------------------------------------


def _received(request: web.Request, fields: dict[str, Any], files: list[ReceivedFile]) -> None:
    headers = {name.lower(): value for name, value in request.headers.items()}
    request.app["received"].append(
        ReceivedRequest(
            path=request.path, headers=headers, content_type=request.content_type, fields=fields, files=files
        )
    )


def _check_key(request: web.Request) -> None:
    expected = request.app["api_key"]
    if request.headers.get("Authorization") != f"Bearer {expected}":
        raise _ApiError(
            401,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )


async def _generations(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    _received(request, body if isinstance(body, dict) else {}, [])
    try:
        _check_key(request)
        if not isinstance(body, dict):
            raise _ApiError(400, "We could not parse the JSON body of your request.", code=None)
        return await _answer(request, "generate", body, [])
    except _ApiError as error:
        return error.response()


async def _read_multipart(request: web.Request) -> tuple[dict[str, Any], list[tuple[ReceivedFile, bytes]]]:
    fields: dict[str, Any] = {}
    files: list[tuple[ReceivedFile, bytes]] = []
    reader = await request.multipart()
    async for part in reader:
        name = part.name or ""
        if part.filename is not None:
            data = await part.read()
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            digest = hashlib.sha256(data).hexdigest()
            files.append((ReceivedFile(name, part.filename, content_type, len(data), digest), bytes(data)))
            continue
        value = await part.text()
        nested = re.fullmatch(r"(\w+)((?:\[\w*\])+)", name)
        if nested and "[]" not in nested[2]:  # svg[model], svg[reasoning][effort], as the SDK writes objects
            target = fields.setdefault(nested[1], {})
            *parents, leaf = re.findall(r"\[(\w+)\]", nested[2])
            for key in parents:
                target = target.setdefault(key, {})
            target[leaf] = value
            continue
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields, files


async def _multipart_endpoint(request: web.Request, operation: str) -> web.Response:
    if not request.content_type.startswith("multipart/"):
        _received(request, {}, [])
        return _ApiError(400, "This endpoint takes multipart/form-data.", code=None).response()
    fields, files = await _read_multipart(request)
    _received(request, fields, [received for received, _ in files])
    try:
        _check_key(request)
        return await _answer(request, operation, fields, files)
    except _ApiError as error:
        return error.response()


async def _edits(request: web.Request) -> web.Response:
    return await _multipart_endpoint(request, "edit")


async def _variations(request: web.Request) -> web.Response:
    return await _multipart_endpoint(request, "variation")


async def _file(request: web.Request) -> web.Response:
    data = request.app["files"].get(request.match_info["name"])
    if data is None:
        raise web.HTTPNotFound()
    return web.Response(body=data, content_type="image/png")


# --- validation and answers ----------------------------------------------------------------------------


def _model(name: Any, models: Mapping[str, _Model], shut_down: frozenset[str]) -> _Model:
    family = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", str(name))
    if family in shut_down:
        raise _ApiError(
            404,
            f"The model `{name}` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations",
            code="model_not_found",
        )
    model = models.get(family)
    if model is None:
        raise _ApiError(
            400, f"Invalid value: '{name}'. Supported values are: {', '.join(models)}.", param="model"
        )
    return model


def _integers(fields: dict[str, Any], multipart: bool) -> None:
    """Multipart carries numbers as decimal strings (the SDK's way); JSON carries JSON numbers."""
    for name in _INTEGER_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        if multipart and isinstance(value, str) and value.isdigit():
            fields[name] = int(value)
        elif multipart or not isinstance(value, int) or isinstance(value, bool):
            raise _ApiError(
                400,
                f"Invalid type for '{name}': expected an integer, got {value!r}.",
                param=name,
                code="invalid_type",
            )


def _size_ok(model: _Model, size: str) -> bool:
    if size in model.sizes:
        return True
    match = re.fullmatch(r"(\d+)x(\d+)", size)
    if not model.free_sizes or match is None:
        return False
    width, height = int(match[1]), int(match[2])
    return (
        width % 16 == 0
        and height % 16 == 0
        and max(width, height) <= 3840
        and 655_360 <= width * height <= 3840 * 2160
        and max(width, height) <= 3 * min(width, height)
    )


def _validate(operation: str, fields: dict[str, Any], model: _Model) -> None:
    for name in fields:
        if name not in _FIELDS[operation] or (name == "response_format" and model.gpt):
            raise _ApiError(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
        if name in _GPT_ONLY and not model.gpt:
            raise _ApiError(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    if operation not in model.operations:
        raise _ApiError(400, f"The model does not support image {operation}s.", param="model")
    prompt = fields.get("prompt")
    if operation != "variation" and not prompt:
        raise _ApiError(
            400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter"
        )
    if prompt and len(prompt) > model.max_prompt:
        raise _ApiError(400, f"The prompt is longer than {model.max_prompt} characters.", param="prompt")
    n = fields.get("n") or 1
    if not 1 <= n <= model.max_n:
        raise _ApiError(400, f"n must be between 1 and {model.max_n} for this model.", param="n")
    _check_choice(fields, "size", model.sizes, accepts=lambda size: _size_ok(model, size))
    _check_choice(fields, "quality", model.qualities)
    _check_choice(fields, "style", ("vivid", "natural") if model.styles else ())
    _check_choice(fields, "response_format", ("url", "b64_json"))
    _check_choice(fields, "output_format", model.formats)
    _check_choice(fields, "background", ("transparent", "opaque", "auto"))
    _check_choice(fields, "moderation", ("low", "auto"))
    _check_choice(fields, "input_fidelity", model.input_fidelities)
    _check_choice(fields, "complexity", ("low", "medium", "high") if model.complexity else ())
    if fields.get("safety_identifier") is not None and not isinstance(fields["safety_identifier"], str):
        raise _ApiError(
            400, "safety_identifier must be a string.", param="safety_identifier", code="invalid_type"
        )
    _check_format_options(fields)
    compression = fields.get("output_compression")
    if compression is not None and not 0 <= compression <= 100:
        raise _ApiError(400, "output_compression must be between 0 and 100.", param="output_compression")
    output_format = fields.get("output_format", "png")
    if compression is not None and compression < 100 and output_format == "png":
        raise _ApiError(
            400,
            "Compression less than 100 is not supported for PNG output format.",
            param="output_compression",
        )
    if fields.get("background") == "transparent":
        if not model.transparent:
            raise _ApiError(
                400,
                "Transparent background is not supported for this model.",
                param="background",
                type_="image_generation_user_error",
            )
        if output_format == "jpeg":
            raise _ApiError(400, "Transparent background requires png or webp output.", param="background")
    if fields.get("stream") in (True, "true") and not model.gpt:
        raise _ApiError(400, "Unknown parameter: 'stream'.", param="stream", code="unknown_parameter")
    if not 0 <= (fields.get("partial_images") or 0) <= 3:
        raise _ApiError(400, "partial_images must be between 0 and 3.", param="partial_images")


def _check_format_options(fields: dict[str, Any]) -> None:
    """gif: frame_count 2-16, frame_duration_ms; svg: the svg object, n=1; neither with compression."""
    output_format = fields.get("output_format", "png")
    for name, owner in (("frame_count", "gif"), ("frame_duration_ms", "gif"), ("svg", "svg")):
        if name in fields and output_format != owner:
            raise _ApiError(400, f"'{name}' is only supported with output_format={owner}.", param=name)
    if output_format in ("gif", "svg") and "output_compression" in fields:
        raise _ApiError(
            400, f"{output_format} output does not support output_compression.", param="output_compression"
        )
    count = fields.get("frame_count")
    if count is not None and not 2 <= count <= 16:
        raise _ApiError(400, "frame_count must be between 2 and 16.", param="frame_count")
    duration = fields.get("frame_duration_ms")
    if duration is not None and duration < 1:
        raise _ApiError(400, "frame_duration_ms must be positive.", param="frame_duration_ms")
    svg = fields.get("svg")
    if svg is not None and (not isinstance(svg, dict) or set(svg) - {"model", "reasoning"}):
        raise _ApiError(400, "svg must be an object with model and reasoning.", param="svg")
    if output_format == "svg" and (fields.get("n") or 1) != 1:
        raise _ApiError(400, "SVG generation requires n=1.", param="n")


def _check_choice(
    fields: dict[str, Any], name: str, allowed: tuple[str, ...] | frozenset[str], accepts: Any = None
) -> None:
    value = fields.get(name)
    if value is None or value in allowed or (accepts is not None and accepts(value)):
        return
    listed = ", ".join(f"'{item}'" for item in sorted(allowed)) or "none for this model"
    raise _ApiError(400, f"Invalid value: '{value}'. Supported values are: {listed}.", param=name)


def _check_files(
    operation: str, model: _Model, files: list[tuple[ReceivedFile, bytes]]
) -> tuple[int, int] | None:
    """Check the uploads the way OpenAI does; the first image's size, or None for generations."""
    if operation == "generate":
        return None
    images = [(info, data) for info, data in files if info.field in ("image", "image[]")]
    masks = [(info, data) for info, data in files if info.field == "mask"]
    markups = [(info, data) for info, data in files if info.field == "markup"]
    unknown = [info.field for info, _ in files if info.field not in _FILE_FIELDS]
    if unknown:
        raise _ApiError(
            400, f"Unknown parameter: '{unknown[0]}'.", param=unknown[0], code="unknown_parameter"
        )
    if not images:
        raise _ApiError(
            400, "Missing required parameter: 'image'.", param="image", code="missing_required_parameter"
        )
    limit = model.max_images if operation == "edit" else 1
    if len(images) > limit or len(masks) > 1:
        raise _ApiError(400, f"At most {limit} image(s) and one mask may be given.", param="image")
    sizes = [_check_upload(info, data, model) for info, data in images]
    if not model.gpt and sizes[0][0] != sizes[0][1]:
        raise _ApiError(400, "Uploaded image must be square.", param="image")
    for info, data in masks:
        if _check_upload(info, data, model, png_only=True) != sizes[0]:
            raise _ApiError(400, "The mask must have the same dimensions as the image.", param="mask")
    if markups and (not model.markup or masks):
        reason = "cannot be combined with mask" if masks else "is not supported for this model"
        raise _ApiError(400, f"markup {reason}.", param="markup")
    for info, data in markups:
        if _check_upload(info, data, model, png_only=True) != sizes[0]:
            raise _ApiError(400, "The markup must have the same dimensions as the image.", param="markup")
    return sizes[0]


def _check_upload(info: ReceivedFile, data: bytes, model: _Model, png_only: bool = False) -> tuple[int, int]:
    if info.content_type not in _UPLOAD_TYPES:
        raise _ApiError(
            400,
            f"Invalid file '{info.field}': unsupported mimetype ('{info.content_type}'). "
            "Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
            param=info.field,
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, size = (image.format or "").lower(), image.size
    except OSError:
        raise _ApiError(400, f"Invalid file '{info.field}': not an image.", param=info.field) from None
    if (png_only or not model.gpt) and fmt != "png":
        raise _ApiError(400, f"Invalid file '{info.field}': must be a PNG.", param=info.field)
    if not model.gpt and len(data) > 4 * 1024 * 1024:
        raise _ApiError(400, f"Invalid file '{info.field}': must be under 4 MB.", param=info.field)
    return size


def _failure(switches: Switches) -> _ApiError | None:
    match switches.failure:
        case "moderation_blocked":
            return _ApiError(
                400,
                "Your request was rejected by the safety system. If you believe this is an error, contact us.",
                code="moderation_blocked",
                type_="image_generation_user_error",
            )
        case "content_policy_violation":
            return _ApiError(
                400,
                "Your request was rejected as a result of our safety system. Your prompt may contain text that "
                "is not allowed by our safety system.",
                code="content_policy_violation",
            )
        case "rate_limited":
            seconds = switches.retry_after
            return _ApiError(
                429,
                "Rate limit reached for images per minute. Please try again later.",
                code="rate_limit_exceeded",
                type_="requests",
                headers={"retry-after": f"{seconds:g}", "retry-after-ms": str(int(seconds * 1000))},
            )
        case "server_error":
            return _ApiError(
                500, "The server had an error while processing your request. Sorry about that!", code=None,
                type_="server_error",
            )  # fmt: skip
    return None


async def _answer(
    request: web.Request, operation: str, fields: dict[str, Any], files: list[tuple[ReceivedFile, bytes]]
) -> web.StreamResponse:
    fields = dict(fields)
    model = _model(fields.get("model", "dall-e-2"), request.app["models"], request.app["shut_down"])
    _integers(fields, multipart=operation != "generate")
    _validate(operation, fields, model)
    first_size = _check_files(operation, model, files)
    failure = _failure(request.app["switches"])
    if failure is not None:
        raise failure

    size = fields.get("size") or "auto"
    width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
    fmt = fields.get("output_format", "png") if model.gpt else "png"
    transparent = fields.get("background") == "transparent"
    n = fields.get("n") or 1
    images = [_image(fields, width, height, fmt, transparent, index) for index in range(n)]
    body: dict[str, Any] = {"created": int(time.time()), "data": []}
    for data in images:
        item: dict[str, Any] = {}
        if model.gpt or fields.get("response_format") == "b64_json":
            item["b64_json"] = base64.b64encode(data).decode("ascii")
        else:
            name = f"{uuid.uuid4().hex}.png"
            request.app["files"][name] = data
            item["url"] = f"{request.scheme}://{request.host}/v1/files/{name}"
        if model.styles:
            item["revised_prompt"] = f"A detailed, vivid rendering of: {fields['prompt']}"
        body["data"].append(item)
    if model.gpt:
        quality = fields.get("quality", "auto")
        text_tokens = len(str(fields.get("prompt", "")).split())
        image_tokens = 0 if first_size is None else 323 * sum(1 for info, _ in files if info.field != "mask")
        output_tokens = 272 * n
        body.update(
            background="transparent" if transparent else "opaque",
            output_format=fmt,
            quality="medium" if quality == "auto" else quality,
            size=f"{width}x{height}",
            **_identity(fields),
            usage={
                "input_tokens": text_tokens + image_tokens,
                "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
                "output_tokens": output_tokens,
                "total_tokens": text_tokens + image_tokens + output_tokens,
            },
        )
    if fmt == "svg":
        svg = fields.get("svg") or {}
        body["svg_usage"] = {
            "input_tokens": 12,
            "model": svg.get("model", "gpt-svg-author"),
            "output_tokens": sum(len(data) // 4 for data in images),
            "reasoning_tokens": 64,
            "total_tokens": 76 + sum(len(data) // 4 for data in images),
        }
    if fields.get("stream") in (True, "true"):
        prefix = "image_generation" if operation == "generate" else "image_edit"
        return await _stream(request, prefix, body, int(fields.get("partial_images") or 0))
    return web.json_response(body, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})


async def _stream(
    request: web.Request, prefix: str, body: dict[str, Any], partials: int
) -> web.StreamResponse:
    """``body`` (the answer without ``stream``) as OpenAI streams it: previews, then each image."""
    switches: Switches = request.app["switches"]
    failure = switches.stream_failures.pop(0) if switches.stream_failures else None
    response, outcome = await stream_images(
        request, prefix, body, partials, delay=switches.stream_delay, failure=failure
    )
    request.app["streams"].append(outcome)
    return response


def _identity(fields: dict[str, Any]) -> dict[str, str]:
    """The effective safety identifier, echoed: a non-empty safety_identifier, else user."""
    effective = fields.get("safety_identifier") or fields.get("user")
    return {"safety_identifier": effective} if effective else {}


def _image(fields: dict[str, Any], width: int, height: int, fmt: str, transparent: bool, index: int) -> bytes:
    color = (30 + 20 * index, 120, 200)
    if fmt == "gif":
        duration = min(655_350, max(10, round(fields.get("frame_duration_ms", 200) / 10) * 10))
        return make_gif(width, height, fields.get("frame_count", 9), duration, color=color)
    if fmt == "svg":
        return make_svg(width, height, color=color)
    return make_image(width, height, fmt, color=color, alpha=transparent)
