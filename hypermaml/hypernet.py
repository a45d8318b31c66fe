"""The hypernetwork: one class's enhanced support embeddings -> that class's classifier-row update."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vectorise import inside_vmap


class HyperNet(nn.Module):
    """An MLP applied to each class separately (shared weights), so relabelling the classes permutes its
    outputs the same way.

    Args:
        in_dim: size of one class's aggregated input (``n_shot * d_enh`` for "concat", ``d_enh`` for
            "mean", where ``d_enh = embedding_dim + 2 * n_way``).
        embedding_dim: d, the classifier's input size; the output is d + 1 (weight row, bias).
        hidden, n_hidden_layers: the MLP's width and depth.
        linear_skip: add a zero-initialised linear map from input to output beside the MLP.
    """

    def __init__(self, in_dim: int, embedding_dim: int, hidden: int, n_hidden_layers: int, linear_skip: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(n_hidden_layers):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, embedding_dim + 1)
        # Zero-initialised last layer: training starts from "no update" (theta' = theta), so the
        # hypernetwork only has to learn corrections to a working classifier.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.skip = nn.Linear(in_dim, embedding_dim + 1) if linear_skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)
        self.embedding_dim = embedding_dim

    def forward(self, class_inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_way, in_dim) -> (delta_weight (n_way, d), delta_bias (n_way,))."""
        # the layers' tensors used directly (Linear, ReLU, Linear, ReLU, ...): a module call's machinery costs
        # more than these small products, and each result is rectified and extended in place
        h = class_inputs
        for layer in self.body[::2]:
            h = F.linear(h, layer.weight, layer.bias).relu_()
        out = F.linear(h, self.out.weight, self.out.bias)
        if self.skip is not None and inside_vmap():  # vmap has no batching rule for addmm_
            out = out + F.linear(class_inputs, self.skip.weight, self.skip.bias)
        elif self.skip is not None:
            out = out.addmm_(class_inputs, self.skip.weight.t()).add_(self.skip.bias)
        return out[:, : self.embedding_dim], out[:, self.embedding_dim]
