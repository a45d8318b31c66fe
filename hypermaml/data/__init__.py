"""Dataset readers. Every image reader returns ``LabelledImages``: float images (N, 1, 28, 28) in [0, 1]
with dark ink on a light background (Omniglot's convention), integer labels, and class names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_names

# eager: the function ``download`` shares its module's name, and a module imported later would otherwise
# shadow it as this package's attribute (download.py imports no torch)
from .download import DownloadError, download, download_omniglot

# The names load on first use (hypermaml.lazy), as in the package itself: the command line reads DATASETS and the
# data folder's errors without importing torch.
if TYPE_CHECKING:
    from .base import DATA_ENV, DataMissingError, LabelledImages, data_file, data_root, default_data_dir
    from .base import prepare_hint as prepare_hint  # re-exported: the words every missing-data message ends with
    from .datasets import DATASETS, load_split
    from .digits import load_digits
    from .emnist import load_emnist, load_emnist_idx
    from .folders import ImageError, image_from_bytes, load_image_folder, load_image_zip, read_image_zip
    from .omniglot import load_omniglot, load_omniglot_zip, omniglot_alphabets

_HOME = {
    "DATA_ENV": "base",
    "DataMissingError": "base",
    "LabelledImages": "base",
    "data_file": "base",
    "data_root": "base",
    "default_data_dir": "base",
    "prepare_hint": "base",
    "DATASETS": "datasets",
    "load_split": "datasets",
    "load_digits": "digits",
    "load_emnist": "emnist",
    "load_emnist_idx": "emnist",
    "ImageError": "folders",
    "image_from_bytes": "folders",
    "load_image_folder": "folders",
    "load_image_zip": "folders",
    "read_image_zip": "folders",
    "load_omniglot": "omniglot",
    "load_omniglot_zip": "omniglot",
    "omniglot_alphabets": "omniglot",
}


__getattr__, __dir__ = lazy_names(__name__, _HOME, globals())

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
    "prepare_hint",
]
