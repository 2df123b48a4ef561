"""The one place where the gateway talks to upstreams: a pooled aiohttp session, timeouts, and the mapping of
network failures into the error tree. Providers never open connections; they get :meth:`Transport.send`."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult

from .config import Timeout
from .errors import InvalidRequest, UpstreamError, UpstreamTimeout, UpstreamUnavailable, seconds
from .provider import FilePart, UpstreamEvent, UpstreamRequest, UpstreamResponse
from .request import InputImage
from .stream.sse import SSEDecoder

log = logging.getLogger("imagegate")

CHUNK = 1024 * 1024
READ_BUFFER_BYTES = 2 * 1024 * 1024


MAX_REDIRECTS = 3


def is_public_address(address: str) -> bool:
    """True for an address on the public internet: not loopback, private, link-local (cloud metadata),
    shared, multicast or reserved; an IPv4 address mapped into IPv6 is judged as IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicAddressResolver(AbstractResolver):
    """Resolves names to public addresses only, at connection time (so a name that changes its answer
    between a check and the connection cannot reach an internal service)."""

    def __init__(self) -> None:
        self._resolver = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = [
            r for r in await self._resolver.resolve(host, port, family) if is_public_address(r["host"])
        ]
        if not results:
            raise OSError(f"{host} has no public address")
        return results

    async def close(self) -> None:
        await self._resolver.close()


def _session(connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "imagegate"},
        # An answer is read on while it arrives up to twice this; at aiohttp's 64 KB, a 1.6 MB image answer
        # paused and resumed the socket before the body was read (two epoll changes and a loop turn each).
        read_bufsize=READ_BUFFER_BYTES,
    )


