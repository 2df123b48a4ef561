"""A Stability AI v2beta Stable Image emulator: multipart only, Stability's checks, raw image bytes.

It takes ``POST /v2beta/stable-image/generate/{ultra,core,sd3}`` and ``/v2beta/stable-image/edit/{...}``,
checks what it receives the way Stability documents it (``Authorization: Bearer``, multipart/form-data even
without files, the fields each endpoint takes and their values, mode/strength consistency, a mask or an alpha
channel for inpainting), and answers with a real image whose dimensions follow the aspect ratio (or the input
image for edits): raw bytes with ``finish-reason`` and ``seed`` headers for ``Accept: image/*``, or JSON
``{image, finish_reason, seed}`` for ``Accept: application/json``. Bad input gets Stability's error shape
``{"id", "name", "errors": [...]}``. Every request is recorded in :attr:`StabilityEmulator.received`;
:attr:`StabilityEmulator.fail_with` names one of :data:`FAILURES` to answer instead, and
:attr:`StabilityEmulator.content_filtered` answers 200 with ``finish-reason: CONTENT_FILTERED``, and
:attr:`StabilityEmulator.not_an_image` answers the next good requests with 200 and a body that is text.
"""

from __future__ import annotations

import base64
import io
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from PIL import Image, UnidentifiedImageError

from tests.support.images import make_image

API_KEY = "sk-test-stability"

# What Stability produces for each aspect ratio (about one megapixel, sides multiples of 64).
RATIO_SIZES: dict[str, tuple[int, int]] = {
    "21:9": (1536, 640),
    "16:9": (1344, 768),
    "3:2": (1216, 832),
    "5:4": (1088, 896),
    "1:1": (1024, 1024),
    "4:5": (896, 1088),
    "2:3": (832, 1216),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}
SD3_MODELS = frozenset(
    {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-large-turbo", "sd3-medium"}
)
STYLE_PRESETS = frozenset(
    {
        "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
        "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic",
        "pixel-art", "tile-texture",
    }
)  # fmt: skip
MAX_SEED = 4_294_967_294
SIDES = ("left", "right", "up", "down")


def _failure(status: int, name: str, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"id": uuid.uuid4().hex, "name": name, "errors": [message]}, {}


# Each failure: (status, body, extra headers), in the shapes Stability answers with.
FAILURES: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "bad_request": _failure(400, "bad_request", "prompt: the prompt was rejected as malformed"),
    "unauthorized": _failure(401, "unauthorized", "authorization: invalid or missing header value"),
    "payment_required": _failure(
        402,
        "payment_required",
        "You lack sufficient credits to make this request. Please purchase more credits.",
    ),
    "content_moderation": _failure(
        403,
        "content_moderation",
        "Your request was flagged by our content moderation system, as a result your request was denied and "
        "you were not charged.",
    ),
    "rate_limit_exceeded": (
        429,
        {
            "id": uuid.uuid4().hex,
            "name": "rate_limit_exceeded",
            "errors": [
                "You have exceeded the rate limit of 150 requests within a 10 second period, and have been "
                "timed out for 60 seconds."
            ],
        },
        {"retry-after": "60"},
    ),
    "internal_error": _failure(500, "internal_error", "An unexpected server error has occurred."),
}


