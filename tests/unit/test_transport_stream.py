"""The streaming send: events read as they arrive, a whole answer when the upstream did not stream, the
connection closed when the core gives a stream up. A real aiohttp server on loopback plays the upstream."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from imagegate.config import Timeout
from imagegate.errors import UpstreamTimeout
from imagegate.provider import UpstreamEvent, UpstreamRequest
from imagegate.transport import Transport

from tests.support.servers import serve_aiohttp

TIMEOUT = Timeout(connect=2, total=10)


class Upstream:
    """Streams two events with a gate between them; records how each stream ended."""

    def __init__(self) -> None:
        self.gate = threading.Event()  # opened by the test once it has the first event
        self.endings: list[str] = []
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/stream", self.stream)
        app.router.add_post("/error", self.error)
        app.router.add_post("/whole", self.whole)
        return app

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'event: first\ndata: {"n": 1}\n\n')
        for _ in range(400):  # wait for the gate, noticing a closed connection meanwhile
            if self.gate.is_set() or request.transport is None or request.transport.is_closing():
                break
            await asyncio.sleep(0.01)
        if not self.gate.is_set():
            self.endings.append("closed by the client")
            return response
        await response.write(b'data: {"n": 2}\n\n')
        await response.write_eof()
        self.endings.append("finished")
        return response

    async def ending(self) -> str:
        """How the one stream served ended, once it has (the upstream notes it after the client has read)."""
        for _ in range(500):
            if self.endings:
                break
            await asyncio.sleep(0.01)
        (ending,) = self.endings
        return ending

    async def error(self, request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "no"}}, status=429, headers={"retry-after": "3"})

    async def whole(self, request: web.Request) -> web.Response:
        return web.json_response({"data": []})


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    upstream = Upstream()
    with serve_aiohttp(upstream.app) as url:
        upstream.url = url
        yield upstream


@pytest.fixture
async def transport():
    transport = Transport.create()
    yield transport
    await transport.close()


async def test_events_arrive_before_the_stream_ends(upstream: Upstream, transport: Transport) -> None:
    async with transport.stream(UpstreamRequest(url=upstream.url + "/stream", json={}), TIMEOUT) as response:
        assert response.status == 200 and response.events is not None and response.body == b""
        events = response.events
        first = await anext(events)
        assert first == UpstreamEvent(event="first", data=b'{"n": 1}')
        upstream.gate.set()  # the upstream sends the rest only now: nothing was waiting for the whole body
        rest = [event async for event in events]
    assert rest == [UpstreamEvent(event=None, data=b'{"n": 2}')]
    assert await upstream.ending() == "finished"


@pytest.mark.parametrize(("path", "status"), [("/error", 429), ("/whole", 200)])
async def test_an_answer_that_is_not_a_stream_comes_whole(
    upstream: Upstream, transport: Transport, path: str, status: int
) -> None:
    async with transport.stream(UpstreamRequest(url=upstream.url + path, json={}), TIMEOUT) as response:
        assert response.status == status and response.events is None
        assert response.json() in ({"error": {"message": "no"}}, {"data": []})


async def test_leaving_early_closes_the_upstream_connection(upstream: Upstream, transport: Transport) -> None:
    async with transport.stream(UpstreamRequest(url=upstream.url + "/stream", json={}), TIMEOUT) as response:
        assert response.events is not None
        await anext(response.events)
    assert await upstream.ending() == "closed by the client"


async def test_the_total_timeout_bounds_the_whole_stream(upstream: Upstream, transport: Transport) -> None:
    request = UpstreamRequest(url=upstream.url + "/stream", json={})
    with pytest.raises(UpstreamTimeout):
        async with transport.stream(request, Timeout(connect=2, total=0.5)) as response:
            assert response.events is not None
            async for _ in response.events:
                pass