class Transport:
    def __init__(self, session: aiohttp.ClientSession, public_session: aiohttp.ClientSession) -> None:
        self.session = session  # upstreams, and URLs they return
        self.public_session = public_session  # URLs clients give: public addresses only

    @classmethod
    def create(cls) -> Transport:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, ttl_dns_cache=300, enable_cleanup_closed=True
        )
        public = aiohttp.TCPConnector(resolver=PublicAddressResolver(), use_dns_cache=False)
        return cls(_session(connector), _session(public))

    async def close(self) -> None:
        await self.session.close()
        await self.public_session.close()

    async def send(self, request: UpstreamRequest, timeout: Timeout) -> UpstreamResponse:
        host = urlsplit(request.url).netloc
        with _upstream_errors(host, timeout):
            async with self._request(request, timeout) as response:
                body = await _read_body(response)
                return UpstreamResponse(status=response.status, headers=response.headers, body=body)

    @contextlib.asynccontextmanager
    async def stream(self, request: UpstreamRequest, timeout: Timeout) -> AsyncIterator[UpstreamResponse]:
        """Send ``request`` for a streamed answer. A 2xx ``text/event-stream`` answer comes with ``events``,
        decoded as the bytes arrive; any other answer (an error, an upstream that answered whole) with its
        ``body`` read, as :meth:`send` gives it. Leaving the block early closes the upstream connection, which
        is how the upstream learns that the call was given up. ``timeout.total`` bounds the whole stream."""
        host = urlsplit(request.url).netloc
        with _upstream_errors(host, timeout):
            async with self._request(request, timeout) as response:
                streamed = 200 <= response.status < 300 and response.content_type == "text/event-stream"
                if not streamed:
                    body = await _read_body(response)
                    yield UpstreamResponse(status=response.status, headers=response.headers, body=body)
                    return
                try:
                    yield UpstreamResponse(
                        status=response.status,
                        headers=response.headers,
                        body=b"",
                        events=_read_events(response, host, timeout),
                    )
                finally:
                    if not response.content.at_eof():
                        response.close()

    def _request(self, request: UpstreamRequest, timeout: Timeout) -> Any:
        data: aiohttp.payload.Payload | bytes | None = None
        headers = dict(request.headers)
        if request.form is not None:
            data = _GatheredWrites.payload(_form_data(request.form)())
        elif request.json is not None:
            data = msgspec.json.encode(request.json)
            headers.setdefault("Content-Type", "application/json")
        return self.session.request(
            request.method,
            request.url,
            params=request.query,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect),
            allow_redirects=False,
        )

    async def download(
        self, url: str, allowed_hosts: frozenset[str], max_bytes: int, timeout: Timeout
    ) -> bytes:
        """Fetch an upstream's result image, only from a host its provider declared, within a size limit."""
        host = urlsplit(url).hostname or ""
        if not any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts):
            log.warning("an upstream image URL on %s, not a declared download host: not fetched", host)
            raise UpstreamError("The upstream returned an image URL on an undeclared host; not fetched.")
        client_timeout = aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect)
        try:
            async with self.session.get(url, timeout=client_timeout) as response:
                if response.status != 200:
                    raise UpstreamUnavailable(
                        f"Fetching the upstream's image failed (HTTP {response.status})."
                    )
                data = await _read_limited(response, max_bytes)
                if data is None:
                    raise UpstreamError(f"The upstream's image is larger than {max_bytes} bytes.")
                return data
        except TimeoutError:
            log.warning("fetching an upstream image from %s timed out", host)
            raise UpstreamTimeout(
                f"Fetching the upstream's image took longer than {seconds(timeout.total)} s."
            ) from None
        except aiohttp.ClientError as exc:
            log.warning("fetching an upstream image from %s failed: %r", host, exc)
            raise UpstreamUnavailable(
                f"Fetching the upstream's image failed ({type(exc).__name__})."
            ) from None

    async def fetch_client_image(
        self, url: str, param: str, max_bytes: int, timeout: Timeout, public_only: bool = True
    ) -> bytes:
        """Fetch an image a client referenced by URL. Failures are the client's (400 naming ``param``):
        only http(s), at most ``MAX_REDIRECTS`` redirects, ``max_bytes``, and with ``public_only`` no
        address outside the public internet (loopback, private networks, cloud metadata)."""
        session = self.public_session if public_only else self.session
        client_timeout = aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect)

        def refuse(reason: str) -> InvalidRequest:
            return InvalidRequest(
                f"The image at {urlsplit(url).hostname or url} cannot be used: {reason}.",
                param=param,
                code="invalid_image_url",
            )

        try:
            async with asyncio.timeout(timeout.total):
                for _ in range(MAX_REDIRECTS + 1):
                    parts = urlsplit(url)
                    if parts.scheme not in ("http", "https") or not parts.hostname:
                        raise refuse("only http and https URLs are fetched")
                    literal = _is_literal_address(parts.hostname)
                    if public_only and literal and not is_public_address(parts.hostname):
                        raise refuse("it is not on a public address")
                    async with session.get(url, timeout=client_timeout, allow_redirects=False) as response:
                        if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                            url = urljoin(url, response.headers["location"])
                            continue
                        if response.status != 200:
                            raise refuse(f"fetching it answered HTTP {response.status}")
                        data = await _read_limited(response, max_bytes)
                        if data is None:
                            raise refuse(f"it is larger than {max_bytes} bytes")
                        return data
                raise refuse(f"more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            raise refuse(f"fetching it took longer than {seconds(timeout.total)} s") from None
        except aiohttp.ClientError as exc:
            cause = exc.__cause__ or exc
            raise refuse(f"it cannot be fetched ({type(exc).__name__}: {cause})") from None


def _is_literal_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, copied once (see :func:`_read_limited`)."""
    body = await _read_limited(response, sys.maxsize)
    assert body is not None  # nothing exceeds sys.maxsize bytes
    return body


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """The body, or ``None`` as soon as it is known to exceed ``max_bytes``. Copied once: the chunks as they
    arrived, joined. (``response.read()`` joins what is buffered at each wake-up, then joins those blocks
    again: a megabyte answer is often copied twice.)"""
    if (response.content_length or 0) > max_bytes:
        return None
    content = response.content
    content.set_read_chunk_size(sys.maxsize)  # as read() does: a body read whole never pauses the socket
    chunks: list[bytes] = []
    size = 0
    async for chunk, _ in content.iter_chunks():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def _upstream_errors(host: str, timeout: Timeout) -> Iterator[None]:
    """Network failures as the error tree's upstream errors. The client is not told the upstream's host or
    port (it is an internal of this deployment): the log line is."""
    try:
        yield
    except TimeoutError:
        log.warning("upstream %s did not answer within %s s", host, seconds(timeout.total))
        raise UpstreamTimeout(f"The upstream did not answer within {seconds(timeout.total)} s.") from None
    except aiohttp.ClientPayloadError as exc:
        log.warning("upstream %s sent a broken response body: %s", host, exc)
        raise UpstreamUnavailable("The upstream sent a broken response body.") from None
    except aiohttp.ClientError as exc:
        log.warning("cannot reach upstream %s: %r", host, exc)
        raise UpstreamUnavailable(f"Cannot reach the upstream ({type(exc).__name__}).") from None


async def _read_events(
    response: aiohttp.ClientResponse, host: str, timeout: Timeout
) -> AsyncIterator[UpstreamEvent]:
    decoder = SSEDecoder()
    with _upstream_errors(host, timeout):
        async for chunk in response.content.iter_any():
            for event in decoder.feed(chunk):
                yield event


def _form_data(fields: list[tuple[str, str | FilePart]]) -> aiohttp.FormData:
    # Multipart even with no file: some upstreams (Stability) take nothing else.
    form = aiohttp.FormData(quote_fields=False, default_to_multipart=True)
    for name, value in fields:
        if isinstance(value, FilePart):
            content = value.content
            payload = (
                _upload_payload(content, value.content_type) if isinstance(content, InputImage) else content
            )
            form.add_field(name, payload, filename=value.filename, content_type=value.content_type)
        else:
            form.add_field(name, value)
    return form


class _GatheredWrites(aiohttp.payload.Payload):
    """A multipart body written in a few socket writes. aiohttp writes each boundary, part header and field
    value as a write of its own, and each write of a connection without Nagle's delay is a packet: about thirty
    for an edit. Here the small writes are gathered and go out together, before each upload, which goes out on
    its own as the view it is (never copied)."""

    SMALL = 64 * 1024

    @classmethod
    def payload(cls, form: Any) -> _GatheredWrites:
        payload = cls(form, headers=form.headers)
        payload._size = form.size
        return payload

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self._value.decode(encoding, errors)  # type: ignore[no-any-return]

    async def write(self, writer: Any) -> None:
        gathered = _Gathering(writer, self.SMALL)
        await self._value.write(gathered)
        await gathered.flush()

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        await self.write(writer)

    async def close(self) -> None:
        await self._value.close()


class _Gathering:
    """The writer a multipart body writes to: small chunks wait, and go out before the next large one."""

    def __init__(self, writer: Any, small: int) -> None:
        self.writer, self.small = writer, small
        self.waiting: list[bytes] = []

    async def write(self, chunk: bytes | memoryview) -> None:
        if len(chunk) < self.small:
            self.waiting.append(bytes(chunk))
            return
        await self.flush()
        await self.writer.write(chunk)

    async def flush(self) -> None:
        if self.waiting:
            chunk, self.waiting = b"".join(self.waiting), []
            await self.writer.write(chunk)


def _upload_payload(
    image: InputImage, content_type: str
) -> memoryview | aiohttp.payload.AsyncIterablePayload:
    """Stream an upload without copying it. Several concurrent calls (a fan-out) may send the same upload, so
    each gets its own view (in-memory spool) or its own read offset (spool rolled to disk)."""
    view = image.buffer()
    if view is not None:
        return view
    # A payload object keeps its own content type (the form field's is not applied to it).
    return aiohttp.payload.AsyncIterablePayload(
        _read_at_offsets(image.fileno(), image.size_bytes()), content_type=content_type
    )


async def _read_at_offsets(fd: int, size: int) -> AsyncIterator[bytes]:
    offset = 0
    while offset < size:
        chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK, size - offset), offset)
        if not chunk:
            break
        offset += len(chunk)
        yield chunk
