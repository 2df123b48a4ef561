"""Where the gateway keeps images it serves by URL (``response_format=url`` from an upstream that returns bytes).

:class:`ImageStore` is the interface an object-store backend would implement; :class:`LocalImageStore` keeps
files in a directory. Names carry 192 random bits, so they cannot be guessed; each file expires ``ttl`` seconds
after it was written (its modification time), answers 404 after that, and is removed by :meth:`cleanup`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .images import CONTENT_TYPES, EXTENSIONS

CONTENT_TYPE_BY_EXTENSION = {ext: CONTENT_TYPES[fmt] for fmt, ext in EXTENSIONS.items()}


@dataclass(slots=True)
class StoredImage:
    path: Path
    content_type: str
    expires_at: float


class ImageStore(Protocol):
    async def put(self, data: bytes, fmt: str) -> str:
        """Keep ``data`` (an image of format ``fmt``) and return its name, valid until it expires."""
        ...

    async def get(self, name: str) -> StoredImage | None:
        """The stored image, or ``None`` when it does not exist or has expired."""
        ...

    async def cleanup(self) -> int:
        """Remove expired images; return how many."""
        ...


class LocalImageStore:
    def __init__(
        self, directory: str | Path, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self.ttl = ttl_seconds
        self._now = clock
        self.directory.mkdir(parents=True, exist_ok=True)

    async def put(self, data: bytes, fmt: str) -> str:
        name = f"{secrets.token_urlsafe(24)}.{EXTENSIONS[fmt]}"
        await asyncio.to_thread(self._write, self.directory / name, data)
        return name

    def _write(self, path: Path, data: bytes) -> None:
        temporary = path.with_suffix(".part")
        temporary.write_bytes(data)
        now = self._now()
        os.utime(temporary, (now, now))
        temporary.replace(path)

    async def get(self, name: str) -> StoredImage | None:
        stem, _, extension = name.partition(".")
        if not stem or "/" in name or "\\" in name or extension not in CONTENT_TYPE_BY_EXTENSION:
            return None
        path = self.directory / name
        try:
            written = path.stat().st_mtime
        except OSError:
            return None
        expires_at = written + self.ttl
        if self._now() >= expires_at:
            path.unlink(missing_ok=True)
            return None
        return StoredImage(
            path=path, content_type=CONTENT_TYPE_BY_EXTENSION[extension], expires_at=expires_at
        )

    async def cleanup(self) -> int:
        return await asyncio.to_thread(self._cleanup)

    def _cleanup(self) -> int:
        cutoff = self._now() - self.ttl
        removed = 0
        for path in self.directory.iterdir():
            try:
                if path.stat().st_mtime <= cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
