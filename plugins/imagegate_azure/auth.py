"""Microsoft Entra ID tokens from a credential object (azure-identity's ``get_token(scope)`` protocol).

A credential may be synchronous (``azure.identity.DefaultAzureCredential``: ``get_token`` can block on
network I/O for seconds) or asynchronous (``azure.identity.aio``: ``get_token`` is a coroutine). A
synchronous one runs in a worker thread so it never blocks the event loop. Tokens are cached per scope and
fetched again a few minutes before they expire; one fetch at a time per scope, the others wait for it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

from imagegate import ProviderNotConfigured, UpstreamAuthError

# Fetch a new token this many seconds before the cached one expires.
REFRESH_MARGIN_SECONDS = 300


class EntraTokens:
    """Bearer tokens for one credential, shared by every account that uses ``credential: azure-identity``.

    ``credential`` is any object with ``get_token(scope)`` returning an object with ``token`` and
    ``expires_on`` (seconds since the epoch), or an awaitable of one. Without one, azure-identity's
    ``DefaultAzureCredential`` is created on first use (environment, workload or managed identity, Azure
    CLI, ...).
    """

    def __init__(self, credential: Any = None) -> None:
        self._credential = credential
        self._cached: dict[str, tuple[str, float]] = {}  # scope -> (token, expires_on)
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def injected(self) -> bool:
        return self._credential is not None

    async def token(self, scope: str) -> str:
        cached = self._fresh(scope)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            cached = self._fresh(scope)  # another request may have fetched it while this one waited
            if cached is not None:
                return cached
            access = await self._fetch(scope)
            self._cached[scope] = (access.token, float(access.expires_on))
            return access.token

    def _fresh(self, scope: str) -> str | None:
        entry = self._cached.get(scope)
        if entry is None or entry[1] - REFRESH_MARGIN_SECONDS <= time.time():
            return None
        return entry[0]

    async def _fetch(self, scope: str) -> Any:
        credential = self._credential_object()
        try:
            if inspect.iscoroutinefunction(credential.get_token):
                return await credential.get_token(scope)
            result = await asyncio.to_thread(credential.get_token, scope)
            return await result if inspect.isawaitable(result) else result
        except Exception as exc:  # azure-identity raises ClientAuthenticationError and friends
            raise UpstreamAuthError(
                f"Could not get a Microsoft Entra ID token for scope {scope}: {type(exc).__name__}: {exc}"
            ) from exc

    def _credential_object(self) -> Any:
        if self._credential is None:
            try:
                from azure.identity import DefaultAzureCredential
            except ImportError as exc:
                raise ProviderNotConfigured(
                    "credential: azure-identity needs the optional dependency: pip install 'imagegate[azure]'"
                ) from exc
            self._credential = DefaultAzureCredential()
        return self._credential
