"""Images in [0, 1] kept at one byte per pixel, handed out as the exact float32 values they stand for.

Every reader here makes float32 images from 8-bit pixels, ``v / 255`` or ``1 - v / 255`` (dark on light). A
process that only samples episodes from a split (the studio's workers) can keep the bytes instead: a quarter of
the memory (EMNIST's 58,000 test images: 45 MB instead of 182 MB), and indexing gives back the very same floats,
bit for bit, because the same operations make them. :meth:`ByteImages.from_float` checks that on every image and
declines (``None``) when the floats are not exactly such bytes, e.g. after augmentation or resizing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import replace
from pathlib import Path

import torch

from .base import LabelledImages


class ByteImages:
    """A read-only stand-in for a float image tensor ``x`` (N, C, H, W): ``len``, ``shape``, ``dtype`` and indexing
    (``images[idx]`` is ``x[idx]``, a new float32 tensor). Made by :meth:`from_float`."""

    def __init__(self, levels: torch.Tensor, inverted: bool) -> None:
        if levels.dtype != torch.uint8:
            raise TypeError(f"levels must be uint8, got {levels.dtype}")
        self.levels, self.inverted = levels, inverted

    @staticmethod
    def _decode(levels: torch.Tensor, inverted: bool) -> torch.Tensor:
        x = levels.float().div_(255.0)
        return x.neg_().add_(1.0) if inverted else x  # (-v) + 1 is 1 - v, bit for bit

    @classmethod
    def from_float(cls, x: torch.Tensor, chunk: int = 8192) -> ByteImages | None:
        """The bytes ``x`` was made from, or None when ``x`` is not exactly ``v / 255`` or ``1 - v / 255`` for
        bytes ``v`` (checked image by image, ``chunk`` images at a time, so no second float copy is made)."""
        if x.dtype != torch.float32 or x.ndim < 1 or len(x) == 0:
            return None
        for inverted in (True, False):
            levels = torch.empty(x.shape, dtype=torch.uint8)
            exact = True
            for start in range(0, len(x), chunk):
                part = x[start : start + chunk]
                value = (1.0 - part if inverted else part).mul(255.0).round_()
                if value.min() < 0 or value.max() > 255:
                    exact = False
                    break
                levels[start : start + chunk] = value.to(torch.uint8)
                if not torch.equal(cls._decode(levels[start : start + chunk], inverted), part):
                    exact = False
                    break
            if exact:
                return cls(levels, inverted)
        return None

    def __len__(self) -> int:
        return len(self.levels)

    @property
    def shape(self) -> torch.Size:
        return self.levels.shape

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def __getitem__(self, index) -> torch.Tensor:
        return self._decode(self.levels[index], self.inverted)

    def __repr__(self) -> str:
        return f"ByteImages(shape={tuple(self.shape)}, inverted={self.inverted})"


CACHE_ENV = "HYPERMAML_CACHE"


def cache_dir() -> Path:
    """Where decoded splits are kept as bytes: ``$HYPERMAML_CACHE``, else the per-user cache folder."""
    import platformdirs

    folder = os.environ.get(CACHE_ENV)
    return Path(folder) if folder else Path(platformdirs.user_cache_dir("hypermaml", appauthor=False)) / "splits"


def _source_key(name: str, root: str | os.PathLike | None) -> str:
    """Names the split and every file of the data folder it may be read from (path, size, time): a changed or
    re-prepared folder gets a new cache file."""
    from .base import data_root

    folder = data_root(root)
    digest = hashlib.sha256(f"{name}\n{folder.resolve()}\n".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _compact(data: LabelledImages) -> LabelledImages:
    """``data`` with its images as in-memory :class:`ByteImages` when they are exact bytes, else unchanged."""
    compact = ByteImages.from_float(data.x)
    return data if compact is None else replace(data, x=compact)


def cached_split(name: str, root: str | os.PathLike | None = None) -> LabelledImages:
    """``load_split(name)`` with its images as :class:`ByteImages` memory-mapped from a cache file, when its
    floats are exact bytes (else the float split, uncached). The first call decodes the split once and writes
    the file (one process at a time: others wait for it and map it); every later call, in this process or any
    other, maps the file: the pages are the operating system's file cache, shared by every process reading
    them, and nothing is decoded again (EMNIST's sprite sheets take seconds). Where no cache folder can be
    written (a read-only home), the bytes are kept in this process instead."""
    import fcntl

    from .datasets import load_split

    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / f"{name}-{_source_key(name, root)}"
        with open(folder / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
            if not base.with_suffix(".json").is_file():
                data = load_split(name, root)
                compact = ByteImages.from_float(data.x)
                if compact is None:
                    return data
                _write_atomically(base.with_suffix(".u8"), compact.levels.numpy().tobytes())
                _write_atomically(base.with_suffix(".labels"), data.y.numpy().astype("<i8").tobytes())
                meta = {"shape": list(compact.shape), "inverted": compact.inverted, "class_names": list(data.class_names)}
                _write_atomically(base.with_suffix(".json"), json.dumps(meta).encode())  # last: the rest is complete
    except FileNotFoundError:  # no data folder or file: the reader's one-line message
        raise
    except OSError:  # no cache folder to write
        return _compact(load_split(name, root))
    meta = json.loads(base.with_suffix(".json").read_text())
    shape = tuple(meta["shape"])
    # shared=False: a private mapping (nothing can write the file), whose unwritten pages are the file cache's
    levels = torch.from_file(str(base.with_suffix(".u8")), shared=False, size=math.prod(shape), dtype=torch.uint8)
    labels = torch.from_file(str(base.with_suffix(".labels")), shared=False, size=shape[0], dtype=torch.int64)
    return LabelledImages(ByteImages(levels.view(shape), meta["inverted"]), labels.clone(), tuple(meta["class_names"]))
