"""The OpenAPI document of the gateway's own endpoints, served at ``/openapi.json``.

Request schemas come from the same msgspec types the parser validates with, so the document cannot drift from
what the gateway accepts."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from . import __version__
from .request import ImageParams


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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


ERRORS = {
    str(status): {"description": text, "content": _json("ErrorBody")}
    for status, text in (
        (400, "Invalid request"),
        (404, "Unknown model"),
        (413, "Body too large"),
        (429, "Upstream rate limit"),
        (502, "Upstream failure"),
        (503, "Account not configured"),
        (504, "Upstream timeout"),
    )
}


def _image_operation(summary: str, multipart: bool) -> dict[str, Any]:
    if multipart:
        form = {
            "allOf": [
                _ref("ImageParams"),
                {
                    "type": "object",
                    "properties": {
                        "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "image[]": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "mask": {"type": "string", "format": "binary"},
                    },
                },
            ]
        }
        content = {"multipart/form-data": {"schema": form}, **_json("ImageParams")}
    else:
        content = _json("ImageParams")
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": content},
            "responses": {"200": {"description": "Images", "content": _json("ImagesResponse")}, **ERRORS},
        }
    }


@cache
def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [ImageParams, ImagesResponse, ErrorBody], ref_template="#/components/schemas/{name}"
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imagegate",
            "version": __version__,
            "description": "OpenAI-compatible image generation and editing gateway.",
        },
        "paths": {
            "/v1/images/generations": _image_operation("Create images from a prompt", multipart=False),
            "/v1/images/edits": _image_operation("Edit images", multipart=True),
            "/v1/images/variations": _image_operation("Create variations of an image", multipart=True),
            "/v1/models": {
                "get": {
                    "summary": "The models this gateway routes",
                    "responses": {"200": {"description": "OpenAI model list"}},
                }
            },
            "/v1/images/hosted/{name}": {
                "get": {
                    "summary": "An image the gateway hosts for a url response",
                    "responses": {
                        "200": {"description": "The image"},
                        "404": {"description": "Unknown or expired"},
                    },
                }
            },
            "/healthz": {"get": {"summary": "Alive", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {
                "get": {"summary": "Route table loaded", "responses": {"200": {"description": "ready"}}}
            },
        },
        "components": {"schemas": components},
    }
