"""The sending path (the only place with upstream network I/O), with aioresponses standing in for upstreams."""

from __future__ import annotations

import io
import tempfile

import aiohttp
import pytest
from aioresponses import aioresponses
from imagegate.config import Timeout
from imagegate.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from imagegate.provider import FilePart, UpstreamRequest
from imagegate.request import InputImage
from imagegate.transport import Transport

from tests.support.mock_http import respond

URL = "https://upstream.example.com/v1/images/generations"
TIMEOUT = Timeout(connect=1, total=5)


@pytest.fixture
async def transport():
    transport = Transport.create()
    yield transport
    await transport.close()


def upload(file: io.BufferedIOBase | io.BytesIO, name: str = "a.png") -> InputImage:
    return InputImage(
        file=file, filename=name, content_type="image/png", format="png", width=1, height=1, has_alpha=False
    )


async def test_json_request_and_response(transport: Transport) -> None:
    with aioresponses() as mocked:
        respond(mocked, "post", URL, status=200, body=b'{"ok": true}', headers={"x-request-id": "up-1"})
        response = await transport.send(
            UpstreamRequest(url=URL, headers={"Authorization": "Bearer k"}, json={"prompt": "x", "n": 2}),
            TIMEOUT,
        )
        ((_, calls),) = mocked.requests.items()
        sent = calls[0].kwargs
    assert (
        response.status == 200
        and response.json() == {"ok": True}
        and response.headers["X-Request-Id"] == "up-1"
    )
    assert sent["data"] == b'{"prompt":"x","n":2}'
    assert (
        sent["headers"]["Content-Type"] == "application/json"
        and sent["headers"]["Authorization"] == "Bearer k"
    )


async def test_multipart_streams_uploads_in_memory_and_on_disk(transport: Transport) -> None:
    on_disk = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the test's garbage)
    on_disk.write(b"disk-bytes" * 1000)
    in_memory = io.BytesIO(b"memory-bytes")
    form = [
        ("prompt", "x"),
        ("image[]", FilePart(upload(in_memory), "a.png", "image/png")),
        ("image[]", FilePart(upload(on_disk, "b.png"), "b.png", "image/png")),
        ("mask", FilePart(b"mask-bytes", "m.png", "image/png")),
    ]
    with aioresponses() as mocked:
        respond(mocked, "post", URL, status=200, body=b"{}")
        await transport.send(UpstreamRequest(url=URL, form=form), TIMEOUT)
        ((_, calls),) = mocked.requests.items()
        data = calls[0].kwargs["data"]
    chunks: list[bytes] = []

    class Sink:
        async def write(self, chunk: bytes) -> None:
            chunks.append(bytes(chunk))

    await data.write(Sink())
    body = b"".join(chunks)
    assert data.size in (None, len(body))  # None: an upload spooled to disk goes out chunked
    boundary = data.headers["content-type"].partition("boundary=")[2].strip('"')
    assert data.headers["content-type"].startswith("multipart/form-data")
    assert b'name="prompt"' in body and b"memory-bytes" in body and body.count(b"disk-bytes") == 1000
    assert b'filename="b.png"' in body and b"mask-bytes" in body
    # Boundaries, part headers and small values go out together: one write per large upload chunk, and one
    # for what comes between (aiohttp alone makes a write, and a packet, of each).
    assert len(chunks) <= 3
    disk_part = next(part for part in body.split(b"--" + boundary.encode()) if b'filename="b.png"' in part)
    assert b"content-type: image/png" in disk_part.lower()  # not application/octet-stream


async def test_timeout_becomes_upstream_timeout(
    transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    with aioresponses() as mocked:
        mocked.post(URL, exception=TimeoutError())
        with pytest.raises(UpstreamTimeout) as failure:
            await transport.send(UpstreamRequest(url=URL, json={}), TIMEOUT)
    assert failure.value.status == 504
    assert "upstream.example.com" not in failure.value.message  # the client is not told; the log is
    assert "upstream.example.com" in caplog.text


async def test_connection_error_becomes_upstream_unavailable(transport: Transport) -> None:
    with aioresponses() as mocked:
        mocked.post(URL, exception=aiohttp.ClientConnectionError("refused"))
        with pytest.raises(UpstreamUnavailable) as failure:
            await transport.send(UpstreamRequest(url=URL, json={}), TIMEOUT)
    assert failure.value.retryable and failure.value.fallback


async def test_download_only_from_declared_hosts(transport: Transport) -> None:
    with pytest.raises(UpstreamError, match="undeclared host"):
        await transport.download(
            "https://evil.example.net/x.png", frozenset({"blob.core.windows.net"}), 100, TIMEOUT
        )
    with aioresponses() as mocked:
        respond(mocked, "get", "https://acct.blob.core.windows.net/x.png", status=200, body=b"png-bytes")
        data = await transport.download(
            "https://acct.blob.core.windows.net/x.png", frozenset({"blob.core.windows.net"}), 100, TIMEOUT
        )
    assert data == b"png-bytes"


async def test_download_size_limit_and_status(transport: Transport) -> None:
    url = "https://files.example.com/big.png"
    with aioresponses() as mocked:
        respond(mocked, "get", url, status=200, body=b"x" * 1000)
        with pytest.raises(UpstreamError, match="larger than 100 bytes"):
            await transport.download(url, frozenset({"files.example.com"}), 100, TIMEOUT)
        respond(mocked, "get", url, status=403, body=b"expired")
        with pytest.raises(UpstreamUnavailable, match="HTTP 403"):
            await transport.download(url, frozenset({"files.example.com"}), 100, TIMEOUT)
