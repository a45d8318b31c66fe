"""How good can one-step MAML get on the toy?

Trains MAML toy models over a grid of inner learning rates and outer learning rates (one inner step in
training), and measures accuracy after 0, 1, 5 and 10 steps on the same 1,000 fresh tasks as the committed
models. The committed ``toy_maml.pt`` uses the best one-step row of this sweep.

    python -m benchmarks.toy_maml_sweep          # about 2 minutes; last line: JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch

import hypermaml as hm
from toy.tasks import ToyTaskSampler
from toy.train import EVAL_SEED, N_QUERY, N_SHOT, recipes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inner-lrs", type=float, nargs="+", default=[0.1, 0.3, 0.5, 1.0, 2.0])
    parser.add_argument("--outer-lrs", type=float, nargs="+", default=[1e-2, 1e-3])
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = recipes()["maml"]
    rows = []
    for inner_lr in args.inner_lrs:
        for outer_lr in args.outer_lrs:
            model_cfg = dataclasses.replace(base.model, maml=dataclasses.replace(base.model.maml, inner_lr=inner_lr))
            train_cfg = dataclasses.replace(base.train, lr=outer_lr)
            torch.manual_seed(train_cfg.seed)
            model = hm.build_model(model_cfg)
            hm.meta_train(
                model, ToyTaskSampler(N_SHOT, N_QUERY), train_cfg, val_sampler=ToyTaskSampler(N_SHOT, N_QUERY), progress=False
            )
            acc = {
                k: hm.evaluate(model, ToyTaskSampler(N_SHOT, N_QUERY), args.tasks, seed=EVAL_SEED, steps=k).mean
                for k in (0, 1, 5, 10)
            }
            row = {"inner_lr": inner_lr, "outer_lr": outer_lr, **{f"acc_{k}_steps": round(v, 4) for k, v in acc.items()}}
            print(row, flush=True)
            rows.append(row)
    print(json.dumps({"maml_toy_sweep": rows, "train_steps": base.model.maml.train_steps}))


if __name__ == "__main__":
    main()
