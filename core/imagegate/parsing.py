"""HTTP bodies → :class:`ImageRequest`.

JSON is decoded by msgspec; multipart by Starlette (python-multipart), whose uploads stay spooled files: an
image is never copied here, only its header is read (format, size) to refuse bad input before any upstream
call. Fields the unified API does not name are kept as ``extra`` for the providers that accept them.
"""

from __future__ import annotations

import asyncio
import binascii
import io
import re
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

import msgspec
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from .capabilities import OUTPUT_FORMATS, Operation
from .errors import InvalidRequest, UnsupportedMediaType
from .images import CONTENT_TYPES, INPUT_FORMATS, ImageProblem, inspect_image
from .provider import b64decode
from .request import KNOWN_FIELDS, ImageParams, ImageRequest, InputImage

IMAGE_FIELDS = ("image", "image[]")
FILE_FIELDS = (*IMAGE_FIELDS, "mask", "markup")
DELIVERIES = ("url", "b64_json")

# Fetches an image a JSON body references by http(s) URL, under the gateway's download limits.
FetchImage = Callable[[str, str], Awaitable[bytes]]  # (url, the param it came in)


class UploadParser(MultiPartParser):
    """Starlette's parser with uploads of up to 4 MB kept in memory: past its default of 1 MB, each chunk
    written to the spool costs a thread hop, and forwarding reads it back the same way. In memory, an upload
    is forwarded upstream as a zero-copy view. Larger uploads still spool to disk, which bounds memory."""

    spool_max_size = 4 * 1024 * 1024

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is None:
            super().on_part_data(data, start, end)
        else:  # a view of the received chunk, copied once, into the spool (Starlette copies a slice first)
            self._file_parts_to_write.append((self._current_part, memoryview(data)[start:end]))  # type: ignore[arg-type]


MAX_IMAGES = 16


