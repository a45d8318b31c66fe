"""scikit-learn's bundled 8x8 digits: the dataset that is always there (no download, no data folder)."""

from __future__ import annotations

import torch

from .base import LabelledImages
from .transforms import resize_images


def load_digits() -> LabelledImages:
    """1,797 digits, 10 classes, turned dark on light (sklearn's are 0..16, ink high), given a 2-pixel
    margin (MNIST-like: the digit fills 20 of 28 pixels) and upscaled 12 -> 28."""
    # imported here, not with the package: scikit-learn takes seconds to import, and every `hypermaml`
    # command, studio worker and test subprocess would pay them whether or not it reads the digits
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    x = 1.0 - torch.tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    x = torch.nn.functional.pad(x, (2, 2, 2, 2), value=1.0)
    return LabelledImages(resize_images(x), torch.tensor(bunch.target, dtype=torch.long), tuple(str(d) for d in range(10)))
