"""API keys: making them, reading them from request headers, checking them.

Keys are never stored: routes.yaml holds the SHA-256 digest of each (``key_sha256``), or names an environment
variable holding the key itself (``key: "${TEAM_A_KEY}"``). A presented key is hashed once, looked up by its
digest and confirmed with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

KEY_PREFIX = "ig-"
T = TypeVar("T")


def new_key() -> str:
    """A fresh random key: 256 bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key of ASGI ``headers``: ``Authorization: Bearer KEY`` (what the OpenAI SDKs send), else
    ``api-key: KEY`` (what Azure clients send)."""
    api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                return key.strip()
        elif name == b"api-key" and value.strip():
            api_key = value.decode("latin-1").strip()
    return api_key


class KeyRing(Generic[T]):
    """Owners (clients) by the digest of their key. A lookup costs one SHA-256 of the presented key, whatever
    the number of owners; the digest found is confirmed with :func:`hmac.compare_digest`."""

    def __init__(self, owners: Mapping[bytes, T]) -> None:
        self._entries = {digest: (digest, owner) for digest, owner in owners.items()}

    def owner(self, key: str | None) -> T | None:
        if not key:
            return None
        digest = key_digest(key)
        entry = self._entries.get(digest)
        if entry is None or not hmac.compare_digest(entry[0], digest):
            return None
        return entry[1]


def same_key(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` is ``expected``, compared in constant time."""
    return presented is not None and hmac.compare_digest(key_digest(presented), key_digest(expected))
