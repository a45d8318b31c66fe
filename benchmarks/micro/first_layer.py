"""Is the first convolution (one input channel, 3x3, 64 outputs, 28x28) faster as oneDNN's convolution or as one matrix product?

    .venv/bin/python -m benchmarks.micro.first_layer            # batches of 5, 25, 100 images; both layouts
    .venv/bin/python -m benchmarks.micro.first_layer --quick    # 5 and 25 images, fewer repeats
    .venv/bin/python -m benchmarks.micro.first_layer --save     # also store docs/first_layer.json

The measurements behind ``hypermaml.ops.conv._conv3x3``: for each layout (channels-last, the
standard one) and batch size it times ``F.conv2d`` against ``_conv3x3_one_channel`` (the 3x3 patches times the
(64, 9) weight: in channels-last one ``baddbmm`` per image over the patches' transpose, whose output rows are the
pixels; in the standard layout one ``baddbmm`` per image straight into that layout) in three uses:

- ``forward``: no autograd (adaptation, evaluation, the studio);
- ``backward``: forward, then the weight and bias gradients (training; the images need none);
- ``double``: the weight gradient kept differentiable and differentiated again, through the output's gradient
  as in second-order MAML.

And, in channels-last without autograd, the query images' first layer under MetaBN (``query_metabn``): the product
then the normalisation by the support's moments (``normalise_with``), against the two folded into one product
(``_first_layer_metabn``).

The two alternate call by call in one process, after a few untimed calls; each entry is the 20th percentile
and the median of the times in ms (the machine's noise lies mostly above the 20th percentile). The last line is
one JSON object; ``ratio`` is the first side's time over the second's (> 1: the matrix product, or the folded
product, is faster).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.workload import alternate_ms, micro_main
from hypermaml.ops.conv import _conv3x3_one_channel, _first_layer_metabn
from hypermaml.ops.norms import normalise_with

LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def _conv(x, w, b, fmt):
    return F.conv2d(x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt), b, padding=1).contiguous(memory_format=fmt)


def _uses(fn, x, w0, b0, fmt):
    grad_out = torch.randn(len(x), w0.shape[0], *x.shape[2:]).contiguous(memory_format=fmt)

    def forward() -> None:
        with torch.no_grad():
            fn(x, w0, b0, fmt)

    def backward() -> None:
        w, b = w0.detach().requires_grad_(), b0.detach().requires_grad_()
        torch.autograd.grad(fn(x, w, b, fmt), (w, b), grad_out)

    def double() -> None:  # as in MAML: the inner gradient depends on the weights through the output's gradient
        w, b = w0.detach().requires_grad_(), b0.detach().requires_grad_()
        g = grad_out.detach().requires_grad_()
        out = fn(x, w, b, fmt)
        gw, gb = torch.autograd.grad(out, (w, b), g, create_graph=True)
        torch.autograd.grad(gw.square().sum() + gb.square().sum() + out.square().sum(), (w, b, g))

    return {"forward": forward, "backward": backward, "double": double}


def measure(batches: list[int], repeats: int) -> list[dict]:
    rows = []
    g = torch.Generator().manual_seed(0)
    w0, b0 = torch.randn(64, 1, 3, 3, generator=g), torch.randn(64, generator=g)
    for layout, fmt in LAYOUTS.items():
        for n in batches:
            x = torch.rand(n, 1, 28, 28, generator=g)
            sides = {"conv": _uses(_conv, x, w0, b0, fmt), "matrix_product": _uses(_conv3x3_one_channel, x, w0, b0, fmt)}
            uses = {use: {name: side[use] for name, side in sides.items()} for use in ("forward", "backward", "double")}
            if fmt == torch.channels_last:
                uses["query_metabn"] = _query_layer(x, w0, b0)
            for use, fns in uses.items():
                timed = alternate_ms(fns, repeats)
                first, second = fns
                row = {"layout": layout, "images": n, "use": use, **timed}
                row["ratio"] = round(row[first]["p20_ms"] / row[second]["p20_ms"], 2)
                rows.append(row)
                print(
                    f"{layout:13s} {n:4d} images  {use:12s}  {first} {row[first]['p20_ms']:8.3f} ms   "
                    f"{second} {row[second]['p20_ms']:8.3f} ms   ratio {row['ratio']:.2f}",
                    flush=True,
                )
    return rows


def _query_layer(x, w, b) -> dict:
    """The query images' first layer under MetaBN, without autograd: product then normalisation, or folded."""
    g = torch.Generator().manual_seed(1)
    bn_w, bn_b = torch.rand(64, generator=g) + 0.5, torch.randn(64, generator=g)
    mean, var = torch.randn(64, generator=g), torch.rand(64, generator=g) + 0.1

    def two_steps() -> None:
        with torch.no_grad():
            h = _conv3x3_one_channel(x, w, b, torch.channels_last)
            normalise_with(h, mean.view(1, -1, 1, 1), var.view(1, -1, 1, 1), bn_w, bn_b, 1e-5)

    def folded() -> None:
        with torch.no_grad():
            _first_layer_metabn(x, w, b, bn_w, bn_b, mean, var, 1e-5)

    return {"two_steps": two_steps, "folded": folded}


def main(argv: list[str] | None = None) -> None:
    micro_main(
        "first_layer",
        __doc__,
        lambda quick: measure(*(([5, 25], 5) if quick else ([5, 25, 100], 40))),
        "5 and 25 images, fewer repeats",
        argv,
    )


if __name__ == "__main__":
    main()
