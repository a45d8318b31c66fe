"""Train the three toy models of Figure 1 and write them to ``pretrained/``.

    python -m toy.train                 # all three, about a minute on one CPU core
    python -m toy.train --out DIR --quick

Each model gets ``DIR/toy_<method>.pt`` and ``DIR/toy_<method>.json`` (its metrics: accuracy on 1,000
fresh tasks, 5 shots and 20 queries per class, evaluation seed 1000; MAML after 0..10 steps).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import hypermaml as hm

from .tasks import ToyTaskSampler, bayes_accuracy, input_statistics

N_SHOT, N_QUERY = 5, 20  # per class, as in the measurement protocol
EVAL_TASKS, EVAL_SEED = 1000, 1000  # evaluation tasks are drawn from a seed training never uses
MAML_STEPS_REPORTED = range(0, 11)


def toy_backbone() -> hm.BackboneConfig:
    """The toy's "no backbone": standardise with the task distribution's statistics, nothing learned."""
    mean, std = input_statistics()
    return hm.BackboneConfig(kind="identity", in_channels=2, input_mean=mean, input_std=std)


@dataclass(frozen=True)
class ToyRecipe:
    model: hm.ModelConfig
    train: hm.TrainConfig


def recipes(scale: int = 1) -> dict[str, ToyRecipe]:
    """The documented training settings of each toy model; ``scale`` divides the episodes per epoch
    (10 for smoke tests, 3 for the studio's live training)."""
    common = dict(n_way=2, n_shot=N_SHOT, backbone=toy_backbone())
    return {
        "hypermaml": ToyRecipe(
            # A small MLP is plenty: it only has to map "which Gaussian are these 5 points from" to a row.
            hm.ModelConfig(
                method="hypermaml", hypermaml=hm.HyperMAMLConfig(hidden=64, n_hidden_layers=2, aggregation="mean"), **common
            ),
            hm.TrainConfig(
                epochs=15, episodes_per_epoch=2000 // scale, meta_batch=16, lr=3e-3, n_query=N_QUERY, val_episodes=200
            ),
        ),
        "maml": ToyRecipe(
            # Trained for exactly one inner step, so "MAML after one step" is the best one-step MAML we can
            # make, not a 5-step model stopped early. inner_lr and the outer lr are the best one-step row of
            # `python -m benchmarks.toy_maml_sweep` (docs/toy_maml_sweep.json).
            hm.ModelConfig(method="maml", maml=hm.MAMLConfig(inner_lr=1.0, train_steps=1, test_steps=1, adapt="all"), **common),
            hm.TrainConfig(
                epochs=15, episodes_per_epoch=2000 // scale, meta_batch=16, lr=1e-3, n_query=N_QUERY, val_episodes=200
            ),
        ),
        "protonet": ToyRecipe(
            # No learnable embedding (the target model is linear on raw coordinates): only the logit scale
            # is trained, which calibrates the probabilities drawn in the figure.
            hm.ModelConfig(method="protonet", **common),
            hm.TrainConfig(epochs=2, episodes_per_epoch=500 // scale, meta_batch=16, lr=1e-2, n_query=N_QUERY, val_episodes=0),
        ),
    }


def evaluate_every_step(
    model: hm.MAML, sampler: ToyTaskSampler, n_tasks: int, seed: int, steps: range
) -> dict[int, hm.EvalResult]:
    """``hm.evaluate(model, sampler, n_tasks, seed=seed, steps=k)`` for every ``k`` in ``steps``, from one inner
    loop of ``max(steps)`` steps per task: state k of ``adapt_trajectory`` is ``adapt(steps=k)``, so the same
    tasks give the same numbers for a fraction of the work (0..10 steps: 10 gradient steps a task, not 55).
    Not timed: ``adapt_seconds`` is 0."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    accuracies = np.empty((len(steps), n_tasks))
    try:
        for i in range(n_tasks):
            episode = sampler.sample(generator).to(model.device)
            with torch.no_grad():
                trajectory = model.adapt_trajectory(episode.support_x, episode.support_y, steps=max(steps))
                for j, k in enumerate(steps):
                    predicted = model.logits(episode.query_x, trajectory[k]).argmax(-1)
                    accuracies[j, i] = (predicted == episode.query_y).double().mean().item()
    finally:
        model.train(was_training)
    return {k: hm.EvalResult.from_accuracies(accuracies[j]) for j, k in enumerate(steps)}


def measure(model: hm.FewShotModel, n_tasks: int = EVAL_TASKS) -> dict:
    """Accuracy on ``n_tasks`` fresh toy tasks (5 shots, 20 queries per class); MAML at 0..10 steps."""
    sampler = ToyTaskSampler(N_SHOT, N_QUERY)
    if isinstance(model, hm.MAML):
        by_step = {str(k): r for k, r in evaluate_every_step(model, sampler, n_tasks, EVAL_SEED, MAML_STEPS_REPORTED).items()}
        return {
            "accuracy_by_steps": {k: r.mean for k, r in by_step.items()},
            "ci95_by_steps": {k: r.ci95 for k, r in by_step.items()},
            "accuracy": by_step[str(model.config.maml.test_steps)].mean,
        }
    result = hm.evaluate(model, sampler, n_tasks, seed=EVAL_SEED)
    return {"accuracy": result.mean, "ci95": result.ci95}


def train_one(
    name: str, recipe: ToyRecipe, progress: bool = True, on_step: Callable | None = None
) -> tuple[hm.FewShotModel, dict]:
    torch.manual_seed(recipe.train.seed)
    model = hm.build_model(recipe.model)
    sampler = ToyTaskSampler(N_SHOT, recipe.train.n_query)
    started = time.perf_counter()
    hm.meta_train(model, sampler, recipe.train, val_sampler=sampler, progress=progress, on_step=on_step)
    seconds = time.perf_counter() - started
    metrics = {
        **model.metrics,  # meta_train's record: epochs, validation, schedule
        "method": name,
        "train_seconds": round(seconds, 1),
        "eval_protocol": f"{EVAL_TASKS} tasks, {N_SHOT} shots + {N_QUERY} queries per class, seed {EVAL_SEED}",
        "bayes_accuracy": bayes_accuracy(),
        **measure(model),
    }
    model.metrics = metrics
    return model, metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("pretrained"), help="output folder (default: pretrained)")
    parser.add_argument(
        "--methods", nargs="+", choices=["hypermaml", "maml", "protonet"], default=["hypermaml", "maml", "protonet"]
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the training, for smoke tests")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: threads cost more than they give
    all_recipes = recipes(10 if args.quick else 1)
    for name in args.methods:
        model, metrics = train_one(name, all_recipes[name])
        args.out.mkdir(parents=True, exist_ok=True)
        hm.save(model, args.out / f"toy_{name}.pt", metrics)
        (args.out / f"toy_{name}.json").write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"{name}: accuracy {100 * metrics['accuracy']:.2f}% in {metrics['train_seconds']} s -> {args.out}/toy_{name}.pt")


if __name__ == "__main__":
    main()
