from __future__ import annotations

import io
import zlib

import pytest
from imagegate.errors import InvalidRequest
from imagegate.images import ImageProblem, decode_input, inspect_image, pixel_limit, read_header, transcode
from imagegate.request import InputImage
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
    assert (header.format, header.size, header.has_alpha) == ("webp", "300x200", False)
    with pytest.raises(ImageProblem) as problem:
        read_header(b"not an image")
    assert problem.value.code == "invalid_image"


def _declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height`` (its pixel data does not match)."""
    png = bytearray(make_image(8, 8, "png"))
    ihdr = png[12:29]  # chunk type + 13 bytes of data
    ihdr[4:12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    png[12:33] = bytes(ihdr) + zlib.crc32(bytes(ihdr)).to_bytes(4, "big")
    return bytes(png)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [7000, 13000, 20000])  # 49, 169 (under Pillow's error) and 400 Mpx
def test_inspect_refuses_more_pixels_than_the_limit_from_the_header(side: int) -> None:
    with pytest.raises(ImageProblem) as problem:
        inspect_image(_declaring(side, side), 40_000_000)
    assert problem.value.code == "image_too_large"
    assert inspect_image(_declaring(6000, 6000), 40_000_000).size == "6000x6000"


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_inspect_refuses_a_truncated_file(fmt: str) -> None:
    whole = make_image(64, 64, fmt)
    assert inspect_image(io.BytesIO(whole), None).format == fmt
    with pytest.raises(ImageProblem) as problem:  # a WebP cut short may not even open: refused either way
        inspect_image(io.BytesIO(whole[: len(whole) - 20]), None)
    assert problem.value.code == "invalid_image"


def test_pixel_limit_never_exceeds_pillows() -> None:
    assert pixel_limit(40_000_000) == 40_000_000
    assert pixel_limit(10**12) == Image.MAX_IMAGE_PIXELS


def test_decode_input_turns_corrupt_data_into_a_400_naming_the_field() -> None:
    corrupt = bytearray(make_image(64, 64, "png"))
    corrupt[40:] = bytes(len(corrupt) - 52) + corrupt[-12:]  # zeroed pixel data, IEND kept
    upload = InputImage(io.BytesIO(bytes(corrupt)), "m.png", "image/png", "png", 64, 64, False, param="mask")
    with pytest.raises(InvalidRequest) as refused:
        decode_input(upload)
    assert (refused.value.param, refused.value.code) == ("mask", "invalid_image")
