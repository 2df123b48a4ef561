from __future__ import annotations

from pathlib import Path

from imagegate.store import StoredImage
from imagegate.store.local import LocalImageStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def read_all(stored: StoredImage) -> bytes:
    return b"".join([bytes(chunk) async for chunk in stored.chunks])


async def test_put_get_expire_and_cleanup(tmp_path: Path) -> None:
    clock = Clock()
    store = LocalImageStore(tmp_path, ttl_seconds=60, clock=clock)
    name = await store.put(b"\x89PNG fake", "png")
    stem, _, extension = name.partition(".")
    assert extension == "png" and len(stem) >= 32  # 24 random bytes, base64url
    stored = await store.get(name)
    assert stored is not None and stored.content_type == "image/png" and stored.size == 9
    assert stored.expires_at == clock.now + 60
    assert await read_all(stored) == b"\x89PNG fake"
    other = await store.put(b"jpeg", "jpeg")
    clock.now += 61
    assert await store.get(name) is None  # expired, and removed on access
    assert not (tmp_path / name).exists()
    assert await store.cleanup() == 1  # the other one
    assert not (tmp_path / other).exists()


async def test_urls_point_at_the_gateway(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path, ttl_seconds=60)
    name = await store.put(b"x", "png")
    assert await store.url(name, "http://gw/v1/images/hosted/" + name) == "http://gw/v1/images/hosted/" + name


async def test_names_are_unique_and_unguessable(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path, ttl_seconds=60)
    names = {await store.put(b"x", "webp") for _ in range(50)}
    assert len(names) == 50


async def test_rejects_paths_and_unknown_extensions(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path / "images", ttl_seconds=60)
    (tmp_path / "secret.png").write_bytes(b"s")
    (tmp_path / "images" / "x.png.part").write_bytes(b"s")
    assert await store.get("../secret.png") is None
    assert await store.get("..%2Fsecret.png") is None
    assert await store.get("name.exe") is None
    assert await store.get("x.png.part") is None
    assert await store.get("missing.png") is None
