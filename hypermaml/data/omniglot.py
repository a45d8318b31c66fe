"""Omniglot (Lake et al.): 1623 characters x 20 drawers, from the npz archives or the official zips."""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .base import LabelledImages, data_file
from .transforms import resize_images

NPZ_FILES = ("images_background.npz", "images_evaluation.npz")


@dataclass(frozen=True)
class Alphabet:
    name: str
    npz_file: str
    first_row: int
    n_characters: int


def omniglot_alphabets(root: str | os.PathLike | None = None) -> list[Alphabet]:
    """The 50 alphabets with their rows in the npz archives (from ``omniglot/alphabets.tsv``)."""
    with open(data_file(root, "omniglot", "alphabets.tsv"), newline="") as f:
        return [
            Alphabet(r["alphabet"], r["npz_file"], int(r["npz_row_first"]), int(r["n_characters"]))
            for r in csv.DictReader(f, delimiter="\t")
        ]


def load_omniglot(
    root: str | os.PathLike | None = None,
    alphabets: list[str] | None = None,
    exclude: tuple[str, ...] = (),
    rotations: tuple[int, ...] = (0,),
    characters: list[str] | None = None,
) -> LabelledImages:
    """Omniglot characters as 28x28 dark-on-light images; one class per (character, rotation).

    Args:
        root: the data folder (default ``$HYPERMAML_DATA``, else the per-user folder); reads ``omniglot/*.npz``
            and ``omniglot/alphabets.tsv`` (``DataMissingError`` names a missing one).
        alphabets: only these alphabets (default all 50).
        exclude: alphabets to leave out (the cross-domain benchmark leaves out "Latin").
        rotations: degrees, each a separate class (the Vinyals protocol uses 0, 90, 180, 270).
        characters: only these "Alphabet/characterNN" names (overrides ``alphabets``; used by splits).

    Returns:
        Class names "Alphabet/characterNN" (with "/rotDDD" when rotations other than 0 are asked for).
    """
    table = omniglot_alphabets(root)
    known = {a.name for a in table}
    for name in list(alphabets or []) + list(exclude):
        if name not in known:
            raise ValueError(f"unknown Omniglot alphabet {name!r}; known: {', '.join(sorted(known))}")
    wanted_chars = set(characters) if characters is not None else None
    rows: dict[str, list[tuple[int, str]]] = {f: [] for f in NPZ_FILES}
    for a in table:
        if a.name in exclude or (alphabets is not None and a.name not in alphabets and wanted_chars is None):
            continue
        for i in range(a.n_characters):
            name = f"{a.name}/character{i + 1:02d}"
            if wanted_chars is None or name in wanted_chars:
                rows[a.npz_file].append((a.first_row + i, name))
    if wanted_chars is not None:
        found = {n for r in rows.values() for _, n in r}
        missing = sorted(wanted_chars - found)
        if missing:
            raise ValueError(f"{len(missing)} character(s) not found in Omniglot, e.g. {missing[:3]}")
    images, names = [], []
    for npz_file, picks in rows.items():
        if not picks:
            continue
        with np.load(data_file(root, "omniglot", npz_file)) as archive:
            data = archive["images"]  # (n_chars, 20, 105, 105) bool, True = background
            idx = [r for r, _ in picks]
            ink_light = torch.from_numpy(data[idx]).float()  # 1 = white background, 0 = ink: dark on light
        images.append(resize_images(ink_light.reshape(-1, 1, 105, 105)).reshape(len(idx), 20, 1, 28, 28))
        names += [n for _, n in picks]
    if not names:
        raise ValueError("the selection matched no Omniglot characters")
    x = torch.cat(images)  # (n_chars, 20, 1, 28, 28)
    return _with_rotations(x, names, rotations)


def _with_rotations(x: torch.Tensor, names: list[str], rotations: tuple[int, ...]) -> LabelledImages:
    for r in rotations:
        if r not in (0, 90, 180, 270):
            raise ValueError(f"rotations must be multiples of 90 degrees, got {r}")
    n_chars, n_draw = x.shape[:2]
    blocks, class_names = [], []
    suffix = rotations != (0,)
    for c in range(n_chars):
        for r in rotations:
            # rot90 turns counter-clockwise, matching the Vinyals split's rotation of the image array
            blocks.append(torch.rot90(x[c], k=r // 90, dims=(-2, -1)))
            class_names.append(f"{names[c]}/rot{r:03d}" if suffix else names[c])
    xs = torch.stack(blocks).reshape(-1, 1, 28, 28)
    ys = torch.arange(len(class_names)).repeat_interleave(n_draw)
    return LabelledImages(xs.contiguous(), ys, tuple(class_names))


_PNG = re.compile(r"(?:^|/)([^/]+)/(character\d+)/[^/]+\.png$", re.IGNORECASE)


def load_omniglot_zip(path: str | os.PathLike, max_files: int = 50_000) -> LabelledImages:
    """The official ``images_background.zip`` / ``images_evaluation.zip`` (Alphabet/characterNN/*.png).

    Images are read from the archive in memory (nothing is extracted), resized 105 -> 28 with
    antialiasing; one class per character, named "Alphabet/characterNN".
    """
    path = Path(path)
    per_class: dict[str, list[torch.Tensor]] = {}
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir() and _PNG.search(m.filename)]
        if not members:
            raise ValueError(f"{path} holds no Alphabet/characterNN/*.png images")
        if len(members) > max_files:
            raise ValueError(f"{path} holds {len(members)} images; the limit is {max_files}")
        for m in sorted(members, key=lambda m: m.filename):
            alphabet, character = _PNG.search(m.filename).groups()
            with Image.open(io.BytesIO(archive.read(m))) as im:
                arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
            per_class.setdefault(f"{alphabet}/{character}", []).append(torch.from_numpy(arr))
    names = sorted(per_class)
    x = torch.cat([resize_images(torch.stack(per_class[n])[:, None]) for n in names])
    y = torch.cat([torch.full((len(per_class[n]),), i) for i, n in enumerate(names)])
    return LabelledImages(x, y, tuple(names))
