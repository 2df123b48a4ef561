"""Image literals found without the decoder walking them, and written without being copied: whatever the
shortcut, the value decoded and the bytes written are exactly what a plain msgspec decode and encode give."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import msgspec
import pytest
from imagegate.verbatim import SPLICE_MIN_BYTES, decode_json, json_pieces

BIG = base64.b64encode(random.Random(1).randbytes(120_000)).decode()  # 160 KB of base64
SMALL = base64.b64encode(b"tiny image").decode()


class Answer(msgspec.Struct):
    data: list[dict[str, msgspec.Raw]]
    created: int | None = None


class Event(msgspec.Struct):
    type: str
    b64_json: msgspec.Raw = msgspec.Raw(b"null")


DOCUMENTS = {
    "one": json.dumps({"created": 1, "data": [{"b64_json": BIG}]}),
    "three": json.dumps({"data": [{"b64_json": BIG[: -4 * i or None]} for i in range(3)], "created": 2}),
    "spaced": json.dumps({"data": [{"b64_json": BIG, "revised_prompt": "x"}]}, indent=4),
    "short literal": json.dumps({"data": [{"b64_json": SMALL}, {"b64_json": BIG}]}),
    "null": json.dumps({"data": [{"b64_json": None, "url": "http://x"}]}),
    "decoy key": json.dumps({"data": [{'a"b64_json': BIG, "b64_json": BIG}]}),
    "decoy text": json.dumps({"data": [{"revised_prompt": '"b64_json": "' + BIG, "b64_json": BIG}]}),
    "placeholder text": json.dumps({"data": [{"b64_json": BIG, "seed": "\u00000"}, {"b64_json": "\u00000"}]}),
    "placeholder text first": json.dumps({"data": [{"seed": "\u00000", "b64_json": BIG}]}),
    "escaped slashes": json.dumps({"data": [{"b64_json": BIG}]}).replace("/", "\\/"),
    "escaped quote last": json.dumps({"data": [{"b64_json": BIG + '"'}]}),
}


@pytest.mark.parametrize("name", DOCUMENTS)
@pytest.mark.parametrize("type", [Answer, dict[str, Any], Any])
def test_decoding_gives_what_a_plain_decode_gives(name: str, type: Any) -> None:
    data = DOCUMENTS[name].encode()
    assert _plain(decode_json(data, type, "b64_json")) == _plain(msgspec.json.decode(data, type=type))


def test_a_long_literal_is_not_read_by_the_decoder() -> None:
    """Its content is checked later, when its image is verified: here only its two quotes are found."""
    data = b'{"data": [{"b64_json": "' + BIG.encode() + b'\\q"}]}'  # an invalid escape in the middle
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(data, type=Answer)
    (item,) = decode_json(data, Answer, "b64_json").data
    assert bytes(item["b64_json"]) == b'"' + BIG.encode() + b'\\q"'


def test_a_long_literal_in_a_struct_field_of_a_stream_event() -> None:
    data = b'{"type": "image_generation.completed", "b64_json": "' + BIG.encode() + b'"}'
    event = decode_json(data, Event, "b64_json")
    assert event.type == "image_generation.completed" and bytes(event.b64_json) == b'"' + BIG.encode() + b'"'


@pytest.mark.parametrize("data", [b'{"data": [{"b64_json": "' + BIG.encode() + b"}]}", b"", b"{"])
def test_broken_json_is_the_decoders_error(data: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_json(data, Answer, "b64_json")


def _plain(value: Any) -> Any:
    """``value`` with Raw as bytes and Structs as dicts, for comparing."""
    if isinstance(value, msgspec.Raw):
        return ("raw", bytes(value))
    if isinstance(value, msgspec.Struct):
        return {name: _plain(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


LITERAL = msgspec.Raw(msgspec.json.encode(BIG))
DOCUMENTS_OUT = {
    "no literal": {"status": "ok", "data": [{"url": "http://x"}]},
    "small literal": {"data": [{"b64_json": msgspec.Raw(msgspec.json.encode(SMALL))}]},
    "one": {"created": 1, "data": [{"b64_json": LITERAL, "revised_prompt": "x"}], "size": "1x1"},
    "three": {"data": [{"b64_json": LITERAL}, {"b64_json": LITERAL}, {"url": "u"}, {"b64_json": LITERAL}]},
    "last": {"type": "image_generation.completed", "b64_json": LITERAL},
    "nul in a string": {"data": [{"b64_json": LITERAL, "revised_prompt": "a\x00b"}]},
}


@pytest.mark.parametrize("name", DOCUMENTS_OUT)
@pytest.mark.parametrize("frame", [(b"", b""), (b"event: x\ndata: ", b"\n\n")], ids=["body", "event"])
def test_pieces_are_the_plain_encoding_with_long_literals_uncopied(
    name: str, frame: tuple[bytes, bytes]
) -> None:
    document = DOCUMENTS_OUT[name]
    head, tail = frame
    pieces = json_pieces(document, msgspec.json.Encoder(), head, tail)
    assert b"".join(pieces) == head + msgspec.json.encode(document) + tail
    spliced = [piece for piece in pieces if isinstance(piece, memoryview)]
    assert all(piece.obj is LITERAL for piece in spliced)  # views of the upstream's literal, not copies
    literals = sum(1 for item in document.get("data", [document]) if item.get("b64_json") is LITERAL)
    assert len(spliced) == literals and len(pieces) == 2 * literals + 1
    assert len(LITERAL) >= SPLICE_MIN_BYTES
