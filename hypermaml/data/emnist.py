"""EMNIST ByClass (Cohen et al., 2017): 62 classes 0-9, A-Z, a-z, as dark-on-light 28x28 images."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import LabelledImages, data_root

TILE = 28


def _invert(tiles: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) uint8 white-on-black -> (N, 1, 28, 28) float dark-on-light."""
    return 1.0 - torch.from_numpy(tiles).float().div_(255.0)[:, None]


def load_emnist(root: str | os.PathLike | None = None, classes: list[int] | None = None) -> LabelledImages:
    """The ByClass test split from the WebP sprite sheets in ``emnist-byclass-test/``.

    Args:
        root: the data folder (default ``$HYPERMAML_DATA``).
        classes: only these class indices (0..61), relabelled 0..len-1 in the order given.

    Returns:
        Class names are the characters themselves ("0".."9", "A".."Z", "a".."z").
    """
    folder = data_root(root) / "emnist-byclass-test"
    meta = json.loads((folder / "test.json").read_text())
    if (meta["width"], meta["height"]) != (TILE, TILE):
        raise ValueError(f"expected {TILE}x{TILE} tiles, the metadata says {meta['width']}x{meta['height']}")
    labels = np.asarray(meta["id"], dtype=np.int64)
    tiles = []
    for name in meta["files"]:
        with Image.open(folder / name) as sheet:
            arr = np.asarray(sheet.convert("L"))
        rows, cols = arr.shape[0] // TILE, arr.shape[1] // TILE
        grid = arr[: rows * TILE, : cols * TILE].reshape(rows, TILE, cols, TILE).swapaxes(1, 2).reshape(-1, TILE, TILE)
        first, last = (int(v) for v in Path(name).stem.split("_")[-3::2])  # X_test_<first>_to_<last>
        tiles.append(grid[: last - first + 1])
    images = np.concatenate(tiles)
    if len(images) != len(labels):
        raise ValueError(f"decoded {len(images)} tiles but test.json has {len(labels)} labels")
    names = tuple(chr(c) for c in meta["mapping"])
    if classes is not None:
        bad = [c for c in classes if not 0 <= c < len(names)]
        if bad:
            raise ValueError(f"EMNIST class indices must be in 0..{len(names) - 1}; got {bad}")
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
        remap = {c: i for i, c in enumerate(classes)}
        labels = np.asarray([remap[int(c)] for c in labels], dtype=np.int64)
        names = tuple(names[c] for c in classes)
    return LabelledImages(_invert(images), torch.from_numpy(labels), names)


def load_emnist_idx(images_gz: str | os.PathLike, labels_gz: str | os.PathLike, mapping: str | None = None) -> LabelledImages:
    """The official EMNIST idx files a user downloads (e.g. ``emnist-byclass-test-images-idx3-ubyte.gz``).

    Official EMNIST images are stored transposed; they are turned upright here and inverted to dark on
    light. ``mapping`` is the class characters in label order (default ByClass: 0-9, A-Z, a-z).
    """
    with gzip.open(images_gz, "rb") as f:
        raw = f.read()
    magic = int(np.frombuffer(raw[:4], dtype=">u4")[0]) if len(raw) >= 16 else None
    if magic != 2051:
        raise ValueError(f"{images_gz} is not an idx3 image file (magic {magic}, expected 2051)")
    n, h, w = np.frombuffer(raw[4:16], dtype=">u4")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w).transpose(0, 2, 1)
    with gzip.open(labels_gz, "rb") as f:
        raw = f.read()
    magic = int(np.frombuffer(raw[:4], dtype=">u4")[0]) if len(raw) >= 8 else None
    if magic != 2049:
        raise ValueError(f"{labels_gz} is not an idx1 label file (magic {magic}, expected 2049)")
    m = int(np.frombuffer(raw[4:8], dtype=">u4")[0])
    if m != n:
        raise ValueError(f"{n} images but {m} labels")
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)
    chars = mapping or "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    if labels.max() >= len(chars):
        raise ValueError(f"labels go up to {labels.max()} but the mapping has {len(chars)} classes")
    return LabelledImages(_invert(np.ascontiguousarray(images)), torch.from_numpy(labels), tuple(chars))
