"""EMNIST ByClass (Cohen et al., 2017): 62 classes 0-9, A-Z, a-z, as dark-on-light 28x28 images."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .base import LabelledImages, data_file, data_root

TILE = 28
FOLDER = "emnist-byclass-test"
# The official ByClass test files, as inside EMNIST's gzip.zip (under gzip/) and in a prepared data folder.
IDX_FILES = ("emnist-byclass-test-images-idx3-ubyte.gz", "emnist-byclass-test-labels-idx1-ubyte.gz")
BYCLASS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # the class of each label 0..61


def _invert(tiles: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) uint8 white-on-black -> (N, 1, 28, 28) float dark-on-light (in place: one float copy at a
    time; ``(-v) + 1`` is bit for bit ``1 - v``)."""
    return torch.from_numpy(tiles).float().div_(255.0).neg_().add_(1.0)[:, None]


def load_emnist(root: str | os.PathLike | None = None, classes: list[int] | None = None) -> LabelledImages:
    """The ByClass test split from ``emnist-byclass-test/``: the WebP sprite sheets with ``test.json`` when they
    are there, else the official idx files ``hypermaml data prepare`` writes (the same images in the same order).

    Args:
        root: the data folder (default ``$HYPERMAML_DATA``, else the per-user folder).
        classes: only these class indices (0..61), relabelled 0..len-1 in the order given.

    Returns:
        Class names are the characters themselves ("0".."9", "A".."Z", "a".."z").

    Raises:
        DataMissingError: a file is missing (the message names it and the command that makes it).
    """
    folder = data_root(root) / FOLDER
    if (folder / "test.json").is_file() or any(folder.glob("X_test_*.webp")):
        images, labels, names = _read_sheets(root)
    else:
        images, labels = read_emnist_idx(data_file(root, FOLDER, IDX_FILES[0]), data_file(root, FOLDER, IDX_FILES[1]))
        names = tuple(BYCLASS)
        if len(labels) and labels.max() >= len(names):
            raise ValueError(f"{IDX_FILES[1]} has labels up to {labels.max()}; ByClass has {len(names)} classes")
    if classes is not None:
        bad = [c for c in classes if not 0 <= c < len(names)]
        if bad:
            raise ValueError(f"EMNIST class indices must be in 0..{len(names) - 1}; got {bad}")
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
        remap = np.zeros(len(names), dtype=np.int64)
        remap[classes] = np.arange(len(classes))
        labels = remap[labels]
        names = tuple(names[c] for c in classes)
    return LabelledImages(_invert(np.ascontiguousarray(images)), torch.from_numpy(labels), names)


def _read_sheets(root: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(images (N, 28, 28) uint8 upright white on black, labels (N,) int64, class names) from the sprite sheets."""
    meta = json.loads(data_file(root, FOLDER, "test.json").read_text())
    if (meta["width"], meta["height"]) != (TILE, TILE):
        raise ValueError(f"expected {TILE}x{TILE} tiles, the metadata says {meta['width']}x{meta['height']}")
    labels = np.asarray(meta["id"], dtype=np.int64)
    tiles = []
    for name in meta["files"]:
        with Image.open(data_file(root, FOLDER, name)) as sheet:
            arr = np.asarray(sheet.convert("L"))
        rows, cols = arr.shape[0] // TILE, arr.shape[1] // TILE
        grid = arr[: rows * TILE, : cols * TILE].reshape(rows, TILE, cols, TILE).swapaxes(1, 2).reshape(-1, TILE, TILE)
        first, last = (int(v) for v in Path(name).stem.split("_")[-3::2])  # X_test_<first>_to_<last>
        tiles.append(grid[: last - first + 1])
    images = np.concatenate(tiles)
    if len(images) != len(labels):
        raise ValueError(f"decoded {len(images)} tiles but test.json has {len(labels)} labels")
    return images, labels, tuple(chr(c) for c in meta["mapping"])


def read_emnist_idx(images_gz: str | os.PathLike, labels_gz: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The official EMNIST idx files (e.g. ``emnist-byclass-test-images-idx3-ubyte.gz`` and its labels file).

    Returns:
        images (N, H, W) uint8, white ink on black, upright (the files store each image transposed);
        labels (N,) int64.

    Raises:
        ValueError: not idx files, or image and label counts that differ.
    """
    with gzip.open(images_gz, "rb") as f:
        raw = f.read()
    magic = int(np.frombuffer(raw[:4], dtype=">u4")[0]) if len(raw) >= 16 else None
    if magic != 2051:
        raise ValueError(f"{images_gz} is not an idx3 image file (magic {magic}, expected 2051)")
    n, h, w = (int(v) for v in np.frombuffer(raw[4:16], dtype=">u4"))
    if len(raw) != 16 + n * h * w:
        raise ValueError(f"{images_gz} should hold {n} images of {h}x{w} but has {len(raw) - 16} bytes of pixels")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w).transpose(0, 2, 1)
    with gzip.open(labels_gz, "rb") as f:
        raw = f.read()
    magic = int(np.frombuffer(raw[:4], dtype=">u4")[0]) if len(raw) >= 8 else None
    if magic != 2049:
        raise ValueError(f"{labels_gz} is not an idx1 label file (magic {magic}, expected 2049)")
    m = int(np.frombuffer(raw[4:8], dtype=">u4")[0])
    if m != n or len(raw) != 8 + m:
        raise ValueError(f"{images_gz} has {n} images but {labels_gz} has {len(raw) - 8} labels")
    return images, np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def load_emnist_idx(images_gz: str | os.PathLike, labels_gz: str | os.PathLike, mapping: str | None = None) -> LabelledImages:
    """The official EMNIST idx files a user downloads (e.g. ``emnist-byclass-test-images-idx3-ubyte.gz``).

    Official EMNIST images are stored transposed; they are turned upright here and inverted to dark on
    light. ``mapping`` is the class characters in label order (default ByClass: 0-9, A-Z, a-z).
    """
    images, labels = read_emnist_idx(images_gz, labels_gz)
    chars = mapping or BYCLASS
    if labels.max() >= len(chars):
        raise ValueError(f"labels go up to {labels.max()} but the mapping has {len(chars)} classes")
    return LabelledImages(_invert(np.ascontiguousarray(images)), torch.from_numpy(labels), tuple(chars))
