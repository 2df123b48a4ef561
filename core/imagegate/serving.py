"""Limits on client connections that uvicorn does not have, in its own HTTP protocol (httptools).

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) but waits for ever for a request's
headers, accepts headers of any size (httptools buffers a header line until it ends) and, over its
``limit_concurrency``, answers a bare 503 only to connections that finish their headers. This protocol adds,
per connection (the numbers are ``server.connections`` in routes.yaml):

- ``header_timeout_seconds``: from the connection, or the first byte of a following request, to the end of
  the request's headers. Then a 408 if some of the request came, else the connection is just closed.
- ``max_header_kb``: bytes of request line and headers; more is a 431 at once, not when the line ends.
- ``max_connections``: connections of this process open at once; one more is answered 503 ``server_busy``
  with ``retry-after`` as soon as its headers are read, and closed.

A request httptools cannot parse gets a 400 ``invalid_http`` in OpenAI's error shape (uvicorn answers text).

``body_idle_seconds`` and ``body_min_bytes_per_second`` are applied where the body is read
(:class:`imagegate.middleware.BodyLimitMiddleware`).
:func:`uvicorn_options` gives the keyword arguments that install all of it, for ``imagegate serve`` and for
the test servers alike.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .config import ConnectionSettings
from .errors import GatewayError, HeadersTooLarge, InvalidRequest, RequestTimeout, ServerBusy
from .middleware import REQUEST_ID_HEADER, send_error

BUSY_RETRY_SECONDS = 1.0
# After refusing a request, the rest of what the client sends is read and dropped this long before the close:
# closing with unread data resets the connection, and the client would lose the answer.
LINGER_SECONDS = 2.0


def uvicorn_options(limits: ConnectionSettings) -> dict[str, Any]:
    """``uvicorn.run``/``uvicorn.Config`` keyword arguments applying ``limits``."""
    return {
        "http": functools.partial(LimitedHttpProtocol, limits=limits),
        "timeout_keep_alive": limits.keep_alive_seconds,
    }


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The answer to a connection over ``max_connections`` (the app is not called)."""
    error = ServerBusy(
        "The gateway holds as many connections as it is configured to; retry shortly.",
        retry_after=BUSY_RETRY_SECONDS,
        headers={REQUEST_ID_HEADER.decode(): f"req_{uuid.uuid4().hex}"},
    )
    await send_error(send, error, close=True)


class LimitedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: ConnectionSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._max_head_bytes = limits.max_header_kb * 1024
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # a request has begun and its headers are not complete
        self._head_bytes = 0
        self._refused = False  # answered by the protocol itself: what still comes is dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.app = _busy  # this connection only: its request gets the 503
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head or self.cycle is None or self.cycle.response_complete:
            self._head_bytes += len(data)  # reset when the headers are complete
        super().data_received(data)
        if self._in_head and self._head_bytes > self._max_head_bytes and not self.transport.is_closing():
            size = self.limits.max_header_kb
            self._refuse(HeadersTooLarge(f"The request line and headers are larger than {size} KB."))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """What uvicorn answers a request httptools cannot parse (as plain text): OpenAI's error shape instead,
        with a request id, like every other answer."""
        self._refuse(InvalidRequest("The request is not valid HTTP/1.1.", code="invalid_http"))

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined request is late: finish the current one, then close
        elif self._in_head:
            seconds = f"{self.limits.header_timeout_seconds:g}"
            self._refuse(RequestTimeout(f"The request's headers did not arrive within {seconds} s."))
        else:
            self.transport.close()  # connected but sent nothing: nothing to answer

    def _refuse(self, error: GatewayError) -> None:
        """Answer ``error`` before any app has seen the request, and close the connection (lingering)."""
        self._cancel_head_timer()
        body = msgspec.json.encode(error.body())
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (REQUEST_ID_HEADER, f"req_{uuid.uuid4().hex}".encode()),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(STATUS_LINE[error.status] + head + b"\r\n" + body)
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
