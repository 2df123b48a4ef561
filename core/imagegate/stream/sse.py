"""Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html).

:class:`SSEDecoder` turns the bytes of an upstream's event stream into :class:`UpstreamEvent` s as they arrive.
Events can be megabytes on one ``data:`` line, arriving in many chunks: a line is kept as the pieces of the
chunks it spans, line ends are found with ``bytes.find`` (memchr), and a data line is copied once, when it is
complete. :func:`frame` and :func:`comment` write the gateway's own events.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..provider import UpstreamEvent
from ..verbatim import Piece, json_pieces

Slice = tuple[bytes, int, int]  # chunk, start, end: not yet copied


class SSEDecoder:
    def __init__(self) -> None:
        self._pieces: list[Slice] = []  # the line being read, when it started in an earlier chunk
        self._after_cr = False  # the last chunk ended with CR: an LF opening the next one belongs to it
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[UpstreamEvent]:
        """The events completed by ``chunk``."""
        events: list[UpstreamEvent] = []
        start, length = 0, len(chunk)
        if self._after_cr:
            self._after_cr = False
            start = 1 if chunk[:1] == b"\n" else 0
        while start < length:
            newline = chunk.find(b"\n", start)
            carriage = chunk.find(b"\r", start, newline if newline >= 0 else length)
            if carriage >= 0:  # CR or CRLF ends the line
                end = carriage
                following = carriage + (2 if chunk[carriage + 1 : carriage + 2] == b"\n" else 1)
                self._after_cr = carriage + 1 == length
            elif newline >= 0:
                end, following = newline, newline + 1
            else:
                self._pieces.append((chunk, start, length))
                break
            self._pieces.append((chunk, start, end))
            event = self._line(self._pieces)
            self._pieces = []
            if event is not None:
                events.append(event)
            start = following
        return events

    def _line(self, pieces: list[Slice]) -> UpstreamEvent | None:
        chunk, start, end = pieces[0]
        if len(pieces) == 1 and start == end:  # a blank line dispatches the event read so far, if any
            return self._dispatch()
        colon = chunk.find(b":", start, end)
        if colon < 0 or (colon + 1 == end and len(pieces) > 1):
            # The field name, or the space after it, runs into the next chunk: rare, and the line is joined.
            line = _joined(pieces)
            pieces, (chunk, start, end), colon = [(line, 0, len(line))], (line, 0, len(line)), line.find(b":")
        if colon == start:  # a comment (keep-alive)
            return None
        name = chunk[start : colon if colon >= 0 else end]
        value = end if colon < 0 else colon + 1
        if chunk[value : value + 1] == b" ":
            value += 1
        if name == b"data":
            self._data.append(_joined([(chunk, value, end), *pieces[1:]]))
        elif name == b"event":
            self._event = _joined([(chunk, value, end), *pieces[1:]]).decode("utf-8", "replace")
        return None  # id and retry mean nothing to the gateway; other fields are ignored, as the spec says

    def _dispatch(self) -> UpstreamEvent | None:
        if not self._data and self._event is None:
            return None
        event = UpstreamEvent(event=self._event, data=b"\n".join(self._data))
        self._event, self._data = None, []
        return event


def _joined(pieces: list[Slice]) -> bytes:
    """The pieces as one ``bytes``: the one copy a line's bytes go through."""
    return b"".join([memoryview(chunk)[start:end] for chunk, start, end in pieces])


def frame(event: str, data: Any, encoder: msgspec.json.Encoder) -> list[Piece]:
    """One event: ``event: NAME``, ``data: DATA`` (``data`` as JSON, on one line: JSON has no raw line
    breaks), a blank line; as pieces to write in order, an upstream's image literal in ``data`` being a
    piece of its own, uncopied (:func:`imagegate.verbatim.json_pieces`)."""
    return json_pieces(data, encoder, b"event: " + event.encode() + b"\ndata: ", b"\n\n")


def comment(text: str = "") -> bytes:
    """A comment line: clients and proxies see traffic, and parsers ignore it."""
    return b": " + text.encode() + b"\n\n"
