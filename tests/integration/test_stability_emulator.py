"""The Stability emulator itself: it must refuse what Stability refuses, or the gateway tests prove nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import aiohttp
import pytest

from tests.emulators.stability_dialect import API_KEY, StabilityEmulator
from tests.support.images import describe, make_image
from tests.support.servers import serve_aiohttp

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def served() -> Iterator[tuple[StabilityEmulator, str]]:
    emulator = StabilityEmulator()
    with serve_aiohttp(emulator.app) as base_url:
        yield emulator, base_url


def form(**fields: str | bytes) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        if isinstance(value, bytes):
            data.add_field(name, value, filename=f"{name}.png", content_type="image/png")
        else:
            data.add_field(name, value)
    return data


async def post(url: str, data: object, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


async def test_json_body_is_refused_in_stabilitys_error_shape(served: tuple[StabilityEmulator, str]) -> None:
    _, base = served
    url = f"{base}/v2beta/stable-image/generate/core"
    status, _, body = await post(url, aiohttp.JsonPayload({"prompt": "x"}), {**AUTH, "Accept": "image/*"})
    assert status == 400
    assert b'"name":"bad_request"' in body.replace(b" ", b"")
    assert b"multipart/form-data" in body


async def test_urlencoded_body_is_refused(served: tuple[StabilityEmulator, str]) -> None:
    _, base = served
    status, _, _ = await post(f"{base}/v2beta/stable-image/generate/core", {"prompt": "x"}, AUTH)
    assert status == 400


async def test_raw_bytes_with_headers(served: tuple[StabilityEmulator, str]) -> None:
    _, base = served
    url = f"{base}/v2beta/stable-image/generate/sd3"
    data = form(prompt="x", model="sd3.5-large", aspect_ratio="21:9", output_format="jpeg", seed="99")
    status, headers, body = await post(url, data, {**AUTH, "Accept": "image/*"})
    assert status == 200
    assert (headers["finish-reason"], headers["seed"], headers["Content-Type"]) == (
        "SUCCESS",
        "99",
        "image/jpeg",
    )
    assert describe(body)[:3] == ("jpeg", 1536, 640)


async def test_json_answer_for_accept_json(served: tuple[StabilityEmulator, str]) -> None:
    emulator, base = served
    emulator.content_filtered = True
    url = f"{base}/v2beta/stable-image/generate/ultra"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form(prompt="x"), headers={**AUTH, "Accept": "application/json"}) as response,
    ):
        body = await response.json()
    assert response.status == 200  # CONTENT_FILTERED arrives with HTTP 200
    assert body["finish_reason"] == "CONTENT_FILTERED"
    assert isinstance(body["seed"], int)
    assert describe(base64.b64decode(body["image"]))[1:3] == (1024, 1024)


@pytest.mark.parametrize(
    ("path", "fields", "complaint"),
    [
        ("generate/core", {"prompt": "x", "aspect_ratio": "3:1"}, b"aspect_ratio"),
        ("generate/sd3", {"prompt": "x", "model": "sd4"}, b"model"),
        ("generate/sd3", {"prompt": "x", "output_format": "gif"}, b"output_format"),
        ("generate/sd3", {"prompt": "x", "strength": "0.5"}, b"strength"),
        ("generate/sd3", {"prompt": "x", "mode": "image-to-image", "strength": "0.5"}, b"image"),
        ("generate/core", {"prompt": "x", "cfg_scale": "4"}, b"cfg_scale: unknown field"),
        ("generate/core", {"prompt": "x", "output_compression": "50"}, b"output_compression"),
        ("edit/inpaint", {"prompt": "x", "image": make_image(32, 32)}, b"mask"),
        ("edit/outpaint", {"image": make_image(32, 32)}, b"at least one"),
    ],
)
async def test_bad_fields_are_refused(
    served: tuple[StabilityEmulator, str], path: str, fields: dict[str, str | bytes], complaint: bytes
) -> None:
    _, base = served
    status, _, body = await post(f"{base}/v2beta/stable-image/{path}", form(**fields), AUTH)
    assert status == 400
    assert complaint in body


async def test_wrong_key_is_401(served: tuple[StabilityEmulator, str]) -> None:
    emulator, base = served
    url = f"{base}/v2beta/stable-image/generate/core"
    status, _, body = await post(url, form(prompt="x"), {"Authorization": "Bearer wrong"})
    assert status == 401
    assert b"unauthorized" in body
    assert len(emulator.received) == 1  # recorded even when refused
