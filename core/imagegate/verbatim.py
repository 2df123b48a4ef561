"""Upstream base64 images passed through verbatim: never walked, never copied into a new body.

An image in JSON is a base64 string literal of megabytes; everything around it is a few hundred bytes. The
gateway treats the two apart, in both directions:

- Reading an upstream's answer (:func:`decode_json`): the literals of one key (``b64_json``) are found with
  ``bytes.find`` (memchr) and cut out; the decoder reads only the small rest, and each literal comes back as
  a :class:`msgspec.Raw` view of the upstream's buffer. (A JSON decoder walks every byte of a string to find
  its end: about 0.4 ms for a 1.6 MB image, where ``find`` takes 0.02 ms.) Whether a literal is a valid JSON
  string is decided when its image is verified (:meth:`imagegate.provider.ResultImage.ends` checks that it is
  strict base64), before anything is sent.
- Writing the client's answer, a body or an event (:func:`json_pieces`): the document is encoded with each
  long literal left out, and the answer is sent as pieces, the encoded text around each literal and the
  literal itself as a view of the upstream's buffer, so the server writes the upstream's bytes to the client
  socket with no copy and no fresh megabyte buffer on the way.
"""

from __future__ import annotations

from typing import Any

import msgspec

Piece = bytes | bytearray | memoryview

CUT_MIN_CHARS = 1024  # shorter literals are left to the decoder: cutting them saves nothing
SPLICE_MIN_BYTES = 64 * 1024  # shorter literals are copied into the encoded text: a piece costs more
_WHITESPACE = b" \t\r\n"
# What a cut literal is replaced with for the decoder: a string no upstream sends (NUL, then the index).
_PLACEHOLDER_HEAD = b'"\\u0000'
# Where a spliced literal goes in the encoded text: a NUL byte, which msgspec never writes (it escapes
# control characters), so splitting the text at NUL bytes finds exactly the literals' places.
_SPLICE_MARK = msgspec.Raw(b"\x00")


def decode_json(data: bytes, type: Any = Any, key: str | None = None) -> Any:
    """``data`` decoded as ``type``; with ``key``, its string values of at least :data:`CUT_MIN_CHARS` are
    cut out before decoding and put back as :class:`msgspec.Raw` views of ``data``. ``type`` must have
    ``msgspec.Raw`` for them (in dicts, lists or Structs); where it does not, or anything about the cut is in
    doubt, ``data`` is decoded whole, as without ``key``."""
    cut = _cut(data, key) if key is not None and isinstance(data, bytes) else None
    if cut is None:
        return msgspec.json.decode(data, type=type)
    rest, literals = cut
    try:
        value = msgspec.json.decode(rest, type=type)
    except msgspec.DecodeError:
        return msgspec.json.decode(data, type=type)  # the whole body's own error, or its value
    seen = [0] * len(literals)
    _restore(value, literals, seen)
    # Each placeholder met once: else ``type`` has no Raw there, or the upstream wrote one of its own.
    return value if all(count == 1 for count in seen) else msgspec.json.decode(data, type=type)


def _cut(data: bytes, key: str) -> tuple[bytes, list[msgspec.Raw]] | None:
    """``data`` with each long string value of ``key`` replaced by a placeholder, and those values as views
    of ``data``; ``None`` when there is none (or a closing quote could be an escaped one)."""
    needle = b'"' + key.encode() + b'"'
    view = memoryview(data)
    kept: list[Piece] = []
    literals: list[msgspec.Raw] = []
    position = 0
    found = data.find(needle)
    while found >= 0:
        cursor = _skip_whitespace(data, found + len(needle))
        if data[cursor : cursor + 1] == b":" and data[found - 1 : found] != b"\\":
            cursor = _skip_whitespace(data, cursor + 1)
            if data[cursor : cursor + 1] == b'"':
                end = data.find(b'"', cursor + 1)
                if end < 0 or data[end - 1] == 0x5C:  # unterminated, or a backslash before the quote
                    return None
                if end - cursor > CUT_MIN_CHARS:
                    kept += (view[position:cursor], _PLACEHOLDER_HEAD + b"%d" % len(literals) + b'"')
                    literals.append(msgspec.Raw(view[cursor : end + 1]))
                    position = end + 1
                found = end
        found = data.find(needle, found + 1)
    if not literals:
        return None
    kept.append(view[position:])
    return b"".join(kept), literals


def _skip_whitespace(data: bytes, index: int) -> int:
    while data[index : index + 1] and data[index] in _WHITESPACE:
        index += 1
    return index


def _restore(value: Any, literals: list[msgspec.Raw], seen: list[int]) -> Any:
    """``value`` with each placeholder put back as its literal (containers in place), counted in ``seen``."""
    if isinstance(value, msgspec.Raw):
        index = _placeholder_index(value)
        if index is None or index >= len(literals):
            return value
        seen[index] += 1
        return literals[index]
    if isinstance(value, dict):
        for name, item in value.items():
            value[name] = _restore(item, literals, seen)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            value[position] = _restore(item, literals, seen)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            msgspec.structs.force_setattr(value, name, _restore(getattr(value, name), literals, seen))
    return value


def _placeholder_index(raw: msgspec.Raw) -> int | None:
    text = bytes(raw) if len(raw) < 32 else b""
    if not text.startswith(_PLACEHOLDER_HEAD):
        return None
    digits = text[len(_PLACEHOLDER_HEAD) : -1]
    return int(digits) if digits.isdigit() else None


def json_pieces(
    document: Any, encoder: msgspec.json.Encoder, head: bytes = b"", tail: bytes = b""
) -> list[Piece]:
    """``head``, ``document`` as JSON and ``tail``, as pieces to write one after the other: each
    :class:`msgspec.Raw` of at least :data:`SPLICE_MIN_BYTES` in ``document`` (an upstream's image literal) is
    a piece of its own, a view of the bytes it refers to; the text between them is encoded as usual. A
    document without such literals is one piece, encoded straight into its buffer."""
    literals: list[msgspec.Raw] = []
    marked = _mark_literals(document, literals)
    if not literals:
        buffer = bytearray(head)
        encoder.encode_into(document, buffer, len(head))
        buffer += tail
        return [buffer]
    texts = encoder.encode(marked).split(b"\x00")
    if len(texts) != len(literals) + 1:  # a NUL byte in a short Raw: not JSON, but never mistaken for a place
        return [head + encoder.encode(document) + tail]
    pieces: list[Piece] = [head + texts[0]]
    for literal, text in zip(literals, texts[1:], strict=True):
        pieces += (memoryview(literal), text)
    pieces[-1] = pieces[-1] + tail
    return pieces


def _mark_literals(value: Any, literals: list[msgspec.Raw]) -> Any:
    """``value`` with its long literals replaced by the splice mark (appended to ``literals`` in the order
    the encoder meets them); containers holding none are returned as they are, the others copied."""
    if isinstance(value, msgspec.Raw):
        if len(value) < SPLICE_MIN_BYTES:
            return value
        literals.append(value)
        return _SPLICE_MARK
    if isinstance(value, dict):
        copied: dict[Any, Any] | None = None
        for name, item in value.items():
            marked = _mark_literals(item, literals)
            if marked is not item:
                copied = dict(value) if copied is None else copied
                copied[name] = marked
        return value if copied is None else copied
    if isinstance(value, list):
        items = [_mark_literals(item, literals) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value
