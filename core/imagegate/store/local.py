"""Hosted images in a directory on this machine: served by this process only (one replica, or a shared volume).

Each file expires ``ttl`` seconds after it was written (its modification time)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from . import StoredImage, StoreStatus, content_type_of, new_name

CHUNK_BYTES = 1024 * 1024


class LocalImageStore:
    def __init__(
        self, directory: str | Path, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self.ttl = ttl_seconds
        self._now = clock
        self.directory.mkdir(parents=True, exist_ok=True)

    async def start(self) -> None:
        return None

    async def put(self, data: bytes, fmt: str) -> str:
        name = new_name(fmt)
        await asyncio.to_thread(self._write, self.directory / name, data)
        return name

    def _write(self, path: Path, data: bytes) -> None:
        temporary = path.with_suffix(".part")
        temporary.write_bytes(data)
        now = self._now()
        os.utime(temporary, (now, now))
        temporary.replace(path)

    async def url(self, name: str, gateway_url: str) -> str:
        return gateway_url

    async def get(self, name: str) -> StoredImage | None:
        content_type = content_type_of(name)
        if content_type is None:
            return None
        path = self.directory / name
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the reader below
        except OSError:
            return None
        stat = os.fstat(handle.fileno())
        expires_at = stat.st_mtime + self.ttl
        if self._now() >= expires_at:
            handle.close()
            path.unlink(missing_ok=True)
            return None
        return StoredImage(
            content_type=content_type, size=stat.st_size, expires_at=expires_at, chunks=_read(handle)
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

    def status(self) -> StoreStatus:
        return StoreStatus(backend="local")

    async def close(self) -> None:
        return None


async def _read(handle: BinaryIO) -> AsyncIterator[bytes]:
    """The file's bytes in chunks, read off the event loop; the file is closed however the reading ends."""
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()
