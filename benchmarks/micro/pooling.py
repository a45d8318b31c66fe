"""Is 2x2 max-pooling in the standard layout faster as PyTorch's kernel (``F.max_pool2d``) or as ``ops.pooling.max_pool``?

    .venv/bin/python -m benchmarks.micro.pooling            # 25 and 100 images of 64 x 28 x 28, 100 of 64 x 14 x 14
    .venv/bin/python -m benchmarks.micro.pooling --quick    # fewer repeats
    .venv/bin/python -m benchmarks.micro.pooling --save     # also store docs/pooling.json

The measurements behind ``hypermaml.ops.pooling.max_pool``, which second-order MAML's training step uses (it runs
in the standard layout; channels-last keeps ``F.max_pool2d``). For each shape it times the two in three uses:

- ``forward``: no autograd;
- ``backward``: forward, then the input's gradient;
- ``double``: the input's gradient kept differentiable and differentiated again through the output's
  gradient, as second-order MAML does with its inner loop.

The two alternate call by call in one process, after a few untimed calls; each entry is the 20th percentile
and the median of the times in ms. The last line is one JSON object; ``ratio`` is ``F.max_pool2d`` /
``max_pool`` at the 20th percentile (> 1: ``max_pool`` is faster).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.workload import alternate_ms, micro_main
from hypermaml.ops.pooling import max_pool

SHAPES = ((25, 64, 28, 28), (100, 64, 28, 28), (100, 64, 14, 14))


def _uses(pool, x0: torch.Tensor) -> dict:
    def forward() -> None:
        with torch.no_grad():
            pool(x0)

    def backward() -> None:
        x = x0.detach().requires_grad_()
        out = pool(x)
        torch.autograd.grad(out, x, torch.ones_like(out))

    def double() -> None:
        x = x0.detach().requires_grad_()
        out = pool(x)
        g = torch.ones_like(out).requires_grad_()
        (gx,) = torch.autograd.grad(out, x, g, create_graph=True)
        torch.autograd.grad(gx.square().sum(), g)

    return {"forward": forward, "backward": backward, "double": double}


def measure(repeats: int) -> list[dict]:
    rows = []
    g = torch.Generator().manual_seed(0)
    for shape in SHAPES:
        x = torch.randn(*shape, generator=g)
        sides = {"max_pool2d": _uses(lambda h: F.max_pool2d(h, 2), x), "max_pool": _uses(max_pool, x)}
        for use in ("forward", "backward", "double"):
            timed = alternate_ms({name: side[use] for name, side in sides.items()}, repeats)
            row = {"shape": list(shape), "use": use, **timed}
            row["ratio"] = round(row["max_pool2d"]["p20_ms"] / row["max_pool"]["p20_ms"], 2)
            rows.append(row)
            print(
                f"{'x'.join(map(str, shape)):14s} {use:8s}  F.max_pool2d {row['max_pool2d']['p20_ms']:7.3f} ms   "
                f"max_pool {row['max_pool']['p20_ms']:7.3f} ms   ratio {row['ratio']:.2f}",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    micro_main("pooling", __doc__, lambda quick: measure(5 if quick else 40), "5 repeats instead of 40", argv)


if __name__ == "__main__":
    main()