@dataclass(slots=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Received:
    """One request as the emulator saw it."""

    path: str
    headers: dict[str, str]
    content_type: str
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    repeated: list[str] = field(default_factory=list)  # names sent more than once


# --- field checks: each returns an error message ("field: problem") or None ---------------------------

Check = Callable[[str], str | None]


def _number(low: float, high: float, *, integer: bool = False) -> Check:
    def check(text: str) -> str | None:
        try:
            value = float(text)
        except ValueError:
            return f"must be a number, got '{text}'"
        if integer and not value.is_integer():
            return f"must be an integer, got '{text}'"
        return None if low <= value <= high else f"must be between {low:g} and {high:g}, got {text}"

    return check


def _one_of(allowed: frozenset[str] | tuple[str, ...]) -> Check:
    def check(text: str) -> str | None:
        return None if text in allowed else f"must be one of {', '.join(sorted(allowed))}, got '{text}'"

    return check


def _text(text: str) -> str | None:
    return None if 1 <= len(text) <= 10_000 else "must be between 1 and 10000 characters"


FORMATS = frozenset({"png", "jpeg", "webp"})
COMMON: dict[str, Check] = {
    "prompt": _text,
    "negative_prompt": _text,
    "seed": _number(0, MAX_SEED, integer=True),
    "style_preset": _one_of(STYLE_PRESETS),
    "output_format": _one_of(FORMATS),
}
GENERATE: dict[str, Check] = {
    **COMMON,
    "aspect_ratio": _one_of(tuple(RATIO_SIZES)),
    "strength": _number(0, 1),
}


@dataclass(frozen=True, slots=True)
class EndpointRules:
    fields: dict[str, Check]
    files: frozenset[str]
    required: frozenset[str]


ENDPOINTS: dict[str, EndpointRules] = {
    "generate/ultra": EndpointRules(GENERATE, frozenset({"image"}), frozenset({"prompt"})),
    "generate/core": EndpointRules(
        {k: v for k, v in GENERATE.items() if k != "strength"}, frozenset(), frozenset({"prompt"})
    ),
    "generate/sd3": EndpointRules(
        {
            **GENERATE,
            "model": _one_of(SD3_MODELS),
            "mode": _one_of(("text-to-image", "image-to-image")),
            "cfg_scale": _number(1, 10),
        },
        frozenset({"image"}),
        frozenset({"prompt"}),
    ),
    "edit/inpaint": EndpointRules(
        {**COMMON, "grow_mask": _number(0, 100)}, frozenset({"image", "mask"}), frozenset({"prompt", "image"})
    ),
    "edit/erase": EndpointRules(
        {"seed": COMMON["seed"], "output_format": COMMON["output_format"], "grow_mask": _number(0, 20)},
        frozenset({"image", "mask"}),
        frozenset({"image"}),
    ),
    "edit/outpaint": EndpointRules(
        {
            **{k: v for k, v in COMMON.items() if k != "negative_prompt"},
            **{side: _number(0, 2000, integer=True) for side in SIDES},
            "creativity": _number(0, 1),
        },
        frozenset({"image"}),
        frozenset({"image"}),
    ),
    "edit/search-and-replace": EndpointRules(
        {**COMMON, "search_prompt": _text, "grow_mask": _number(0, 20)},
        frozenset({"image"}),
        frozenset({"image", "prompt", "search_prompt"}),
    ),
    "edit/search-and-recolor": EndpointRules(
        {**COMMON, "select_prompt": _text, "grow_mask": _number(0, 20)},
        frozenset({"image"}),
        frozenset({"image", "prompt", "select_prompt"}),
    ),
    "edit/remove-background": EndpointRules(
        {"output_format": _one_of(frozenset({"png", "webp"}))}, frozenset({"image"}), frozenset({"image"})
    ),
}


def _open(data: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except (UnidentifiedImageError, OSError):
        return None


@dataclass
class StabilityEmulator:
    api_key: str = API_KEY
    received: list[Received] = field(default_factory=list)
    fail_with: str | None = None  # a key of FAILURES
    content_filtered: bool = False
    not_an_image: int = 0  # answer this many of the next good requests with 200 and a text body
    _seeds: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v2beta/stable-image/{kind:generate|edit}/{name}", self._handle)
        return app

    @staticmethod
    def _error(
        status: int, name: str, errors: list[str], headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {"id": uuid.uuid4().hex, "name": name, "errors": errors}
        return web.json_response(body, status=status, headers=headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = f"{request.match_info['kind']}/{request.match_info['name']}"
        record = Received(path=request.path, headers=dict(request.headers), content_type=request.content_type)
        self.received.append(record)
        rules = ENDPOINTS.get(endpoint)
        if rules is None:
            return self._error(404, "not_found", [f"{request.path}: no such endpoint"])
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "unauthorized", ["authorization: invalid or missing header value"])
        if request.content_type != "multipart/form-data":
            return self._error(400, "bad_request", ["content-type: must be multipart/form-data"])
        accept = request.headers.get("Accept", "image/*")
        accept = "image/*" if accept == "*/*" else accept  # Stability's default is image/*
        if accept not in ("image/*", "application/json"):
            return self._error(400, "bad_request", ["accept: must be image/* or application/json"])
        await self._read_form(request, record)
        if self.fail_with is not None:
            status, body, headers = FAILURES[self.fail_with]
            return web.json_response(body, status=status, headers=headers)
        errors = self._check(endpoint, rules, record)
        if errors:
            return self._error(400, "bad_request", errors)
        return self._answer(endpoint, record, accept)

    @staticmethod
    async def _read_form(request: web.Request, record: Received) -> None:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader), "nested multipart is not part of Stability's API"
            name = part.name or ""
            data = await part.read()
            if name in record.fields or name in record.files:
                record.repeated.append(name)
            if part.filename is not None:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                record.files[name] = UploadedFile(part.filename, content_type, bytes(data))
            else:
                record.fields[name] = bytes(data).decode()

    def _check(self, endpoint: str, rules: EndpointRules, record: Received) -> list[str]:
        fields, files = record.fields, record.files
        errors = [f"{name}: must be given only once" for name in record.repeated]
        errors += [f"{name}: unknown field" for name in fields if name not in rules.fields]
        errors += [f"{name}: unknown file field" for name in files if name not in rules.files]
        errors += [
            f"{name}: required" for name in sorted(rules.required) if name not in fields and name not in files
        ]
        for name, text in fields.items():
            check = rules.fields.get(name)
            problem = check(text) if check else None
            if problem:
                errors.append(f"{name}: {problem}")
        images = {name: _open(upload.data) for name, upload in files.items()}
        errors += [f"{name}: not a readable image" for name, image in images.items() if image is None]
        if errors:
            return errors
        image, mask = images.get("image"), images.get("mask")
        if endpoint == "generate/sd3":
            errors += self._check_mode(fields, image is not None)
        if endpoint == "generate/ultra" and (image is None) != ("strength" not in fields):
            errors.append("strength: required when image is given, and only then")
        if endpoint == "edit/inpaint" and mask is None and image is not None and "A" not in image.getbands():
            errors.append("mask: required when the image has no alpha channel")
        if mask is not None and image is not None and mask.size != image.size:
            errors.append(f"mask: must match the image's dimensions {image.size}, got {mask.size}")
        if endpoint == "edit/outpaint" and not any(float(fields.get(side, "0")) > 0 for side in SIDES):
            errors.append("left, right, up, down: at least one must be greater than 0")
        return errors

    @staticmethod
    def _check_mode(fields: dict[str, str], has_image: bool) -> list[str]:
        if fields.get("mode", "text-to-image") == "image-to-image":
            problems = [] if has_image else ["image: required in image-to-image mode"]
            problems += [] if "strength" in fields else ["strength: required in image-to-image mode"]
            problems += (
                ["aspect_ratio: not allowed in image-to-image mode"] if "aspect_ratio" in fields else []
            )
            return problems
        problems = ["image: only allowed in image-to-image mode"] if has_image else []
        return problems + (["strength: only allowed in image-to-image mode"] if "strength" in fields else [])

    def _answer(self, endpoint: str, record: Received, accept: str) -> web.Response:
        fields = record.fields
        fmt = fields.get("output_format", "png")
        width, height = self._output_size(endpoint, record)
        data = make_image(width, height, fmt, alpha=endpoint == "edit/remove-background")
        seed = int(fields.get("seed", "0")) or next(self._seeds)
        finish_reason = "CONTENT_FILTERED" if self.content_filtered else "SUCCESS"
        if accept == "application/json":
            body = {"image": base64.b64encode(data).decode(), "finish_reason": finish_reason, "seed": seed}
            return web.json_response(body)
        headers = {"finish-reason": finish_reason, "seed": str(seed)}
        if self.not_an_image > 0:
            self.not_an_image -= 1
            return web.Response(
                body=b"Service temporarily degraded", content_type=f"image/{fmt}", headers=headers
            )
        return web.Response(body=data, content_type=f"image/{fmt}", headers=headers)

    @staticmethod
    def _output_size(endpoint: str, record: Received) -> tuple[int, int]:
        upload = record.files.get("image")
        if upload is None:
            return RATIO_SIZES[record.fields.get("aspect_ratio", "1:1")]
        with Image.open(io.BytesIO(upload.data)) as image:
            width, height = image.size
        if endpoint == "edit/outpaint":
            fields = record.fields
            width += int(fields.get("left", "0")) + int(fields.get("right", "0"))
            height += int(fields.get("up", "0")) + int(fields.get("down", "0"))
        return width, height