async def parse_request(
    request: Request,
    operation: Operation,
    default_model: str | None,
    max_pixels: int | None = None,
    fetch_image: FetchImage | None = None,
) -> ImageRequest:
    """``max_pixels``: the most pixels an input image may declare (``server.max_input_pixels``);
    ``fetch_image``: how images a JSON body references by http(s) URL are fetched (none: refused)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or operation == "generate":
        # Generations are JSON whatever the header says (curl sends form-urlencoded unless told otherwise).
        return await _from_json(await request.body(), operation, default_model, max_pixels, fetch_image)
    if content_type == "multipart/form-data" and operation != "generate":
        return await _from_multipart(request, operation, default_model, max_pixels)
    raise UnsupportedMediaType(
        f"Unsupported content type '{content_type or 'none'}'; send multipart/form-data (or application/json)."
    )


def _params(fields: dict[str, Any], strict: bool) -> ImageParams:
    try:
        return settle_spellings(msgspec.convert(fields, ImageParams, strict=strict))
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at `$.")
        param = where.rstrip("`").split(".")[0].split("[")[0] or None
        raise InvalidRequest(
            f"Invalid value for '{param}': {message}." if param else str(exc),
            param=param,
            code="invalid_value",
        ) from None


def settle_spellings(params: ImageParams) -> ImageParams:
    """The seed API's spellings, settled: ``response_format`` png/jpeg/webp/gif/svg is an ``output_format``
    delivered as base64, and ``output_format`` url/b64_json is a ``response_format``; the same concept given
    twice with different values is a 400."""
    output_format, response_format = params.output_format, params.response_format
    if output_format not in DELIVERIES and response_format not in OUTPUT_FORMATS:
        return params
    format_in_response = response_format if response_format in OUTPUT_FORMATS else None
    delivery_in_output = output_format if output_format in DELIVERIES else None
    fmt = None if delivery_in_output else output_format
    delivery = None if format_in_response else response_format
    if format_in_response and fmt and format_in_response != fmt:
        raise InvalidRequest(
            f"response_format='{format_in_response}' asks for {format_in_response} images but "
            f"output_format='{fmt}' asks for {fmt}; send the format once, as output_format.",
            param="response_format",
            code="conflicting_parameters",
        )
    if delivery_in_output and delivery and delivery_in_output != delivery:
        raise InvalidRequest(
            f"output_format='{delivery_in_output}' asks for {delivery_in_output} delivery but "
            f"response_format='{delivery}' asks for {delivery}; send the delivery once, as response_format.",
            param="output_format",
            code="conflicting_parameters",
        )
    return msgspec.structs.replace(
        params,
        output_format=fmt or format_in_response,
        response_format=delivery or delivery_in_output or "b64_json",
    )


def _request(
    operation: Operation,
    fields: dict[str, Any],
    strict: bool,
    default_model: str | None,
    images: list[InputImage],
    mask: InputImage | None,
    markup: InputImage | None = None,
) -> ImageRequest:
    known = {key: value for key, value in fields.items() if key in KNOWN_FIELDS}
    extra = {key: value for key, value in fields.items() if key not in KNOWN_FIELDS}
    params = _params(known, strict)
    model = params.model or default_model
    if not model:
        raise InvalidRequest("You must provide a model.", param="model", code="missing_required_parameter")
    if operation != "generate" and not images:
        how, param = (
            ("""in 'images', as [{"image_url": "data:..." or "https://..."}]""", "images")
            if strict  # a JSON body
            else ("as the 'image' part (or 'image[]')", "image")
        )
        raise InvalidRequest(
            f"An image is required: send it {how}.", param=param, code="missing_required_parameter"
        )
    if mask is not None and images and (mask.width, mask.height) != (images[0].width, images[0].height):
        raise InvalidRequest(
            f"The mask is {mask.width}x{mask.height} but the image is {images[0].width}x{images[0].height}; "
            "they must be the same size.",
            param="mask",
        )
    if markup is not None:
        _check_markup(markup, mask, images)
    return ImageRequest(
        operation=operation,
        params=params,
        model=model,
        extra=extra,
        images=images,
        mask=mask,
        markup=markup,
    )


def _check_markup(markup: InputImage, mask: InputImage | None, images: list[InputImage]) -> None:
    if mask is not None:
        raise InvalidRequest(
            "markup cannot be combined with mask; send one of them.",
            param="markup",
            code="conflicting_parameters",
        )
    if markup.format != "png" or not markup.has_alpha:
        raise InvalidRequest(
            "markup must be a PNG with transparency (the guidance drawn over transparent pixels).",
            param="markup",
            code="invalid_image",
        )
    first = images[0]
    # The upstream compares sizes after EXIF orientation, which a header read does not apply: either way round.
    if (markup.width, markup.height) not in ((first.width, first.height), (first.height, first.width)):
        raise InvalidRequest(
            f"The markup is {markup.width}x{markup.height} but the first image is {first.width}x{first.height}; "
            "they must be the same size.",
            param="markup",
        )


async def _from_json(
    body: bytes,
    operation: Operation,
    default_model: str | None,
    max_pixels: int | None,
    fetch_image: FetchImage | None,
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
    markup: InputImage | None = None
    if operation != "generate":
        references = fields.pop("images", None) or ([fields.pop("image")] if "image" in fields else [])
        if not isinstance(references, list):
            raise InvalidRequest("'images' must be a list of {\"image_url\": ...} objects.", param="images")
        if len(references) > MAX_IMAGES:
            raise InvalidRequest(
                f"At most {MAX_IMAGES} images can be sent; got {len(references)}.", param="images"
            )
        named = [("images", ref) for ref in references]
        named += [(name, fields.pop(name)) for name in ("mask", "markup") if name in fields]
        loaded = await asyncio.gather(
            *(_referenced_image(ref, name, max_pixels, fetch_image) for name, ref in named)
        )
        images = loaded[: len(references)]
        extras = dict(
            zip((name for name, _ in named[len(references) :]), loaded[len(references) :], strict=True)
        )
        mask, markup = extras.get("mask"), extras.get("markup")
    return _request(operation, fields, True, default_model, images, mask, markup)


async def _referenced_image(
    reference: Any, param: str, max_pixels: int | None, fetch_image: FetchImage | None
) -> InputImage:
    """An image given in JSON as ``{"image_url": "data:image/png;base64,..."}`` or ``{"image_url":
    "https://..."}`` (fetched under the download limits). ``{"file_id": ...}`` names a file in an OpenAI
    account's storage, which this gateway has no access to: refused."""
    if isinstance(reference, dict) and "file_id" in reference and "image_url" not in reference:
        raise InvalidRequest(
            "File ids name files stored in an OpenAI account, which this gateway cannot read; send the image "
            'as {"image_url": "data:image/png;base64,..."}, as {"image_url": "https://..."}, or as a multipart '
            "upload.",
            param=param,
            code="unsupported_image_reference",
        )
    url = reference.get("image_url") if isinstance(reference, dict) else None
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        try:
            data = b64decode(url.partition(";base64,")[2], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("The image data URL is not valid base64.", param=param) from None
        return _input_image(io.BytesIO(data), "image", param, max_pixels)
    if isinstance(url, str) and re.match(r"https?://", url, re.IGNORECASE) and fetch_image is not None:
        return _input_image(
            io.BytesIO(await fetch_image(url, param)), url.rsplit("/", 1)[-1] or "image", param, max_pixels
        )
    raise InvalidRequest(
        'Images in a JSON body are {"image_url": "data:<type>;base64,..."} or {"image_url": "https://..."}.',
        param=param,
    )


async def _from_multipart(
    request: Request, operation: Operation, default_model: str | None, max_pixels: int | None
) -> ImageRequest:
    try:
        async with aclosing(request.stream()) as stream:
            parser = UploadParser(request.headers, stream, max_files=MAX_IMAGES + 3, max_fields=200)
            form = await parser.parse()
    except (MultiPartException, HTTPException, ValueError) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        raise InvalidRequest(
            f"The multipart body cannot be read: {detail}.", code="invalid_multipart"
        ) from None
    fields: dict[str, Any] = {}
    images: list[InputImage] = []
    files: dict[str, InputImage] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name in IMAGE_FIELDS:
                filename = value.filename or f"image-{len(images)}"
                images.append(_input_image(value.file, filename, "image", max_pixels, value.content_type))
            elif name in FILE_FIELDS:
                filename = value.filename or f"{name}.png"
                files[name] = _input_image(value.file, filename, name, max_pixels, value.content_type)
            else:
                raise InvalidRequest(
                    f"Unexpected file field '{name}'; files go in 'image', 'image[]', 'mask' or 'markup'.",
                    param=name,
                )
        else:
            _set_form_field(fields, name, value)
    if len(images) > MAX_IMAGES:
        raise InvalidRequest(f"At most {MAX_IMAGES} images can be sent; got {len(images)}.", param="image")
    return _request(operation, fields, False, default_model, images, files.get("mask"), files.get("markup"))


_FORM_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def _set_form_field(fields: dict[str, Any], name: str, value: str) -> None:
    """A multipart text field, with the SDK's spellings of structure undone: ``svg[model]`` and
    ``svg[reasoning][effort]`` are nested objects, repeated ``tags[]`` a list."""
    match = _FORM_KEY.fullmatch(name)
    if match is None or not match.group(2):
        fields[name] = value
        return
    keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
    container: Any = fields
    for depth, key in enumerate(keys[:-1]):
        following = keys[depth + 1]
        if following == "" and depth + 2 < len(keys):
            raise InvalidRequest(
                f"The form field '{name}' nests a list in a way this gateway does not read.", param=keys[0]
            )
        child = container.setdefault(key, [] if following == "" else {})
        if not isinstance(child, list if following == "" else dict):
            raise InvalidRequest(
                f"The form field '{keys[0]}' is given both as a value and as a structure.", param=keys[0]
            )
        container = child
    if isinstance(container, list):
        container.append(value)
    else:
        container[keys[-1]] = value


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
