"""Dataset readers. Every image reader returns ``LabelledImages``: float images (N, 1, 28, 28) in [0, 1]
with dark ink on a light background (Omniglot's convention), integer labels, and class names."""

from __future__ import annotations

from .base import DATA_ENV, DataMissingError, LabelledImages, data_file, data_root, default_data_dir
from .base import prepare_hint as prepare_hint  # re-exported: the words every missing-data message ends with
from .datasets import DATASETS, load_split
from .digits import load_digits
from .download import DownloadError, download, download_omniglot
from .emnist import load_emnist, load_emnist_idx
from .folders import ImageError, image_from_bytes, load_image_folder, load_image_zip, read_image_zip
from .omniglot import load_omniglot, load_omniglot_zip, omniglot_alphabets

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DataMissingError",
    "DownloadError",
    "ImageError",
    "download",
    "download_omniglot",
    "image_from_bytes",
    "load_image_folder",
    "load_image_zip",
    "read_image_zip",
    "LabelledImages",
    "data_file",
    "data_root",
    "default_data_dir",
    "load_digits",
    "load_emnist",
    "load_emnist_idx",
    "load_omniglot",
    "load_omniglot_zip",
    "load_split",
    "omniglot_alphabets",
]
