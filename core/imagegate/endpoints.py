"""The HTTP endpoints. Each is thin: parse, hand to the gateway, answer with one body or a stream of events."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .accesslog import RequestRecord, record_for
from .capabilities import Operation
from .clients.auth import ADMIN_STATE_KEY, CLIENT_STATE_KEY
from .clients.registry import Client
from .errors import ModelNotFound, NotFound
from .gateway import Gateway
from .openapi import openapi_document
from .parsing import parse_request
from .stream.response import EventStream
from .verbatim import json_pieces


class JSONBytes(Response):
    """A JSON answer, written as :func:`imagegate.verbatim.json_pieces` cuts it: an upstream's image literals
    go from the upstream's buffer to the socket, never copied into one new body."""

    media_type = "application/json"

    def __init__(self, content: Any, headers: Mapping[str, str] | None = None) -> None:
        self.pieces = json_pieces(content, ENCODER)
        length = sum(len(piece) for piece in self.pieces)
        super().__init__(None, headers={**(headers or {}), "content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        *pieces, last = self.pieces
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": last})


ENCODER = msgspec.json.Encoder()


COST_HEADER = "x-imagegate-cost-usd"


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _client(request: Request) -> Client | None:
    return getattr(request.state, CLIENT_STATE_KEY, None)


def cost_headers(record: RequestRecord) -> dict[str, str]:
    """The cost of the request's images, for its response (on an error only when something was paid)."""
    return {COST_HEADER: f"{record.cost_usd:.6f}"}


async def _images(request: Request, operation: Operation) -> Response | EventStream:
    gateway = _gateway(request)
    table = gateway.routes.table  # one table from parsing to the answer, whatever a reload does meanwhile
    server = table.server
    fetch_image = functools.partial(gateway.fetch_image_url, server)
    image_request = await parse_request(
        request, operation, server.default_model, server.max_input_pixels, fetch_image
    )
    record = record_for(request.state)
    request_id, base_url, client = request.state.request_id, str(request.base_url), _client(request)
    if image_request.params.stream:  # the cost is not known when a stream starts: no cost header
        return await gateway.stream(
            image_request, table, request_id, base_url, record, request.receive, client
        )
    body = await gateway.handle(image_request, table, request_id, base_url, record, client)
    return JSONBytes(body, headers=cost_headers(record))


async def generations(request: Request) -> Response:
    return await _images(request, "generate")


async def edits(request: Request) -> Response:
    return await _images(request, "edit")


async def variations(request: Request) -> Response:
    return await _images(request, "variation")


async def list_models(request: Request) -> Response:
    table = _gateway(request).routes.table
    client = _client(request)
    data = [
        _model_object(request, model) for model in table.models if client is None or client.may_use(model)
    ]
    return JSONBytes({"object": "list", "data": data})


async def retrieve_model(request: Request) -> Response:
    """One model of the list; a model the client's key may not use is one it cannot see."""
    model = request.path_params["model"]
    client = _client(request)
    if model not in _gateway(request).routes.table.models or not (client is None or client.may_use(model)):
        raise ModelNotFound(f"The model '{model}' does not exist on this gateway.", param="model")
    return JSONBytes(_model_object(request, model))


def _model_object(request: Request, model: str) -> dict[str, Any]:
    created = int(request.app.state.loaded_at)
    return {"id": model, "object": "model", "created": created, "owned_by": "imagegate"}


async def hosted_image(request: Request) -> Response:
    stored = await _gateway(request).store.get(request.path_params["name"])
    if stored is None:
        raise NotFound("This image does not exist or has expired.")
    max_age = max(0, int(stored.expires_at - time.time()))
    headers = {
        "cache-control": f"private, max-age={max_age}",
        "content-length": str(stored.size),
        # An SVG is a document that could run script on the gateway's origin: served inert.
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "x-content-type-options": "nosniff",
    }
    return StreamingResponse(stored.chunks, media_type=stored.content_type, headers=headers)


async def healthz(request: Request) -> Response:
    return JSONBytes({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The status for probes; the details (routes file, reload error, shared services) for admins only. The
    status stays ``ready`` while Redis fails: requests are still served (fail open), and a probe failing on
    Redis trouble would take every replica out at once."""
    if not getattr(request.state, ADMIN_STATE_KEY, False):
        return JSONBytes({"status": "ready"})
    gateway = _gateway(request)
    state = gateway.routes
    plugins = request.app.state.plugin_manager
    return JSONBytes(
        {
            "status": "ready",
            "routes": state.table.source,
            "models": len(state.table.models),
            "clients": len(state.table.clients or ()),
            "reload_error": state.reload_error,
            # Plugins that are not serving; the routes that need them answer 503 saying why.
            "plugins_failed": [
                {"name": f.name, "distribution": f.distribution, "version": f.version, "error": f.error}
                for f in plugins.failures
            ],
            "plugins_blocked": plugins.blocked,
            "shared_state": request.app.state.shared_state.status(),
            "image_store": gateway.store.status(),
        }
    )


async def admin_usage(request: Request) -> Response:
    """Per client: images and USD in the current period, and what is left of its budget."""
    gateway = _gateway(request)
    clients = gateway.routes.table.clients or ()
    return JSONBytes({"object": "list", "data": [await gateway.accounting.usage(c) for c in clients]})


async def openapi(request: Request) -> Response:
    return JSONBytes(openapi_document(tuple(_gateway(request).routes.table.models)))
