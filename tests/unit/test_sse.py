"""Server-sent events framing: the decoder the transport reads upstream streams with, and the encoder."""

from __future__ import annotations

import msgspec
import pytest
from imagegate.provider import UpstreamEvent
from imagegate.stream.sse import SSEDecoder, comment, frame
from openai._streaming import SSEDecoder as SDKDecoder

STREAM = (
    b": keep-alive\n\n"
    b"event: image_generation.partial_image\n"
    b'data: {"type": "image_generation.partial_image", "partial_image_index": 0}\n\n'
    b"event: image_generation.completed\r\n"
    b'data: {"type": "image_generation.completed",\r\n'
    b'data: "b64_json": "QUJD"}\r\n\r\n'
    b"id: 7\rretry: 100\rdata: plain\r\r"
    b"data: never finished"
)

EXPECTED = [
    UpstreamEvent(
        event="image_generation.partial_image",
        data=b'{"type": "image_generation.partial_image", "partial_image_index": 0}',
    ),
    UpstreamEvent(
        event="image_generation.completed",
        data=b'{"type": "image_generation.completed",\n"b64_json": "QUJD"}',
    ),
    UpstreamEvent(event=None, data=b"plain"),
]


def decode_in_chunks(data: bytes, size: int) -> list[UpstreamEvent]:
    decoder = SSEDecoder()
    events: list[UpstreamEvent] = []
    for start in range(0, len(data), size):
        events.extend(decoder.feed(data[start : start + size]))
    return events


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_events_whatever_the_chunking(size: int) -> None:
    """LF, CRLF and lone CR line ends, split anywhere (a CR at the end of one chunk, its LF in the next);
    comments skipped; an event cut off by the end of the stream is not dispatched."""
    assert decode_in_chunks(STREAM, size) == EXPECTED


def test_a_megabyte_line_in_small_chunks() -> None:
    payload = b"A" * (3 * 1024 * 1024)
    data = b'data: {"b64_json": "' + payload + b'"}\n\n'
    (event,) = decode_in_chunks(data, 65536)
    assert event.data == b'{"b64_json": "' + payload + b'"}'
    assert event.json()["b64_json"] == payload.decode()


def test_framed_events_read_back_by_the_sdk_decoder() -> None:
    """What the gateway writes is what the official SDK's decoder reads: event name, JSON data, comments
    ignored."""
    body = {"type": "image_edit.completed", "b64_json": "QUJD", "size": "16x16"}
    written = b"".join(
        [comment("keep-alive"), *frame("image_edit.completed", body, msgspec.json.Encoder()), comment()]
    )
    events = list(SDKDecoder().iter_bytes(iter([bytes(written)])))
    assert [(sse.event, sse.json()) for sse in events] == [("image_edit.completed", body)]
