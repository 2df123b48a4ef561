"""Kept for the tests that import them from here: :mod:`imagegate.testing`'s image helpers; and animated GIF
and SVG helpers for the tests of those formats."""

from __future__ import annotations

import io
import random
import xml.etree.ElementTree as ElementTree

from imagegate.testing import describe_image as describe
from imagegate.testing import make_image
from PIL import Image, ImageDraw

__all__ = ["describe", "gif_frames", "make_gif", "make_image", "make_svg", "noise_png", "svg_size"]


def make_gif(
    width: int, height: int, frames: int, duration_ms: int, *, color: tuple[int, ...] = (40, 120, 200)
) -> bytes:
    """A real animated GIF: ``frames`` frames (a band moving across), each shown ``duration_ms``."""
    pictures = []
    for index in range(frames):
        picture = Image.new("RGB", (width, height), color[:3])
        left = width * index // frames
        ImageDraw.Draw(picture).rectangle(
            (left, 0, left + max(1, width // frames), height), fill=(255, 255, 255)
        )
        pictures.append(picture)
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=[duration_ms] * frames,
        loop=0,
    )
    return buffer.getvalue()


def make_svg(width: int, height: int, *, color: tuple[int, ...] = (40, 120, 200)) -> bytes:
    """A real SVG document of the given size."""
    fill = "#{:02x}{:02x}{:02x}".format(*color[:3])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<rect width="{width}" height="{height}" fill="{fill}"/><circle cx="{width // 2}" cy="{height // 2}" '
        f'r="{min(width, height) // 4}" fill="#ffffff"/></svg>'
    ).encode()


def gif_frames(data: bytes) -> list[int]:
    """The duration in milliseconds of each frame of an animated GIF (their number is the frame count)."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "GIF"
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
        return durations


def svg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an SVG document, parsed as XML (it must be one, with an <svg> root)."""
    root = ElementTree.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    return int(float(root.attrib["width"])), int(float(root.attrib["height"]))


def noise_png(side: int, seed: int) -> bytes:
    """A ``side`` x ``side`` RGB PNG of random pixels: it does not compress (about 3 bytes a pixel), so its
    bytes span many network reads and its base64 is long."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, "PNG")
    return buffer.getvalue()
