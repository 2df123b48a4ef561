"""HTTP bodies → :class:`ImageRequest`.

JSON is decoded by msgspec; multipart by Starlette (python-multipart), whose uploads stay spooled files: an
image is never copied here, only its header is read (format, size) to refuse bad input before any upstream
call. Fields the unified API does not name are kept as ``extra`` for the providers that accept them.
"""

from __future__ import annotations

import binascii
import io
from contextlib import aclosing
from typing import Any

import msgspec
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from .capabilities import Operation
from .errors import InvalidRequest, UnsupportedMediaType
from .images import CONTENT_TYPES, INPUT_FORMATS, ImageProblem, inspect_image
from .provider import b64decode
from .request import KNOWN_FIELDS, ImageParams, ImageRequest, InputImage

IMAGE_FIELDS = ("image", "image[]")


class UploadParser(MultiPartParser):
    """Starlette's parser with uploads of up to 4 MB kept in memory: past its default of 1 MB, each chunk
    written to the spool costs a thread hop, and forwarding reads it back the same way. In memory, an upload
    is forwarded upstream as a zero-copy view. Larger uploads still spool to disk, which bounds memory."""

    spool_max_size = 4 * 1024 * 1024


MAX_IMAGES = 16


async def parse_request(
    request: Request, operation: Operation, default_model: str | None, max_pixels: int | None = None
) -> ImageRequest:
    """``max_pixels``: the most pixels an input image may declare (``server.max_input_pixels``)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or operation == "generate":
        # Generations are JSON whatever the header says (curl sends form-urlencoded unless told otherwise).
        return _from_json(await request.body(), operation, default_model, max_pixels)
    if content_type == "multipart/form-data" and operation != "generate":
        return await _from_multipart(request, operation, default_model, max_pixels)
    raise UnsupportedMediaType(
        f"Unsupported content type '{content_type or 'none'}'; send multipart/form-data (or application/json)."
    )


def _params(fields: dict[str, Any], strict: bool) -> ImageParams:
    try:
        return msgspec.convert(fields, ImageParams, strict=strict)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at `$.")
        param = where.rstrip("`").split(".")[0].split("[")[0] or None
        raise InvalidRequest(
            f"Invalid value for '{param}': {message}." if param else str(exc),
            param=param,
            code="invalid_value",
        ) from None


def _request(
    operation: Operation,
    fields: dict[str, Any],
    strict: bool,
    default_model: str | None,
    images: list[InputImage],
    mask: InputImage | None,
) -> ImageRequest:
    known = {key: value for key, value in fields.items() if key in KNOWN_FIELDS}
    extra = {key: value for key, value in fields.items() if key not in KNOWN_FIELDS}
    params = _params(known, strict)
    model = params.model or default_model
    if not model:
        raise InvalidRequest("You must provide a model.", param="model", code="missing_required_parameter")
    if operation != "generate" and not images:
        raise InvalidRequest(
            "An image is required: send it as the 'image' part (or 'image[]').",
            param="image",
            code="missing_required_parameter",
        )
    if mask is not None and images and (mask.width, mask.height) != (images[0].width, images[0].height):
        raise InvalidRequest(
            f"The mask is {mask.width}x{mask.height} but the image is {images[0].width}x{images[0].height}; "
            "they must be the same size.",
            param="mask",
        )
    return ImageRequest(
        operation=operation, params=params, model=model, extra=extra, images=images, mask=mask
    )


def _from_json(
    body: bytes, operation: Operation, default_model: str | None, max_pixels: int | None
) -> ImageRequest:
    try:
        fields = msgspec.json.decode(body) if body else None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON ({exc}).", code="invalid_json") from None
    except RecursionError:
        raise InvalidRequest("The request body's JSON is nested too deeply.", code="invalid_json") from None
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8 JSON.", code="invalid_json") from None
    if not isinstance(fields, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    images: list[InputImage] = []
    mask: InputImage | None = None
    if operation != "generate":
        references = fields.pop("images", None) or ([fields.pop("image")] if "image" in fields else [])
        if not isinstance(references, list):
            raise InvalidRequest("'images' must be a list of {\"image_url\": ...} objects.", param="images")
        images = [_data_url_image(ref, "images", max_pixels) for ref in references[: MAX_IMAGES + 1]]
        if "mask" in fields:
            mask = _data_url_image(fields.pop("mask"), "mask", max_pixels)
    return _request(operation, fields, True, default_model, images, mask)


def _data_url_image(reference: Any, param: str, max_pixels: int | None) -> InputImage:
    """An image given in JSON as ``{"image_url": "data:image/png;base64,..."}``."""
    url = reference.get("image_url") if isinstance(reference, dict) else None
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise InvalidRequest(
            'Images in a JSON body must be {"image_url": "data:<type>;base64,..."}; file ids '
            "and remote URLs are not supported by this gateway.",
            param=param,
        )
    try:
        data = b64decode(url.partition(";base64,")[2], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The image data URL is not valid base64.", param=param) from None
    return _input_image(io.BytesIO(data), "image", param, max_pixels)


async def _from_multipart(
    request: Request, operation: Operation, default_model: str | None, max_pixels: int | None
) -> ImageRequest:
    try:
        async with aclosing(request.stream()) as stream:
            parser = UploadParser(request.headers, stream, max_files=MAX_IMAGES + 2, max_fields=200)
            form = await parser.parse()
    except (MultiPartException, HTTPException, ValueError) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        raise InvalidRequest(
            f"The multipart body cannot be read: {detail}.", code="invalid_multipart"
        ) from None
    fields: dict[str, Any] = {}
    images: list[InputImage] = []
    mask: InputImage | None = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name in IMAGE_FIELDS:
                filename = value.filename or f"image-{len(images)}"
                images.append(_input_image(value.file, filename, "image", max_pixels, value.content_type))
            elif name == "mask":
                filename = value.filename or "mask.png"
                mask = _input_image(value.file, filename, "mask", max_pixels, value.content_type)
            else:
                raise InvalidRequest(
                    f"Unexpected file field '{name}'; files go in 'image', 'image[]' or 'mask'.", param=name
                )
        else:
            fields[name] = value
    if len(images) > MAX_IMAGES:
        raise InvalidRequest(f"At most {MAX_IMAGES} images can be sent; got {len(images)}.", param="image")
    return _request(operation, fields, False, default_model, images, mask)


def _input_image(
    file: Any, filename: str, param: str, max_pixels: int | None, content_type: str | None = None
) -> InputImage:
    """An upload, refused unless its header shows a complete PNG, JPEG or WebP within the pixel limit. Only
    the header is read: nothing is decoded here, so a decompression bomb costs nothing."""
    try:
        header = inspect_image(file, max_pixels)
    except ImageProblem as problem:
        hint = "" if problem.code == "image_too_large" else "; send a complete PNG, JPEG or WebP image"
        raise InvalidRequest(
            f"The file '{filename}' {problem}{hint}.", param=param, code=problem.code
        ) from None
    if header.format not in INPUT_FORMATS:
        raise InvalidRequest(
            f"The file '{filename}' is a {header.format.upper()} image; send PNG, JPEG or WebP.",
            param=param,
            code="invalid_image",
        )
    if content_type in (None, "", "application/octet-stream"):
        content_type = CONTENT_TYPES[header.format]
    return InputImage(
        file=file,
        filename=filename,
        content_type=content_type,
        format=header.format,
        width=header.width,
        height=header.height,
        has_alpha=header.has_alpha,
        param=param,
    )
