"""Where the gateway keeps images it serves by URL (``response_format=url`` from an upstream that returns bytes).

:class:`ImageStore` is the protocol; one module per backend: :mod:`.local` (a directory on this machine) and
:mod:`.s3` (an S3-compatible bucket, shared by every replica). The app factory picks one from
``server.image_store``; nothing else knows which it has.

Names carry 192 random bits, so they cannot be guessed. Each image expires ``ttl_seconds`` after it was
written: it answers 404 after that and is removed by :meth:`ImageStore.cleanup` (and, on S3, by a bucket
lifecycle rule where the store supports one).

Each backend names itself in :meth:`ImageStore.status`, for ``/readyz``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import msgspec

from ..errors import GatewayError
from ..images import CONTENT_TYPES, EXTENSIONS

log = logging.getLogger("imagegate")

CONTENT_TYPE_BY_EXTENSION = {ext: CONTENT_TYPES[fmt] for fmt, ext in EXTENSIONS.items()}
NAME_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(slots=True)
class StoredImage:
    """An image to send back: its bytes arrive in ``chunks`` (read them once)."""

    content_type: str
    size: int
    expires_at: float  # epoch seconds
    chunks: AsyncIterator[bytes | memoryview]


class ImageStoreUnavailable(GatewayError):
    """The image store failed (down, refusing the credentials, out of space); details go to the log only."""

    status = 503
    default_code = "image_store_unavailable"

    @classmethod
    def after(cls, error: BaseException, doing: str) -> ImageStoreUnavailable:
        log.warning("image store failed while %s: %s", doing, error)
        return cls("The gateway's image store is unavailable; try again, or ask for b64_json.")


class StoreStatus(msgspec.Struct, frozen=True):
    """What ``/readyz`` tells admins about the image store."""

    backend: str  # "local" or "s3"


class ImageStore(Protocol):
    async def start(self) -> None:
        """Prepare the store when the app starts (problems are logged, never raised)."""
        ...

    async def put(self, data: bytes, fmt: str) -> str:
        """Keep ``data`` (an image of format ``fmt``) and return its name, valid until it expires."""
        ...

    async def url(self, name: str, gateway_url: str) -> str:
        """Where clients fetch the image ``name``: ``gateway_url`` (this gateway's
        ``/v1/images/hosted/{name}``, answered by any replica that shares the store) or the store's own URL."""
        ...

    async def get(self, name: str) -> StoredImage | None:
        """The stored image, or ``None`` when it does not exist or has expired."""
        ...

    async def cleanup(self) -> int:
        """Remove expired images; return how many."""
        ...

    def status(self) -> StoreStatus:
        """Which backend this is."""
        ...

    async def close(self) -> None:
        """Release connections; called once when the app stops."""
        ...


def new_name(fmt: str) -> str:
    return f"{secrets.token_urlsafe(24)}.{EXTENSIONS[fmt]}"


def content_type_of(name: str) -> str | None:
    """The content type of a name this store could have given out, or ``None`` for any other string (so a
    path, a traversal or an unknown extension never reaches a backend)."""
    stem, _, extension = name.partition(".")
    if not stem or not NAME_ALPHABET.issuperset(stem):
        return None
    return CONTENT_TYPE_BY_EXTENSION.get(extension)


__all__ = ["ImageStore", "ImageStoreUnavailable", "StoreStatus", "StoredImage", "content_type_of", "new_name"]
