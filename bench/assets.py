"""Deterministic, realistic payloads, written once per run to a work directory and read by every process.

A real 1024x1024 photo compresses to roughly 1.2-1.6 MB of PNG; random pixels do not compress at all and
flat ones compress to nothing, so an image here is a mix of noise rows and gradient rows in the proportion
that lands near the wanted encoded size.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

BOUNDARY = "imagegate-bench-boundary-7f3a9c"
MULTIPART_CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@dataclass(frozen=True, slots=True)
class Assets:
    """Paths of the prepared payloads."""

    result_png: Path  # what the emulator returns (as base64 in JSON)
    edit_body: Path  # multipart: two ~1.2 MB PNGs and a mask
    big_edit_body: Path  # multipart: two ~10 MB PNGs

    def sizes(self) -> dict[str, int]:
        return {name: path.stat().st_size for name, path in self._paths().items()}

    def _paths(self) -> dict[str, Path]:
        return {
            "result_png": self.result_png,
            "edit_body": self.edit_body,
            "big_edit_body": self.big_edit_body,
        }


def noisy_png(side: int, target_bytes: int, seed: int) -> bytes:
    """A ``side`` x ``side`` RGB PNG of about ``target_bytes``."""
    rng = random.Random(seed)
    row_bytes = 3 * side
    noisy_rows = int(side * min(1.0, target_bytes / (row_bytes * side)))
    gradient_row = bytes(x * 255 // row_bytes for x in range(row_bytes))
    rows = [
        rng.randbytes(row_bytes)
        if (i * noisy_rows) // side != ((i + 1) * noisy_rows) // side
        else gradient_row
        for i in range(side)
    ]
    return _encode(Image.frombytes("RGB", (side, side), b"".join(rows)))


def mask_png(side: int) -> bytes:
    """An RGBA mask whose left half is transparent (the area to edit)."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, side // 2, side))
    return _encode(image)


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def multipart_body(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> bytes:
    """A multipart/form-data body with ``BOUNDARY``: text ``fields``, then ``(name, filename, png)`` files."""
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, filename, content in files:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def prepare(directory: Path, model: str) -> Assets:
    """Write every payload into ``directory`` (about 25 MB)."""
    directory.mkdir(parents=True, exist_ok=True)
    fields = {
        "model": model,
        "prompt": "Replace the left half with a lighthouse at dusk",
        "size": "1024x1024",
    }
    edit = multipart_body(
        fields,
        [
            ("image[]", "photo-a.png", noisy_png(1024, 1_200_000, seed=2)),
            ("image[]", "photo-b.png", noisy_png(1024, 1_200_000, seed=3)),
            ("mask", "mask.png", mask_png(1024)),
        ],
    )
    big_edit = multipart_body(
        fields,
        [
            ("image[]", "large-a.png", noisy_png(2048, 10_000_000, seed=4)),
            ("image[]", "large-b.png", noisy_png(2048, 10_000_000, seed=5)),
        ],
    )
    assets = Assets(
        result_png=directory / "result.png",
        edit_body=directory / "edit.multipart",
        big_edit_body=directory / "big-edit.multipart",
    )
    assets.result_png.write_bytes(noisy_png(1024, 1_200_000, seed=1))
    assets.edit_body.write_bytes(edit)
    assets.big_edit_body.write_bytes(big_edit)
    return assets
