"""The OpenAPI document of the gateway's own endpoints, served at ``/openapi.json``.

Request schemas come from the same msgspec types the parser validates with, so the document cannot drift from
what the gateway accepts; every status an endpoint can answer is declared. CI fuzzes the served document
with schemathesis (tests/integration/test_openapi_fuzz.py): any 5xx or answer that disagrees with it fails.
"""

from __future__ import annotations

from typing import Any

import msgspec

from . import __version__
from .images import CONTENT_TYPES
from .request import ImageParams
from .state import StateStatus
from .store import StoreStatus


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


class ImageData(msgspec.Struct, omit_defaults=True):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(msgspec.Struct, omit_defaults=True):
    created: int
    data: list[ImageData]
    background: str | None = None
    output_format: str | None = None
    quality: str | None = None
    size: str | None = None
    usage: dict[str, Any] | None = None
    safety_identifier: str | None = None
    svg_usage: dict[str, Any] | None = None


class ImageReference(msgspec.Struct):
    image_url: str  # a data URL (data:image/png;base64,...) or an http(s) URL the gateway fetches


class Model(msgspec.Struct):
    id: str
    object: str
    created: int
    owned_by: str


class ModelList(msgspec.Struct):
    object: str
    data: list[Model]


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct, kw_only=True):
    """The details are shown to admins only (see ``clients/auth.py``)."""

    status: str
    routes: str | None = None
    models: int | None = None
    clients: int | None = None
    reload_error: str | None = None
    shared_state: StateStatus | None = None
    image_store: StoreStatus | None = None


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": ERROR_TEXTS[status], "content": _json("ErrorBody")}
        for status in statuses
    }


ERROR_TEXTS = {
    400: "Invalid request, or a parameter the routed model cannot honour (param names it)",
    401: "Missing or unknown API key (when routes.yaml has clients)",
    403: "The key may not use this model",
    404: "Unknown model, or unknown or expired hosted image",
    408: "The request body stopped arriving",
    413: "Body too large",
    415: "Unsupported content type",
    431: "Request line and headers too large",
    429: "Upstream rate limit (retry-after says when to retry)",
    500: "Unexpected failure (x-request-id identifies it in the logs)",
    502: "Upstream failure",
    503: "Account not configured, every upstream cooling down, or too many connections (retry-after)",
    504: "Upstream timeout, or the request's deadline passed",
}
IMAGE_ERRORS = _errors(400, 401, 403, 404, 408, 413, 415, 429, 431, 500, 502, 503, 504)
BINARY_FILE = {"type": "string", "format": "binary"}
BINARY_FILES = {"type": "array", "items": BINARY_FILE}


def _form(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """ImageParams plus the endpoint's own fields, with what the endpoint requires."""
    return {
        "allOf": [_ref("ImageParams"), {"type": "object", "required": required, "properties": properties}]
    }


# stream=true: server-sent events (docs/streaming.md), each `event: <type>` and `data: <JSON>`.
EVENT_STREAM = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "With stream=true: image_generation.* (edits: image_edit.*) partial_image and "
            "completed events, keep-alive comments, and an error event if the answer fails after it started",
        }
    }
}


def _image_operation(summary: str, content: dict[str, Any], *, streams: bool = True) -> dict[str, Any]:
    answer = {**_json("ImagesResponse"), **(EVENT_STREAM if streams else {})}
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": content},
            "responses": {"200": {"description": "Images", "content": answer}, **IMAGE_ERRORS},
        }
    }


def _get(summary: str, schema: str, *errors: int) -> dict[str, Any]:
    ok = {"200": {"description": summary, "content": _json(schema)}}
    return {"get": {"summary": summary, "responses": {**ok, **_errors(*errors)}}}


def openapi_document(models: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document; ``models``, when given, are the model ids the running route table serves (the only part
    that changes: the rest is built once, when this module is imported)."""
    if not models:
        return DOCUMENT
    schemas = DOCUMENT["components"]["schemas"]
    params = schemas["ImageParams"]
    model = {"anyOf": [{"enum": list(models)}, {"type": "null"}], "default": None}
    with_models = {**params, "properties": {**params["properties"], "model": model}}
    return {
        **DOCUMENT,
        "components": {**DOCUMENT["components"], "schemas": {**schemas, "ImageParams": with_models}},
    }


def _document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [ImageParams, ImagesResponse, ErrorBody, ImageReference, ModelList, Health, Readiness],
        ref_template="#/components/schemas/{name}",
    )
    params = components["ImageParams"]
    # Fields the unified API does not name are accepted and handed to the providers that take them
    # (a model that does not answers 400 naming the field).
    del params["additionalProperties"]
    references = {"type": "array", "items": _ref("ImageReference"), "minItems": 1}
    edit_json = _form(
        ["prompt", "images"],
        {"images": references, "mask": _ref("ImageReference"), "markup": _ref("ImageReference")},
    )
    edit_multipart = _form(
        ["prompt"],
        {"image": BINARY_FILES, "image[]": BINARY_FILES, "mask": BINARY_FILE, "markup": BINARY_FILE},
    )
    # One of `image` and `image[]` is required in an edit; OpenAPI cannot say "one of two fields", so the
    # document requires `image` (the SDK's spelling for one image) and the gateway also takes `image[]`.
    edit_multipart["allOf"][1]["required"].append("image")
    variation = _form(["image"], {"image": BINARY_FILE})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imagegate",
            "version": __version__,
            "description": "OpenAI-compatible image generation and editing gateway.",
        },
        "paths": {
            "/v1/images/generations": _image_operation(
                "Create images from a prompt", {"application/json": {"schema": _form(["prompt"], {})}}
            ),
            "/v1/images/edits": _image_operation(
                "Edit images",
                {
                    "multipart/form-data": {"schema": edit_multipart},
                    "application/json": {"schema": edit_json},
                },
            ),
            "/v1/images/variations": _image_operation(
                "Create variations of an image", {"multipart/form-data": {"schema": variation}}, streams=False
            ),
            "/v1/models": _get("The models this gateway routes", "ModelList", 401),
            "/v1/models/{model}": {
                "get": {
                    **_get("One model this gateway routes", "Model", 401, 404)["get"],
                    "parameters": [
                        {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                }
            },
            "/v1/images/hosted/{name}": {
                "get": {
                    "summary": "An image the gateway hosts for a url response",
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "The image",
                            "content": {
                                content_type: {"schema": BINARY_FILE}
                                for content_type in CONTENT_TYPES.values()
                            },
                        },
                        **_errors(404),
                    },
                }
            },
            "/healthz": _get("Alive", "Health"),
            "/readyz": _get("Route table loaded (and the last reload error, if any)", "Readiness"),
        },
        "components": {"schemas": components},
    }


DOCUMENT = _document()  # read only: every answer shares it
