"""The offline model's pictures: a scene of shapes laid out from a seed, drawn as pixels or as SVG.

A :class:`Scene` is decided once per image (colours, shapes, how far each drifts over an animation) and drawn
at any ``phase`` in [0, 1): a still image is phase 0, a GIF's frames are evenly spaced phases. ``quality``
sets how many shapes, ``complexity`` how much detail each has (rings inside it, an outline).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw

SHAPES_BY_QUALITY = {"low": 6, "medium": 16, "high": 40, "xhigh": 80, "max": 140}
RINGS_BY_COMPLEXITY = {"low": 0, "medium": 1, "high": 3}

Colour = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Shape:
    ellipse: bool
    box: tuple[int, int, int, int]
    drift: tuple[int, int]  # how far it moves over a whole animation
    fill: Colour
    ring: Colour


@dataclass(frozen=True, slots=True)
class Scene:
    width: int
    height: int
    top: Colour
    bottom: Colour
    shapes: tuple[Shape, ...]
    rings: int  # inner rings per shape
    outline: bool

    @classmethod
    def lay_out(
        cls, rng: random.Random, width: int, height: int, quality: str | None, complexity: str | None
    ) -> Scene:
        top, bottom = colour(rng), colour(rng)
        shapes = []
        for _ in range(SHAPES_BY_QUALITY.get(quality or "medium", 16)):
            x0, y0 = rng.randrange(width), rng.randrange(height)
            x1 = min(width, x0 + rng.randrange(8, max(9, width // 3)))
            y1 = min(height, y0 + rng.randrange(8, max(9, height // 3)))
            drift = (rng.randint(-width // 6, width // 6), rng.randint(-height // 6, height // 6))
            shapes.append(Shape(rng.random() < 0.5, (x0, y0, x1, y1), drift, colour(rng), colour(rng)))
        rings = RINGS_BY_COMPLEXITY.get(complexity or "medium", 1)
        return cls(width, height, top, bottom, tuple(shapes), rings, outline=complexity == "high")

    def placed(self, phase: float, drawn: int | None = None) -> list[tuple[Shape, tuple[int, int, int, int]]]:
        """Each shape (the first ``drawn`` of them) with its box at ``phase``."""
        result = []
        for shape in self.shapes[:drawn]:
            dx, dy = round(shape.drift[0] * phase), round(shape.drift[1] * phase)
            x0, y0, x1, y1 = shape.box
            result.append((shape, (x0 + dx, y0 + dy, x1 + dx, y1 + dy)))
        return result

    def raster(self, phase: float, transparent: bool, drawn: int | None = None) -> Image.Image:
        size = (self.width, self.height)
        if transparent:
            picture = Image.new("RGBA", size, (0, 0, 0, 0))
        else:
            gradient = Image.linear_gradient("L").resize(size)
            picture = Image.composite(
                Image.new("RGBA", size, self.bottom), Image.new("RGBA", size, self.top), gradient
            )
        draw = ImageDraw.Draw(picture)
        for shape, box in self.placed(phase, drawn):
            for ring, inner in enumerate(_rings(box, self.rings)):
                fill = shape.fill if ring % 2 == 0 else shape.ring
                outline = (0, 0, 0, 255) if self.outline and ring == 0 else None
                (draw.ellipse if shape.ellipse else draw.rectangle)(inner, fill=fill, outline=outline)
        return picture

    def svg(self, transparent: bool, title: str, underlay_png_b64: str | None = None) -> bytes:
        """The scene as an SVG document (phase 0); ``underlay_png_b64`` is drawn first (an edited photo)."""
        w, h = self.width, self.height
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
            f"<title>{escape(title)}</title>",
        ]
        if not transparent:
            parts += [
                '<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">'
                f'<stop offset="0" stop-color="{_hex(self.top)}"/><stop offset="1" stop-color="{_hex(self.bottom)}"/>'
                "</linearGradient></defs>",
                f'<rect width="{w}" height="{h}" fill="url(#sky)"/>',
            ]
        if underlay_png_b64 is not None:
            parts.append(
                f'<image width="{w}" height="{h}" href={quoteattr("data:image/png;base64," + underlay_png_b64)}/>'
            )
        for shape, box in self.placed(0.0):
            for ring, (x0, y0, x1, y1) in enumerate(_rings(box, self.rings)):
                fill = _hex(shape.fill if ring % 2 == 0 else shape.ring)
                stroke = ' stroke="#000000"' if self.outline and ring == 0 else ""
                if shape.ellipse:
                    parts.append(
                        f'<ellipse cx="{(x0 + x1) / 2:g}" cy="{(y0 + y1) / 2:g}" rx="{(x1 - x0) / 2:g}" '
                        f'ry="{(y1 - y0) / 2:g}" fill="{fill}"{stroke}/>'
                    )
                else:
                    parts.append(
                        f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="{fill}"{stroke}/>'
                    )
        parts.append("</svg>")
        return "\n".join(parts).encode()


def colour(rng: random.Random, alpha: int = 255) -> Colour:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256), alpha


def _rings(box: tuple[int, int, int, int], rings: int) -> list[tuple[int, int, int, int]]:
    """The box, then ``rings`` boxes inside it, each shrunk towards the centre."""
    x0, y0, x1, y1 = box
    boxes = [box]
    for ring in range(1, rings + 1):
        inset_x, inset_y = (x1 - x0) * ring // (2 * rings + 2), (y1 - y0) * ring // (2 * rings + 2)
        if x1 - x0 - 2 * inset_x < 2 or y1 - y0 - 2 * inset_y < 2:
            break
        boxes.append((x0 + inset_x, y0 + inset_y, x1 - inset_x, y1 - inset_y))
    return boxes


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour[:3])
