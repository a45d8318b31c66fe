"""Named splits used by configs, the CLIs and the studio."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .base import data_file

if TYPE_CHECKING:
    from .base import LabelledImages

# The readers (and torch with them) are imported when a split is loaded, not when the names are read: the
# command line lists these names in its --help.

EMNIST_CLASSES = 62


def _vinyals(split: str, root: str | os.PathLike | None) -> LabelledImages:
    lines = data_file(root, "omniglot", "splits", "vinyals", f"{split}.txt").read_text().split()
    characters = sorted({line.rsplit("/", 1)[0] for line in lines})
    data = _omniglot(root, characters=characters, rotations=(0, 90, 180, 270))
    index = {name: i for i, name in enumerate(data.class_names)}
    return data.select_classes([index[line] for line in lines])


def _omniglot(root, **kwargs) -> LabelledImages:
    from .omniglot import load_omniglot

    return load_omniglot(root, **kwargs)


def _emnist(root, **kwargs) -> LabelledImages:
    from .emnist import load_emnist

    return load_emnist(root, **kwargs)


def _digits() -> LabelledImages:
    from .digits import load_digits

    return load_digits()


# name -> (description, loader). Cross-domain benchmark (Omniglot -> EMNIST, as in the paper): meta-train
# on every Omniglot character except the Latin alphabet, validate on the EMNIST classes with an even index
# and test on those with an odd index.
DATASETS = {
    "omniglot-nolatin": (
        "Omniglot without the Latin alphabet, no rotations (1597 classes)",
        lambda root: _omniglot(root, exclude=("Latin",)),
    ),
    "emnist-val": (
        "EMNIST validation classes: the 31 with an even index (images from the ByClass test file)",
        lambda root: _emnist(root, classes=list(range(0, EMNIST_CLASSES, 2))),
    ),
    "emnist-test": (
        "EMNIST test classes: the 31 with an odd index (images from the ByClass test file)",
        lambda root: _emnist(root, classes=list(range(1, EMNIST_CLASSES, 2))),
    ),
    "omniglot-train": ("Omniglot Vinyals train split, rotations as classes (4112 classes)", lambda root: _vinyals("train", root)),
    "omniglot-val": ("Omniglot Vinyals validation split (688 classes)", lambda root: _vinyals("val", root)),
    "omniglot-test": ("Omniglot Vinyals test split (1692 classes)", lambda root: _vinyals("test", root)),
    "digits": ("scikit-learn's 8x8 digits, upscaled (10 classes, always available)", lambda root: _digits()),
}


def load_split(name: str, root: str | os.PathLike | None = None) -> LabelledImages:
    """One of ``DATASETS`` by name."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name][1](root)
