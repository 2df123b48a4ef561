"""Authentication of every request from its headers, before its body is read (pure ASGI).

- Image endpoints and ``/v1/models`` (and ``/v1/models/{id}``) need a client's key when routes.yaml has ``clients:``: no key or an
  unknown one is a 401 ``invalid_api_key`` at once, however large the body. The client found is put in the
  request's state, where it stays for the whole request (a reload that revokes the key does not stop it).
- ``/metrics`` and ``/admin/*`` need ``server.admin_key``; while it is unset they answer loopback clients only.
  ``/readyz`` answers everyone with its status, and its details only to those who could reach ``/metrics``.
- ``/healthz``, ``/openapi.json`` and hosted image URLs stay open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..accesslog import RECORD_STATE_KEY, RequestRecord
from ..errors import Forbidden, InvalidApiKey
from ..middleware import send_error
from .keys import presented_key, same_key
from .registry import ClientRegistry

CLIENT_STATE_KEY = "client"  # request.state.client: the Client, or None without client authentication
ADMIN_STATE_KEY = "admin"  # request.state.admin: whether the caller may see admin details
CLIENT_PATHS = ("/v1/images/generations", "/v1/images/edits", "/v1/images/variations", "/v1/models")
MODEL_PATH_PREFIX = "/v1/models/"  # one model of the list
ADMIN_PATH_PREFIX = "/admin/"
ADMIN_PATHS = ("/metrics",)
READY_PATH = "/readyz"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (an address, or ``localhost``) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(scope: Scope) -> bool:
    """Whether the request came from this machine."""
    peer = scope.get("client")
    return bool(peer) and is_loopback_host(peer[0])


class ClientAuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        clients: Callable[[], ClientRegistry | None],
        admin_key: Callable[[], str | None],
    ) -> None:
        """``clients`` and ``admin_key`` read the live route table (they change on reload)."""
        self.app = app
        self.clients = clients
        self.admin_key = admin_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        state: dict[str, Any] = scope.setdefault("state", {})
        refusal: InvalidApiKey | Forbidden | None = None
        if path in CLIENT_PATHS or path.startswith(MODEL_PATH_PREFIX):
            refusal = self._authenticate_client(scope, state)
        elif path in ADMIN_PATHS or path.startswith(ADMIN_PATH_PREFIX):
            refusal = self._admin_refusal(scope)
            state[ADMIN_STATE_KEY] = refusal is None
        elif path == READY_PATH:
            state[ADMIN_STATE_KEY] = self._admin_refusal(scope) is None
        if refusal is not None:
            await send_error(send, refusal, close=scope["method"] != "GET")
            return
        await self.app(scope, receive, send)

    def _authenticate_client(self, scope: Scope, state: dict[str, Any]) -> InvalidApiKey | None:
        """Put the client the key names in the request's state (``None`` without client authentication), and
        on its access record; the refusal when the key is missing or unknown."""
        registry = self.clients()
        record: RequestRecord | None = state.get(RECORD_STATE_KEY)
        client = None
        if registry is not None:
            client = registry.authenticate(presented_key(scope["headers"]))
            if client is None:
                error = _invalid_key(scope)
                if record is not None:
                    record.error = error.code
                return error
            if record is not None:
                record.client = client.name
        state[CLIENT_STATE_KEY] = client
        return None

    def _admin_refusal(self, scope: Scope) -> InvalidApiKey | Forbidden | None:
        admin_key = self.admin_key()
        if not admin_key:
            if is_loopback(scope):
                return None
            return Forbidden(
                "This endpoint answers loopback clients only while the gateway has no server.admin_key."
            )
        if same_key(presented_key(scope["headers"]), admin_key):
            return None
        return InvalidApiKey("This endpoint needs the gateway's admin key.")


def _invalid_key(scope: Scope) -> InvalidApiKey:
    if presented_key(scope["headers"]) is None:
        return InvalidApiKey(
            "No API key was given. Send it as 'Authorization: Bearer KEY' or in an 'api-key' header."
        )
    return InvalidApiKey("The API key given is not valid for this gateway.")
