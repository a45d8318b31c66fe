"""Dataset readers. Every image reader returns ``LabelledImages``: float images (N, 1, 28, 28) in [0, 1]
with dark ink on a light background (Omniglot's convention), integer labels, and class names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

DATA_ENV = "HYPERMAML_DATA"


@dataclass(frozen=True)
class LabelledImages:
    """x: (N, 1, H, W) float32 in [0, 1], dark on light; y: (N,) int64 in 0..len(class_names)-1."""

    x: torch.Tensor
    y: torch.Tensor
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def select_classes(self, keep: list[int]) -> LabelledImages:
        """Only the classes ``keep`` (old ids), relabelled 0..len(keep)-1 in that order."""
        remap = torch.full((self.n_classes,), -1, dtype=torch.long)
        remap[torch.tensor(keep, dtype=torch.long)] = torch.arange(len(keep))
        new_y = remap[self.y]
        mask = new_y >= 0
        return LabelledImages(self.x[mask], new_y[mask], tuple(self.class_names[i] for i in keep))


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$HYPERMAML_DATA``; a clear error if neither exists."""
    if root is None:
        env = os.environ.get(DATA_ENV)
        if not env:
            raise FileNotFoundError(
                f"no data folder given and ${DATA_ENV} is not set; point it at the folder holding "
                f"omniglot/ and emnist-byclass-test/ (e.g. export {DATA_ENV}=../shared/data)"
            )
        root = env
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"data folder {path} does not exist (from ${DATA_ENV} or the root argument)")
    return path


from .datasets import DATASETS, load_split  # noqa: E402
from .digits import load_digits  # noqa: E402
from .download import DownloadError, download, download_omniglot  # noqa: E402
from .emnist import load_emnist, load_emnist_idx  # noqa: E402
from .folders import ImageError, image_from_bytes, load_image_folder, load_image_zip, read_image_zip  # noqa: E402
from .omniglot import load_omniglot, load_omniglot_zip, omniglot_alphabets  # noqa: E402

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DownloadError",
    "ImageError",
    "download",
    "download_omniglot",
    "image_from_bytes",
    "load_image_folder",
    "load_image_zip",
    "read_image_zip",
    "LabelledImages",
    "data_root",
    "load_digits",
    "load_emnist",
    "load_emnist_idx",
    "load_omniglot",
    "load_omniglot_zip",
    "load_split",
    "omniglot_alphabets",
]
