"""ResultImage keeps the upstream's base64 JSON literal and converts at most once, whatever its escapes."""

from __future__ import annotations

import base64

import msgspec
import pytest
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


def test_ends_decode_only_the_two_ends_of_the_base64_and_check_the_rest_in_slices() -> None:
    data = bytes(range(256)) * 1200  # 300 KB: more than one slice between the two ends
    text = base64.b64encode(data).decode()
    assert ResultImage(b64_json=text).ends(1000, 64) == (data[:1000], data[-64:])
    assert ResultImage(b64_json=msgspec.Raw(msgspec.json.encode(text))).ends(1000, 64) == (
        data[:1000],
        data[-64:],
    )
    assert ResultImage(data=data).ends(10, 10) is None  # decoded already: nothing to save


@pytest.mark.parametrize("where", [0.3, 0.5, 0.9])
@pytest.mark.parametrize(
    "spoiler", ["\\/", "*", "\x01", " ", "\u00e9"], ids=["escape", "star", "control", "space", "utf8"]
)
def test_ends_are_none_when_any_of_the_text_is_not_strict_base64(where: float, spoiler: str) -> None:
    """The literal is passed on verbatim as a JSON string only if all of it is base64: anything else, wherever
    it is, leaves the decision to a whole decode."""
    text = base64.b64encode(bytes(range(256)) * 1200).decode()
    at = int(len(text) * where)
    spoiled = (text[:at] + spoiler + text[at + 1 :]).encode()
    assert ResultImage(b64_json=msgspec.Raw(b'"' + spoiled + b'"')).ends(1000, 64) is None
