"""Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html).

:class:`SSEDecoder` turns the bytes of an upstream's event stream into :class:`UpstreamEvent` s as they arrive:
events can be megabytes on one ``data:`` line, so each byte is scanned once and copied once. :func:`frame`
and :func:`comment` write the gateway's own events.
"""

from __future__ import annotations

import re

from ..provider import UpstreamEvent

_LINE_END = re.compile(rb"[\r\n]")


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer already known to hold no line end
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[UpstreamEvent]:
        """The events completed by ``chunk``."""
        self._buffer += chunk
        events: list[UpstreamEvent] = []
        start = 0
        while (found := _LINE_END.search(self._buffer, max(start, self._scanned))) is not None:
            end = found.start()
            if self._buffer[end] == 13:  # CR: a line end alone or as CRLF; wait to see which
                if end + 1 == len(self._buffer):
                    self._scanned = end
                    break
                following = end + 2 if self._buffer[end + 1] == 10 else end + 1
            else:
                following = end + 1
            event = self._line(bytes(memoryview(self._buffer)[start:end]))
            if event is not None:
                events.append(event)
            start = following
        else:
            self._scanned = len(self._buffer)
        if start:
            del self._buffer[:start]
            self._scanned = max(0, self._scanned - start)
        return events

    def _line(self, line: bytes) -> UpstreamEvent | None:
        if not line:  # a blank line dispatches the event being read, if it has anything
            if not self._data and self._event is None:
                return None
            event = UpstreamEvent(event=self._event, data=b"\n".join(self._data))
            self._event, self._data = None, []
            return event
        if line[:1] == b":":  # a comment (keep-alive)
            return None
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        return None  # id and retry mean nothing to the gateway; other fields are ignored, as the spec says


def frame(event: str, data: bytes) -> bytes:
    """One event: ``event: NAME``, ``data: DATA`` (one line: JSON has no raw line breaks), a blank line."""
    return b"".join((b"event: ", event.encode(), b"\ndata: ", data, b"\n\n"))


def comment(text: str = "") -> bytes:
    """A comment line: clients and proxies see traffic, and parsers ignore it."""
    return b": " + text.encode() + b"\n\n"
