"""User images: a folder with one sub-folder per class, the same as a zip, or single image files.

By default (``channels=1``, characters) every image becomes a (1, 28, 28) float tensor in [0, 1], dark ink on
a light background: EXIF rotation is applied, any mode (RGBA, palette, 16-bit, CMYK, ...) is flattened onto
white and turned to grey, huge images are downscaled while decoding, a photo of a sheet on a darker desk is
cropped to the sheet and light-on-dark pictures are inverted (both with ``polarity="auto"``), the picture is
padded to a square with its background colour, and its contrast is stretched so that the paper is white and
the darkest ink black (a photo of paper is grey, not white). A picture on which nothing stands out from the
paper at the models' size (blank, or strokes too thin and faint to survive the shrinking) is refused.

``channels=3`` keeps colour (photos, as in the paper's miniImageNet and CUB benchmarks): (3, size, size) RGB in
[0, 1], EXIF rotation applied, transparency flattened onto white, the picture scaled so that its shorter side is
``size`` and its centre cropped to a square; no polarity change and no contrast stretch (``polarity="invert"``
still inverts). ``size`` (default 28) sets the side of the square in either mode.

An animated image gives its first frame. Errors say, in plain words, what is wrong with the file and what to do.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .base import LabelledImages
from .transforms import IMAGE_SIZE, resize_images

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
MAX_DECODE_SIDE = 1024  # bigger pictures are reduced while decoding: 28x28 is the goal anyway
MAX_PIXELS = 100_000_000  # refuse decompression bombs beyond this (PIL's own guard is 179M)
MIN_SIDE = 8  # smaller pictures cannot show a character: a 1x1 image would become a blank (or black) square
MIN_CONTRAST = 0.1  # a character whose ink differs from its paper by less, once at the models' size, is not there
Polarity = Literal["auto", "keep", "invert"]
CHANNELS = (1, 3)  # grey characters, colour pictures


class ImageError(ValueError):
    """An input that cannot become a training or query image; the message names it and says why."""


def image_from_bytes(
    data: bytes, name: str = "image", polarity: Polarity = "auto", channels: int = 1, size: int = IMAGE_SIZE
) -> torch.Tensor:
    """Decode one image file's bytes into a (1, size, size) dark-on-light tensor, or with ``channels=3`` a
    (3, size, size) colour one (see the module's docstring).

    Raises ``ImageError`` for anything that is not a usable image (with ``name`` in the message): not an
    image, corrupt, too large to open safely, too small to show a character, in a colour mode PIL cannot
    convert, or (grey) blank once at ``size``; ``ValueError`` for a
    ``channels`` other than 1 or 3 or a ``size`` below 1.
    """
    _check_options(channels, size)
    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_size(name, im.width, im.height)
            mode = "L" if channels == 1 else "RGB"
            im.draft(mode, (MAX_DECODE_SIDE, MAX_DECODE_SIDE))  # JPEG: decode at reduced size, cheaply
            orientation = im.getexif().get(0x0112, 1)  # read before the picture is reduced into a new image
            im = _reduce_large(im)
            if orientation in _EXIF_TRANSPOSE:
                im = im.transpose(_EXIF_TRANSPOSE[orientation])
            try:
                pixels = _to_grey(im) if channels == 1 else _to_rgb(im)
            except ValueError as exc:  # PIL: "conversion from X to Y not supported" (the file itself is fine)
                if "conversion" not in str(exc):
                    raise  # corrupt pixel data, met while converting: said below
                raise ImageError(
                    f"{name} is stored in a colour mode ({im.mode}) that cannot be turned into "
                    f"{'grey' if channels == 1 else 'RGB'} here; save it as PNG or JPEG"
                ) from exc
            pixels.thumbnail((MAX_DECODE_SIDE, MAX_DECODE_SIDE))
            arr = np.asarray(pixels, dtype=np.float32) / 255.0
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # PIL refuses before we can look: say the size it read
        size = _declared_size(data)
        if size is not None:
            _check_size(name, *size)
        raise ImageError(
            f"{name} has too many pixels to open (at most {MAX_PIXELS // 1_000_000} megapixels); shrink it first"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name} is not an image file we can open (use PNG or JPEG)") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise ImageError(f"{name} is corrupt or truncated: only part of it could be read (save or export it again)") from exc
    if channels == 3:
        return prepare_colour(torch.from_numpy(arr).permute(2, 0, 1), polarity, size)
    x = prepare(torch.from_numpy(arr), polarity, size)
    if float(x.amax() - x.amin()) < MIN_CONTRAST:
        raise ImageError(
            f"{name} looks blank at the models' {size}×{size} pixels: nothing on it stands out from the paper "
            "(draw with a thicker or darker pen, or crop closer to the character)"
        )
    return x


def _check_options(channels: int, size: int) -> None:
    if channels not in CHANNELS:
        raise ValueError(f"channels must be 1 (grey characters) or 3 (colour), got {channels!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a whole number of pixels >= 1, got {size!r}")


def _check_size(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name} is {width}×{height} pixels, too large to open (at most {MAX_PIXELS // 1_000_000} megapixels); "
            "shrink it first"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name} is {width}×{height} pixels, too small to show a character (at least {MIN_SIDE} pixels on each side)"
        )


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the file's header, read without PIL's decompression-bomb check (which refuses
    such a file before telling its size); only the header is parsed, never the pixels."""
    Image.init()
    for factory, accept in list(Image.OPEN.values()):
        try:
            if accept is not None and not accept(data[:16]):
                continue
            im = factory(io.BytesIO(data))
            try:
                return im.size
            finally:
                im.close()
        except Exception:  # noqa: BLE001 - any plugin that cannot read the header simply does not match
            continue
    return None


_EXIF_TRANSPOSE = {  # EXIF orientation -> the transposition that shows the picture upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _reduce_large(im: Image.Image) -> Image.Image:
    """A picture at least twice ``MAX_DECODE_SIDE`` on a side, reduced by a whole factor in its own mode before
    any conversion: converting a 10,000-pixel PNG to grey at full size (through RGBA and white paper, or 16 bits
    through floats) held about 2 GB. Transparency is averaged premultiplied, as compositing on paper would see it;
    palette pictures are left whole (their conversion is what makes them averageable)."""
    factor = max(im.size) // MAX_DECODE_SIDE
    if factor < 2 or im.mode in ("P", "PA", "1"):
        return im
    if im.mode in ("I;16", "I;16B", "I;16L"):
        im = im.convert("I")
    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(im.mode)
    if premultiplied:
        return im.convert(premultiplied).reduce(factor).convert(im.mode)
    return im.reduce(factor)


def _to_grey(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 'L', transparent parts becoming white paper."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float32)
        hi = arr.max() if arr.max() > 0 else 1.0
        return Image.fromarray((arr / hi * 255).astype(np.uint8))
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = arr.min(), arr.max()
        return Image.fromarray(((arr - lo) / ((hi - lo) or 1.0) * 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(paper, rgba).convert("L")
        lo, hi = flat.getextrema()
        alpha_lo, alpha_hi = rgba.getchannel("A").getextrema()
        if hi - lo < 26 and alpha_hi - alpha_lo > 128:
            # light ink on a transparent background (a drawing app in dark mode): on white paper it vanishes,
            # and the drawing is in the alpha channel alone
            return rgba.getchannel("A").point(lambda v: 255 - v)
        return flat
    if im.mode in ("CMYK", "LAB", "HSV"):  # PIL converts these to RGB only (LAB: a TIFF from a photo editor)
        return im.convert("RGB").convert("L")
    return im.convert("L")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 'RGB', transparent parts becoming white; 16-bit and float pictures through grey."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _to_grey(im).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return im.convert("RGB")


def prepare_colour(rgb: torch.Tensor, polarity: Polarity = "auto", size: int = IMAGE_SIZE) -> torch.Tensor:
    """(3, H, W) colour values in [0, 1] -> (3, size, size): the centre square (the shorter side), resized
    (antialiased); inverted only for ``polarity="invert"`` (a photo has no ink and paper to tell apart)."""
    if polarity not in ("auto", "keep", "invert"):
        raise ValueError(f"polarity must be 'auto', 'keep' or 'invert', got {polarity!r}")
    if polarity == "invert":
        rgb = 1.0 - rgb
    _, h, w = rgb.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = rgb[:, top : top + side, left : left + side]
    return resize_images(square[None].contiguous(), size)[0]


def prepare(grey: torch.Tensor, polarity: Polarity = "auto", size: int = IMAGE_SIZE) -> torch.Tensor:
    """(H, W) grey values in [0, 1] -> (1, size, size): polarity fixed, padded to a square, resized, contrast
    stretched (paper white, darkest ink black)."""
    if polarity not in ("auto", "keep", "invert"):
        raise ValueError(f"polarity must be 'auto', 'keep' or 'invert', got {polarity!r}")
    if polarity == "auto":
        grey = _on_paper(grey)
    if polarity == "invert" or (polarity == "auto" and _light_on_dark(grey)):
        grey = 1.0 - grey  # light ink on a dark background: turn it into dark on light
    h, w = grey.shape
    side = max(h, w)
    background = float(_border(grey).median())
    square = torch.full((side, side), background)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = grey
    return _stretch(resize_images(square[None, None], size)[0])


def _border(grey: torch.Tensor) -> torch.Tensor:
    return torch.cat([grey[0], grey[-1], grey[:, 0], grey[:, -1]])


def _on_paper(grey: torch.Tensor) -> torch.Tensor:
    """A photo of a sheet of paper lying on a darker desk, cropped to the sheet; any other picture unchanged.

    Read by its border alone, such a photo looks like light ink on a dark background (it would be inverted) and
    the desk would stay as a dark frame of "ink". The sheet is the block of rows and columns holding at least
    half as many light pixels (above the middle of the picture's range) as the lightest row and column. It is
    taken for a sheet only when it is a fifth of the picture or more, at least 85% light (writing covers less),
    with three quarters of its rows and columns nearly as light as its lightest (straight edges, not the
    outline of a letter), with light edges and something dark on it, that dark thin (strokes, not the holes of
    a bold "口" or "日"), with hardly any of the dark that reaches the picture's edge inside it (ink on a sheet
    does not reach it, the gaps of a bold light letter do), and mostly dark around it on at least three sides. Chalk strokes, bold letters light on dark and a character
    that merely touches the edge are none of that: of 8,000 Omniglot and EMNIST characters, inverted to light
    on dark, none is cropped. A few per cent are cut inside the sheet's edge, where its shadow lies."""
    h, w = grey.shape
    step = max(1, max(h, w) // 128)  # the shape of a sheet needs no finer grid
    small = grey[::step, ::step]
    lo, hi = _ink_range(small)
    if hi - lo < MIN_CONTRAST:
        return grey
    light = small > (lo + hi) / 2
    sh, sw = light.shape
    row_light, col_light = light.float().mean(1), light.float().mean(0)
    rows = torch.nonzero(row_light >= 0.5 * float(row_light.max())).flatten()
    cols = torch.nonzero(col_light >= 0.5 * float(col_light.max())).flatten()
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if sum(m >= 0.02 for m in (top / sh, (sh - bottom) / sh, left / sw, (sw - right) / sw)) < 3:
        return grey  # no dark frame on three sides
    inside = light[top:bottom, left:right].float()
    outside_light = int(light.sum()) - int(inside.sum())
    if inside.numel() < 0.2 * sh * sw or outside_light > 0.3 * (sh * sw - inside.numel()):
        return grey  # too small for a sheet (where thick light strokes cross), or no dark desk around it
    rows_full, cols_full = inside.mean(1), inside.mean(0)
    flat = min(
        float((rows_full >= 0.75 * rows_full.max()).float().mean()), float((cols_full >= 0.75 * cols_full.max()).float().mean())
    )
    if float(inside.mean()) < 0.85 or flat < 0.75:
        return grey  # more dark on it than writing leaves, or a ragged outline
    inset = max(1, round(0.03 * min(bottom - top, right - left)))
    if bottom - top <= 2 * inset + 2 or right - left <= 2 * inset + 2:
        return grey
    sheet = light[top + inset : bottom - inset, left + inset : right - inset]
    if float(_border(sheet.float()).mean()) < 0.8 or float(sheet.float().mean()) > 0.995:
        return grey  # a sheet has light edges and something drawn on it
    # writing is thin: eroding the dark by the inset removes it, where the holes of a bold light letter remain
    wide_dark = ~(torch.nn.functional.max_pool2d(sheet.float()[None, None], 2 * inset + 1, 1, inset)[0, 0] > 0)
    if float(wide_dark.float().mean()) > 0.01:
        return grey
    if float(_reaches_edge(~light)[top:bottom, left:right].float().mean()) > 0.05:
        return grey  # the desk's dark runs into the block: the gaps of a bold light letter
    crop = grey[(top + inset) * step : (bottom - inset) * step, (left + inset) * step : (right - inset) * step]
    return crop if min(crop.shape) >= MIN_SIDE else grey


def _reaches_edge(mask: torch.Tensor) -> torch.Tensor:
    """The pixels of ``mask`` joined to the picture's edge through ``mask`` (8-neighbours)."""
    from scipy import ndimage  # connected components in one pass (a picture rarely gets this far)

    labels, _ = ndimage.label(mask.numpy(), structure=np.ones((3, 3), dtype=bool))
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return torch.from_numpy(np.isin(labels, edge[edge > 0]))


def _ink_range(grey: torch.Tensor) -> tuple[float, float]:
    """The picture's darkest and lightest values, ignoring the 1% outliers at each end (noise, a speck)."""
    lo, hi = torch.quantile(grey.flatten(), torch.tensor([0.01, 0.99]))
    return float(lo), float(hi)


def _light_on_dark(grey: torch.Tensor) -> bool:
    """Whether the paper (the border) is nearer the image's darkest values than its lightest: grey paper in a
    dim photo is still paper. A picture with hardly any contrast falls back to "the border is dark"."""
    step = max(1, max(grey.shape) // 256)  # quantiles of a subsample: a 1024-px photo needs no more
    lo, hi = _ink_range(grey[::step, ::step])
    paper = float(_border(grey).median())
    if hi - lo < MIN_CONTRAST:
        return paper < 0.5
    return paper - lo < hi - paper


def _stretch(x: torch.Tensor) -> torch.Tensor:
    """(1, size, size) -> the same with the paper (border median) at 1 and the darkest pixel at 0, as in the
    scanned characters the models were trained on. A nearly blank picture is left as it is: stretching it
    would turn noise into strokes (``image_from_bytes`` refuses it)."""
    paper = float(_border(x[0]).median())
    ink = float(x.min())
    if paper - ink < MIN_CONTRAST:
        return x
    return ((x - ink) / (paper - ink)).clamp(0.0, 1.0)


def system_path(name: str) -> bool:
    """A path under a folder the system made, not the user: hidden folders (.thumbnails, .ipynb_checkpoints),
    macOS's __MACOSX, Synology's @eaDir (the folder reader skips hidden folders the same way)."""
    return any(part.startswith(".") or part in ("__MACOSX", "@eaDir") for part in name.split("/")[:-1])


def _is_image_name(name: str) -> bool:
    base = posixpath.basename(name)
    return not base.startswith(".") and Path(base).suffix.lower() in IMAGE_SUFFIXES


def _assemble(per_class: dict[str, list[torch.Tensor]], source: str, min_per_class: int) -> LabelledImages:
    if not per_class:
        raise ImageError(f"{source} has no class folders with images (expected one sub-folder per class)")
    for name, images in per_class.items():
        if len(images) < min_per_class:
            raise ImageError(f"class {name!r} in {source} has {len(images)} image(s); at least {min_per_class} needed")
    names = sorted(per_class)
    x = torch.stack([img for n in names for img in per_class[n]])
    y = torch.cat([torch.full((len(per_class[n]),), i, dtype=torch.long) for i, n in enumerate(names)])
    return LabelledImages(x, y, tuple(names))


def load_image_folder(
    path: str | os.PathLike,
    polarity: Polarity = "auto",
    min_per_class: int = 1,
    *,
    channels: int = 1,
    size: int = IMAGE_SIZE,
) -> LabelledImages:
    """A folder holding one sub-folder per class; class names are the sub-folder names (sorted).

    Images are (1, 28, 28) dark-on-light characters by default; ``channels=3`` keeps colour and ``size`` sets
    the side, e.g. ``load_image_folder(path, channels=3, size=84)`` for the paper's 84x84 RGB benchmarks (a
    Conv4 built with ``BackboneConfig(in_channels=3, image_size=84)`` takes them). See the module docstring.
    """
    _check_options(channels, size)
    root = Path(path)
    if not root.is_dir():
        raise ImageError(f"{root} is not a folder" if root.exists() else f"{root} does not exist (from {Path.cwd()})")
    per_class: dict[str, list[torch.Tensor]] = {}
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in class_dir.iterdir() if f.is_file() and _is_image_name(f.name))
        per_class[class_dir.name] = [
            image_from_bytes(f.read_bytes(), f"{class_dir.name}/{f.name}", polarity, channels, size) for f in files
        ]
    return _assemble(per_class, str(root), max(1, min_per_class))


def check_zip_member(info: zipfile.ZipInfo) -> str:
    """The member's normalised path; ``ImageError`` for absolute paths, ``..`` and links."""
    name = info.filename.replace("\\", "/")
    if not info.flag_bits & 0x800:  # no UTF-8 flag: Info-ZIP and macOS still write UTF-8 names, read as cp437
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass  # a real cp437 name
    # a drive ("C:/...", "C:" alone); "A: apple/1.png" is a folder named "A: apple"
    if name.startswith("/") or (len(name) > 1 and name[0].isalpha() and name[1] == ":" and name[2:3] in ("", "/")):
        raise ImageError(f"the zip holds an absolute path ({info.filename!r}); refusing it")
    if ".." in name.split("/"):
        raise ImageError(f"the zip holds a path outside its folder ({info.filename!r}); refusing it")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise ImageError(f"the zip holds a symbolic link ({info.filename!r}); refusing it")
    return name


def read_image_zip(
    source: str | os.PathLike | bytes | zipfile.ZipFile,
    max_total_bytes: int = 200_000_000,
    max_files: int = 20_000,
    *,
    by_path: bool = False,
) -> dict[str, list[tuple[str, bytes]]]:
    """A zip with one folder per class (optionally inside one top folder), read in memory, never extracted:
    class name -> [(file name, raw bytes)], classes and files in sorted order.

    A class is named by its folder's path below the folders that every image shares: ``task/cat/1.png`` and
    ``task/dog/1.png`` give "cat" and "dog", while ``a/circle/1.png`` and ``b/circle/1.png`` stay two classes,
    "a/circle" and "b/circle", never one merged class.

    Refuses absolute paths, ``..`` components, links, more than ``max_files`` images and archives that
    expand past ``max_total_bytes`` (checked on the bytes actually decompressed, not the header's claim).
    An open ``ZipFile`` is read and left open (a caller that reads more from it opens it once). With
    ``by_path=True`` the keys are the folders' whole paths in the zip (``class_names`` gives the class names).
    """
    label = "the zip" if isinstance(source, (bytes, zipfile.ZipFile)) else str(source)
    if isinstance(source, zipfile.ZipFile):
        archive, closing = source, contextlib.nullcontext(source)
    else:
        try:
            archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        except zipfile.BadZipFile as exc:
            raise ImageError(f"{label} is not a zip archive") from exc
        closing = archive
    with closing:
        if len(archive.infolist()) > 2 * max_files + 1000:  # each entry costs time however small it is
            raise ImageError(f"{label} holds {len(archive.infolist()):,} entries; the limit is {2 * max_files + 1000:,}")
        members = [(check_zip_member(m), m) for m in archive.infolist()]
        files = [(n, m) for n, m in members if not m.is_dir() and _is_image_name(n) and not system_path(n)]
        if len(files) > max_files:
            raise ImageError(f"{label} holds {len(files)} images; the limit is {max_files}")
        declared = sum(m.file_size for _, m in files)
        if declared > max_total_bytes:
            raise ImageError(f"{label} expands to {declared:,} bytes; the limit is {max_total_bytes:,}")
        if "" in {posixpath.dirname(n) for n, _ in files}:
            raise ImageError(f"{label} has images at its top level; put each class's images in a folder named after the class")
        folders = {posixpath.dirname(n) for n, _ in files}
        class_of = {f: f for f in folders} if by_path else class_names(folders)
        per_class: dict[str, list[tuple[str, bytes]]] = {}
        total = 0
        for name, member in sorted(files):
            try:
                with archive.open(member) as f:
                    data = f.read(max_total_bytes - total + 1)
            except NotImplementedError as exc:  # Deflate64, LZMA variants Python does not read (a RuntimeError too)
                raise ImageError(
                    f"{label} uses a compression this reader cannot open ({name}); zip the folders again with the "
                    "system's own zip tool"
                ) from exc
            except RuntimeError as exc:  # zipfile: "... is encrypted, password required"
                raise ImageError(f"{label} is password-protected ({name}); zip the folders again without a password") from exc
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ImageError(f"{label} is damaged ({name}: {exc}); zip the folders again") from exc
            total += len(data)
            if total > max_total_bytes:
                raise ImageError(f"{label} expands past {max_total_bytes:,} bytes; refusing it")
            per_class.setdefault(class_of[posixpath.dirname(name)], []).append((name, data))
    if not per_class:
        raise ImageError(f"{label} has no class folders with images (expected one sub-folder per class)")
    return dict(sorted(per_class.items()))


def class_names(folders: set[str]) -> dict[str, str]:
    """Folder path -> class name: the path less the leading folders that every path shares (always keeping
    at least the last part), so that equal folder names in different places stay apart."""
    parts = {f: f.split("/") for f in folders}
    keep_last = min((len(p) for p in parts.values()), default=1) - 1
    shared = 0
    while shared < keep_last and len({tuple(p[: shared + 1]) for p in parts.values()}) == 1:
        shared += 1
    return {f: "/".join(p[shared:]) for f, p in parts.items()}


def load_image_zip(
    source: str | os.PathLike | bytes,
    polarity: Polarity = "auto",
    min_per_class: int = 1,
    max_total_bytes: int = 200_000_000,
    max_files: int = 20_000,
    *,
    channels: int = 1,
    size: int = IMAGE_SIZE,
) -> LabelledImages:
    """``read_image_zip``, decoded: one class per folder, every image 28x28 dark on light (``channels`` and
    ``size`` as in ``load_image_folder``)."""
    _check_options(channels, size)
    label = "the zip" if isinstance(source, bytes) else str(source)
    raw = read_image_zip(source, max_total_bytes, max_files)
    per_class = {c: [image_from_bytes(data, name, polarity, channels, size) for name, data in files] for c, files in raw.items()}
    return _assemble(per_class, label, max(1, min_per_class))
