from __future__ import annotations

import io

from imagegate.images import read_header, transcode
from PIL import Image

from tests.support.images import describe, make_image


def test_transcode_png_to_webp_keeps_alpha() -> None:
    out = transcode(make_image(64, 32, "png", alpha=True), "webp", 80)
    assert describe(out) == ("webp", 64, 32, "RGBA")


def test_transcode_alpha_to_jpeg_flattens_on_white() -> None:
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    out = transcode(buffer.getvalue(), "jpeg", 90)
    with Image.open(io.BytesIO(out)) as decoded:
        assert decoded.mode == "RGB" and decoded.getpixel((4, 4)) == (255, 255, 255)


def test_compression_is_quality() -> None:
    source = make_image(256, 256, "png")
    assert len(transcode(source, "jpeg", 10)) < len(transcode(source, "jpeg", 95))


def test_read_header_reads_without_decoding() -> None:
    header = read_header(make_image(300, 200, "webp"))
    assert header is not None and (header.format, header.size, header.has_alpha) == ("webp", "300x200", False)
    assert read_header(b"not an image") is None
