"""An Azure OpenAI images emulator: deployment and v1 URLs, Azure's auth, filter results and error shapes.

It checks what it receives the way Azure does (``api-key`` or ``Authorization: Bearer``, ``api-version`` on
deployment URLs, no body ``model`` on deployment URLs, the deployment's model accepting each parameter),
answers with real image bytes and per-image ``content_filter_results``/``prompt_filter_results``, records
every request in :attr:`AzureEmulator.received`, and answers one of :data:`FAILURES` when
:attr:`AzureEmulator.fail_with` names it. Every answer carries an ``apim-request-id``.
"""

from __future__ import annotations

import base64
import io
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from tests.emulators.image_streams import stream_images
from tests.support.images import make_image

API_KEY = "test-azure-key"
GPT_IMAGE_API_VERSION = "2025-04-01-preview"  # the first api-version with gpt-image-1 and image edits
DEFAULT_DEPLOYMENTS = {"gpt-image": "gpt-image-1", "dalle3": "dall-e-3"}

SAFE_RESULTS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
SAFE_PROMPT_RESULTS = {
    **SAFE_RESULTS,
    "profanity": {"detected": False, "filtered": False},
    "jailbreak": {"detected": False, "filtered": False},
}

# Each failure: (status, body, extra headers). The content-filter shapes are the ones Azure documents or is
# seen to send; `inner_error`/`innererror` carry a code that is not itself a content-filter code, so only the
# ResponsibleAIPolicyViolation inner error marks them.
FAILURES: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "content_policy_violation": (
        400,
        {
            "error": {
                "code": "content_policy_violation",
                "message": "Your request was rejected as a result of our safety system.",
                "type": "invalid_request_error",
                "param": None,
                "inner_error": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_results": {
                        **SAFE_RESULTS,
                        "sexual": {"filtered": True, "severity": "high"},
                        "violence": {"filtered": False, "severity": "low"},
                    },
                },
            }
        },
        {},
    ),
    "contentFilter": (
        400,
        {
            "created": 1698435368,
            "error": {
                "code": "contentFilter",
                "message": "Your task failed as a result of our safety system.",
            },
        },
        {},
    ),
    "contentFilter_output": (
        400,
        {
            "created": 1698435368,
            "error": {
                "code": "contentFilter",
                "message": "Generated image was filtered as a result of our safety system.",
            },
        },
        {},
    ),
    "content_filter": (
        400,
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                "management policy. Please modify your prompt and retry.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        **SAFE_PROMPT_RESULTS,
                        "jailbreak": {"detected": True, "filtered": True},
                    },
                },
            }
        },
        {},
    ),
    "inner_error": (
        400,
        {
            "error": {
                "code": "BadRequest",
                "message": "The request was blocked.",
                "inner_error": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_results": {
                        **SAFE_RESULTS,
                        "violence": {"filtered": True, "severity": "medium"},
                    },
                },
            }
        },
        {},
    ),
    "innererror": (
        400,
        {
            "error": {
                "code": "invalid_request_error",
                "message": "The request was blocked by a custom blocklist.",
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_results": {
                        "custom_blocklists": {
                            "filtered": True,
                            "details": [{"id": "brand-names", "filtered": True}],
                        },
                    },
                },
            }
        },
        {},
    ),
    "rate_limit": (
        429,
        {
            "error": {
                "code": "429",
                "message": "Requests to the ImageGenerations_Create Operation under Azure OpenAI API version "
                f"{GPT_IMAGE_API_VERSION} have exceeded call rate limit of your current OpenAI S0 pricing tier. "
                "Please retry after 7 seconds.",
            }
        },
        {"Retry-After": "7", "retry-after-ms": "6500"},
    ),
}
CONTENT_FILTER_SHAPES = tuple(name for name in FAILURES if name != "rate_limit")


