"""ResultImage keeps the upstream's base64 JSON literal and converts at most once, whatever its escapes."""

from __future__ import annotations

import base64

import msgspec
from imagegate.provider import ResultImage

DATA = bytes(range(256)) * 4  # base64 of this contains '/' and '+'
B64 = base64.b64encode(DATA).decode()


def test_literal_is_spliced_verbatim_and_decodes_once() -> None:
    literal = msgspec.Raw(msgspec.json.encode(B64))
    image = ResultImage(b64_json=literal)
    assert image.b64_json_value() is literal
    assert msgspec.json.decode(msgspec.json.encode({"b64_json": image.b64_json_value()})) == {"b64_json": B64}
    assert image.data() == DATA and image.b64() == B64


def test_literal_with_escaped_slashes() -> None:
    escaped = msgspec.Raw(('"' + B64.replace("/", "\\/") + '"').encode())  # as some JSON encoders write it
    image = ResultImage(b64_json=escaped)
    assert image.data() == DATA
    assert msgspec.json.decode(msgspec.json.encode({"b64_json": image.b64_json_value()}))["b64_json"] == B64


def test_replacing_data_drops_every_older_form() -> None:
    image = ResultImage(b64_json=msgspec.Raw(msgspec.json.encode(B64)))
    image.replace_data(b"new")
    assert image.b64() == base64.b64encode(b"new").decode() and image.b64_json_value() == image.b64()
