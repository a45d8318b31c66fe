"""Draw the README's Figure 1: decision regions for the four toy task types.

    python -m toy.figure                      # reads pretrained/toy_*.pt, writes docs/toy_figure.png
    python -m toy.figure --models DIR --out FILE --seed 0

Rows are the four task types; columns are HyperMAML after its single update, MAML after 1 and 5 steps,
and ProtoNet (the nearest-class-mean reference). Every column of a row shows the same task.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import hypermaml as hm  # noqa: E402

from .tasks import TASK_TYPES, sample_task, task_type_name  # noqa: E402

XLIM, YLIM = (-12.0, 8.0), (-8.0, 12.0)  # covers both pairs with room around them
CLASS_COLOURS = ("#2166ac", "#b2182b")  # class 0 blue, class 1 red, as in the colour map's ends


def panels(models: dict[str, hm.FewShotModel]) -> list[tuple[str, hm.FewShotModel, dict]]:
    """(column title, model, adapt kwargs) for each column."""
    return [
        ("HyperMAML, 1 update", models["hypermaml"], {}),
        ("MAML, 1 step", models["maml"], {"steps": 1}),
        ("MAML, 5 steps", models["maml"], {"steps": 5}),
        ("ProtoNet (reference)", models["protonet"], {}),
    ]


def draw_panel(ax, model: hm.FewShotModel, episode: hm.Episode, adapt_kwargs: dict, resolution: int = 150) -> float:
    """Draw one task's decision regions, support and query points on ``ax``; returns query accuracy."""
    with torch.no_grad():
        task = model.adapt(episode.support_x, episode.support_y, **adapt_kwargs)
        accuracy = (model.logits(episode.query_x, task).argmax(-1) == episode.query_y).float().mean().item()
    grid = hm.decision_grid(model, task, XLIM, YLIM, resolution)
    ax.imshow(grid.probs[..., 1], origin="lower", extent=(*XLIM, *YLIM), cmap="RdBu_r", vmin=0, vmax=1, alpha=0.4, aspect="equal")
    ax.contour(grid.xs, grid.ys, grid.probs[..., 1], levels=[0.5], colors="k", linewidths=1.2)
    for c in range(2):
        q = episode.query_x[episode.query_y == c]
        s = episode.support_x[episode.support_y == c]
        ax.scatter(q[:, 0], q[:, 1], s=8, c=CLASS_COLOURS[c], alpha=0.6, linewidths=0)
        ax.scatter(s[:, 0], s[:, 1], s=46, c=CLASS_COLOURS[c], edgecolors="k", linewidths=1.0, marker="o")
    ax.set_xlim(*XLIM)
    ax.set_ylim(*YLIM)
    ax.set_xticks([])
    ax.set_yticks([])
    return accuracy


def make_figure(models: dict[str, hm.FewShotModel], seed: int = 0, n_shot: int = 5, n_query: int = 20):
    columns = panels(models)
    fig, axes = plt.subplots(len(TASK_TYPES), len(columns), figsize=(3.0 * len(columns), 3.0 * len(TASK_TYPES)))
    generator = torch.Generator().manual_seed(seed)
    for row, (pair, swapped) in enumerate(TASK_TYPES):
        episode = sample_task(pair, swapped, n_shot, n_query, generator)
        for col, (title, model, kwargs) in enumerate(columns):
            ax = axes[row, col]
            accuracy = draw_panel(ax, model, episode, kwargs)
            ax.set_xlabel(f"query accuracy {100 * accuracy:.0f}%", fontsize=9)
            if row == 0:
                ax.set_title(title, fontsize=11)
            if col == 0:
                ax.set_ylabel(task_type_name(pair, swapped), fontsize=9)
    fig.suptitle(
        f"Toy tasks ({n_shot} support points = large dots, {n_query} queries per class = small dots); "
        "colour = P(red class), black line = decision boundary",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def load_models(folder: Path) -> dict[str, hm.FewShotModel]:
    return {name: hm.load(folder / f"toy_{name}.pt") for name in ("hypermaml", "maml", "protonet")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path("pretrained"))
    parser.add_argument("--out", type=Path, default=Path("docs/toy_figure.png"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the four tasks drawn")
    args = parser.parse_args(argv)
    fig = make_figure(load_models(args.models), seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