@dataclass
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Received:
    """One request as the emulator saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    fields: dict[str, str] = field(default_factory=dict)  # multipart text fields
    files: list[tuple[str, Upload]] = field(default_factory=list)  # multipart files in order: (name, upload)


class AzureError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": {"code": code, "message": message, **extra}}


class AzureEmulator:
    """State and switches of one emulated Azure OpenAI resource; :meth:`app` builds the aiohttp app."""

    def __init__(
        self,
        *,
        deployments: dict[str, str] | None = None,
        api_key: str = API_KEY,
        bearer_tokens: frozenset[str] = frozenset(),
    ) -> None:
        self.deployments = dict(DEFAULT_DEPLOYMENTS if deployments is None else deployments)  # name -> model
        self.api_key = api_key
        self.bearer_tokens = bearer_tokens
        self.fail_with: str | None = None  # a key of FAILURES
        self.received: list[Received] = []
        self.blobs: dict[str, bytes] = {}
        self._request_ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/openai/deployments/{deployment}/images/{operation}", self._deployment_url)
        app.router.add_post("/openai/v1/images/{operation}", self._v1_url)
        app.router.add_get("/blobs/{name}", self._blob)
        return app

    # --- routes --------------------------------------------------------------------------------------

    async def _deployment_url(self, request: web.Request) -> web.Response:
        return await self._answer(request, request.match_info["deployment"])

    async def _v1_url(self, request: web.Request) -> web.Response:
        return await self._answer(request, None)

    async def _blob(self, request: web.Request) -> web.Response:
        data = self.blobs.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="BlobNotFound")
        return web.Response(body=data, content_type="image/png")

    async def _answer(self, request: web.Request, url_deployment: str | None) -> web.StreamResponse:
        request_id = f"00000000-0000-4000-8000-{next(self._request_ids):012d}"
        received = await _record(request)
        self.received.append(received)
        try:
            status, body, headers = self._handle(request, received, url_deployment)
        except AzureError as error:
            status, body, headers = error.status, error.body, {}
        params = received.json if received.json is not None else received.fields
        if status == 200 and params.get("stream") in (True, "true"):
            prefix = "image_generation" if request.match_info["operation"] == "generations" else "image_edit"
            response, _ = await stream_images(request, prefix, body, int(params.get("partial_images") or 0))
            return response
        return web.json_response(body, status=status, headers={**headers, "apim-request-id": request_id})

    # --- behaviour -----------------------------------------------------------------------------------

    def _handle(
        self, request: web.Request, received: Received, url_deployment: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        self._check_auth(received.headers)
        params = dict(received.json if received.json is not None else received.fields)
        api_version = received.query.get("api-version")
        if url_deployment is not None:
            if not api_version:
                raise AzureError(
                    404, "404", "Resource not found: the api-version query parameter is required on this URL."
                )
            if "model" in params:
                raise AzureError(
                    400,
                    "invalid_request_error",
                    f"The model `{params['model']}` does not exist or you do not have access to it.",
                    param="model",
                )
            deployment = url_deployment
        else:
            deployment = params.pop("model", None)
            if not deployment:
                raise AzureError(
                    400, "invalid_request_error", "model is required on /openai/v1.", param="model"
                )
        model = self.deployments.get(deployment)
        if model is None:
            raise AzureError(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the deployment within the "
                "last 5 minutes, please wait a moment and try again.",
            )
        operation = request.match_info["operation"]
        if (
            model.startswith("gpt-image")
            and url_deployment is not None
            and api_version < GPT_IMAGE_API_VERSION
        ):
            raise AzureError(400, "BadRequest", f"{model} is not supported in api-version {api_version}.")
        if self.fail_with is not None:
            return FAILURES[self.fail_with]
        if operation == "generations":
            return 200, self._generate(model, params, request), {}
        if operation == "edits":
            return 200, self._edit(model, params, received.files), {}
        raise AzureError(404, "404", "Resource not found")

    def _check_auth(self, headers: dict[str, str]) -> None:
        key = headers.get("api-key")
        bearer = headers.get("authorization", "")
        if key is not None and key == self.api_key:
            return
        if bearer.startswith("Bearer ") and bearer.removeprefix("Bearer ") in self.bearer_tokens:
            return
        raise AzureError(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
            "key for an active subscription and use a correct regional API endpoint for your resource.",
        )

    def _generate(self, model: str, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        _require(params, "prompt")
        if model == "dall-e-3":
            return self._dall_e_3(params, request)
        return self._gpt_image(params, default_size=(1024, 1024))

    def _edit(self, model: str, params: dict[str, Any], files: list[tuple[str, Upload]]) -> dict[str, Any]:
        if not model.startswith("gpt-image"):
            raise AzureError(
                400, "OperationNotSupported", f"The images edits operation does not work with {model}."
            )
        _require(params, "prompt")
        images = [upload for name, upload in files if name in ("image", "image[]")]
        masks = [upload for name, upload in files if name == "mask"]
        if not images:
            raise AzureError(400, "invalid_request_error", "image is required.", param="image")
        if len(masks) > 1:
            raise AzureError(400, "invalid_request_error", "Only one mask is allowed.", param="mask")
        first = _open(images[0].data, "image")
        for upload in images:
            _open(upload.data, "image")
        if masks:
            mask = _open(masks[0].data, "mask")
            if mask.format != "PNG":
                raise AzureError(400, "invalid_request_error", "The mask must be a PNG file.", param="mask")
            if mask.size != first.size:
                raise AzureError(
                    400,
                    "invalid_request_error",
                    "The mask must have the same dimensions as the image.",
                    param="mask",
                )
        return self._gpt_image(params, default_size=first.size)

    def _gpt_image(self, params: dict[str, Any], default_size: tuple[int, int]) -> dict[str, Any]:
        for name in ("response_format", "style", "moderation"):
            if name in params:
                raise AzureError(
                    400,
                    "unknown_parameter",
                    f"Unknown parameter: '{name}'.",
                    param=name,
                    type="invalid_request_error",
                )
        output_format = params.get("output_format", "png")
        if output_format not in ("png", "jpeg"):
            raise AzureError(
                400,
                "invalid_value",
                f"Invalid value: '{output_format}'. Supported values are: 'png' and 'jpeg'.",
                param="output_format",
            )
        size = params.get("size", "auto")
        width, height = default_size if size == "auto" else (int(side) for side in size.split("x"))
        background = params.get("background", "auto")
        transparent = background == "transparent"
        n = int(params.get("n", 1))
        data = [
            {
                "b64_json": base64.b64encode(
                    make_image(width, height, output_format, alpha=transparent)
                ).decode(),
                "content_filter_results": SAFE_RESULTS,
                "prompt_filter_results": SAFE_PROMPT_RESULTS,
            }
            for _ in range(n)
        ]
        return {
            "created": int(time.time()),
            "data": data,
            "background": "transparent" if transparent else "opaque",
            "output_format": output_format,
            "quality": params.get("quality", "high"),
            "size": f"{width}x{height}",
            "usage": {
                "input_tokens": 50,
                "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
                "output_tokens": 4160 * n,
                "total_tokens": 50 + 4160 * n,
            },
        }

    def _dall_e_3(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        for name in ("output_format", "output_compression", "background", "moderation", "input_fidelity"):
            if name in params:
                raise AzureError(400, "unknown_parameter", f"Unknown parameter: '{name}'.", param=name)
        if int(params.get("n", 1)) != 1:
            raise AzureError(400, "invalid_value", "dall-e-3 only supports n=1.", param="n")
        size = params.get("size", "1024x1024")
        if size not in ("1024x1024", "1792x1024", "1024x1792"):
            raise AzureError(400, "invalid_value", f"Invalid size {size}.", param="size")
        width, height = (int(side) for side in size.split("x"))
        image = make_image(width, height, "png")
        item: dict[str, Any] = {
            "revised_prompt": f"A detailed rendering of: {params['prompt']}",
            "content_filter_results": SAFE_RESULTS,
            "prompt_filter_results": SAFE_PROMPT_RESULTS,
        }
        if params.get("response_format", "url") == "b64_json":
            item["b64_json"] = base64.b64encode(image).decode()
        else:
            name = f"generated_{len(self.blobs):02d}.png"
            self.blobs[name] = image
            item["url"] = f"{request.url.origin()}/blobs/{name}?se=2030-01-01T00%3A00%3A00Z&sig=emulated"
        return {"created": int(time.time()), "data": [item]}


async def _record(request: web.Request) -> Received:
    received = Received(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers={key.lower(): value for key, value in request.headers.items()},
    )
    if request.content_type == "application/json":
        received.json = await request.json()
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if part.filename is None:
                received.fields[part.name] = await part.text()
            else:
                upload = Upload(part.filename, part.headers.get("Content-Type"), await part.read())
                received.files.append((part.name, upload))
    return received


def _require(params: dict[str, Any], name: str) -> None:
    if not params.get(name):
        raise AzureError(400, "invalid_request_error", f"Missing required parameter: '{name}'.", param=name)


def _open(data: bytes, param: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image
    except OSError:
        raise AzureError(
            400, "invalid_image_format", f"The {param} is not a valid image.", param=param
        ) from None
