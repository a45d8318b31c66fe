"""How different do Omniglot and EMNIST characters look to the network, and what does the augmentation change?

    python -m benchmarks.domain_gap

Prints, for Omniglot without Latin (the meta-training set), the same images through the 1-shot and
5-shot HyperMAML configs' training augmentation, and EMNIST validation: the fraction of pixels darker than
0.5 (ink) and the mean pixel value. Last line: one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hypermaml.augment import augment_images
from hypermaml.config import load_run_config
from hypermaml.data import load_split

CONFIGS = Path(__file__).resolve().parents[1] / "hypermaml" / "configs"


def stats(x: torch.Tensor) -> dict[str, float]:
    return {"ink_fraction": round(float((x < 0.5).float().mean()), 4), "mean": round(float(x.mean()), 4)}


def main() -> None:
    omniglot = load_split("omniglot-nolatin").x
    report = {"omniglot-nolatin": stats(omniglot)}
    for shot in (1, 5):
        cfg = load_run_config(CONFIGS / f"omniglot_emnist_hypermaml_{shot}shot.json").train.augment
        report[f"omniglot-nolatin, augmented as hypermaml_{shot}shot"] = stats(
            augment_images(omniglot, cfg, torch.Generator().manual_seed(0))
        )
    report["emnist-val"] = stats(load_split("emnist-val").x)
    for name, s in report.items():
        print(f"{name}: {100 * s['ink_fraction']:.1f}% ink, mean {s['mean']:.3f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
