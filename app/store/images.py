"""What the store keeps of an image a visitor sends: decoded, checked and re-encoded as a size-bounded grey PNG.

The file must pass the studio's upload checks first (``hypermaml.data.image_from_bytes``: an image we can
open, not too many pixels, not too small, not corrupt), so what is stored is exactly what a page would have
accepted. It is then decoded again into plain grey pixels (EXIF rotation applied, transparency on white
paper, an animation's first frame), shrunk to at most ``MAX_SIDE`` pixels a side and written as a new PNG:
nothing of the sender's file (metadata, extra chunks, other frames) reaches the database or other visitors.
Polarity is not applied: the task's polarity setting is, when the picture is decoded for a model.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from hypermaml.data import ImageError, image_from_bytes
from hypermaml.data.folders import MIN_SIDE, _to_grey  # the same flattening to grey the models' decoder uses

MAX_SIDE = 256  # a stored picture's longest side: 28x28 is what the models see, 256 is plenty for a thumbnail
MAX_FILE_BYTES = 25 * 2**20  # a sent file's raw size, checked before anything decodes it


def to_png(data: bytes, name: str) -> bytes:
    """The bytes to store for one image file: a grey PNG at most ``MAX_SIDE`` pixels a side (never smaller
    than ``MIN_SIDE``). ``ImageError`` naming ``name`` for anything the studio's uploads refuse."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageError(f"{name} did not arrive as a file")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{name} is {len(data) / 2**20:.0f} MB, more than the {MAX_FILE_BYTES // 2**20} MB one image may be")
    data = bytes(data)
    image_from_bytes(data, name)  # the studio's checks, with their messages
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("L", (MAX_SIDE * 2, MAX_SIDE * 2))  # JPEG: decode at a reduced size, cheaply
            grey = _to_grey(ImageOps.exif_transpose(im))
    except (OSError, SyntaxError, ValueError) as exc:  # passed the checks above: should not happen
        raise ImageError(f"{name} could not be read: {exc}") from exc
    width, height = grey.size
    scale = min(1.0, MAX_SIDE / max(width, height))
    if scale < 1.0:  # a very long thin picture keeps MIN_SIDE across, so it still passes the checks when read back
        size = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
        grey = grey.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    grey.save(out, format="PNG")
    return out.getvalue()
