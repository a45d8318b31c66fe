"""Your own feature extractor as a backbone: ``ModuleBackbone`` wraps any ``nn.Module`` with an ``out_dim``."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from .backbones import Params, SupportStats, WithoutSupportStats


class ModuleBackbone(WithoutSupportStats, nn.Module):
    """Your own feature extractor as a backbone: any ``nn.Module`` mapping inputs (n, *input_shape) to
    features (n, out_dim), with an ``out_dim`` attribute (or ``out_dim`` given here).

    ``HyperMAML``, ``MAML`` and ``ProtoNet`` wrap a module that lacks ``embed_support`` in this class
    themselves, so passing your module is enough. Your own backbone, for 84x84 colour images::

        import torch
        from torch import nn
        import hypermaml as hm
        from hypermaml.data import load_image_folder

        class SmallNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.out_dim = 32  # the size of the features forward returns (required)
                self.input_shape = (3, 84, 84)  # optional: inputs are checked against it
                self.layers = nn.Sequential(
                    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                )

            def forward(self, x):  # (n, 3, 84, 84) -> (n, 32)
                return self.layers(x)

        data = load_image_folder("my_images", channels=3, size=84)  # one sub-folder per class
        sampler = hm.EpisodeSampler(data.x, data.y, n_way=5, n_shot=1, n_query=5)
        model = hm.HyperMAML(hm.ModelConfig(method="hypermaml", n_way=5, n_shot=1), SmallNet())
        hm.meta_train(model, sampler, hm.TrainConfig(epochs=10))
        episode = sampler.sample(torch.Generator().manual_seed(0))
        task = model.adapt(episode.support_x, episode.support_y)
        logits = model.logits(episode.query_x, task)  # (25, 5)

    ``hm.MAML(config, SmallNet())`` and ``hm.ProtoNet(config, SmallNet())`` work the same way. The paper's
    Conv4 for such images needs no code: ``hm.BackboneConfig(in_channels=3, image_size=84)`` in the config.

    What differs from the library's backbones:

    - MAML with ``adapt="all"`` adapts your module's weights too, and passes them in explicitly, never by
      swapping them into the module (which would corrupt a model shared by threads): your ``forward`` must then
      take them, ``forward(self, x, params=None)`` with ``params`` a dict named as your module's
      ``named_parameters()`` (``None``: its own), computed with ``torch.nn.functional`` over those tensors.
      MAML refuses ``adapt="all"`` for a module whose forward has no ``params``; ``adapt="head"``, HyperMAML
      and ProtoNet call your module as it is. Every method is then as thread-safe as your forward.
    - Normalisation is whatever your module does: ``nn.BatchNorm2d`` normalises with the batch and updates its
      running statistics in training mode, as in any PyTorch module. The batch-independent task
      normalisations (``BackboneConfig.batch_norm``) are Conv4's.
    - ``hm.save`` writes the weights, but ``hm.load`` cannot rebuild your class (a checkpoint holds data,
      never code) and says so: build the model again and load the weights with
      ``model.load_state_dict(hm.checkpoint.read_checkpoint(path)["state_dict"])``.

    Args:
        module: the feature extractor; its forward takes a batch of inputs and returns (n, out_dim).
        out_dim: the feature size; default ``module.out_dim``.
        input_shape: the shape of one input, e.g. (3, 84, 84); default ``module.input_shape`` if it has one,
            else None (inputs are then checked only for type, dtype and device).
    """

    def __init__(self, module: nn.Module, out_dim: int | None = None, input_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"a backbone must be a torch.nn.Module, got {type(module).__name__}")
        out_dim = getattr(module, "out_dim", None) if out_dim is None else out_dim
        if isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim < 1:
            raise TypeError(
                f"your backbone {type(module).__name__} needs an out_dim: set self.out_dim to the size of the "
                f"(n, out_dim) features its forward returns (got {out_dim!r})"
            )
        input_shape = getattr(module, "input_shape", None) if input_shape is None else input_shape
        self.module = module
        self.out_dim = out_dim
        self.input_shape = tuple(int(d) for d in input_shape) if input_shape is not None else None
        self.batch_norm = None  # the module normalises as it does; no support statistics travel in a task
        # whether its forward takes its weights as an argument (MAML's fast weights go in that way, or not at all)
        self.takes_params = "params" in inspect.signature(module.forward).parameters

    def forward(self, x: torch.Tensor, params: Params | None = None, stats: SupportStats | None = None) -> torch.Tensor:
        """(n, *input_shape) -> (n, out_dim). ``params``: tensors named as in ``named_parameters()``
        (``module.<name>``) that replace the module's own for this call (MAML's fast weights), handed to the
        module's ``forward(x, params=...)``; the module itself is never written to. ``stats`` is ignored."""
        if self.input_shape is not None and (x.dim() != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape):
            expected = ", ".join(str(d) for d in self.input_shape)
            raise ValueError(f"expected inputs of shape (n, {expected}) (this model's backbone), got {tuple(x.shape)}")
        own = {k[len("module.") :]: v for k, v in (params or {}).items() if k.startswith("module.")}
        if own and not self.takes_params:
            raise ValueError(
                f"your backbone {type(self.module).__name__} was given weights to use, but its forward takes no "
                "params: write forward(self, x, params=None), or adapt the head only (MAMLConfig(adapt='head'))"
            )
        out = self.module(x, params={**dict(self.module.named_parameters()), **own}) if own else self.module(x)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != self.out_dim or len(out) != len(x):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"your backbone {type(self.module).__name__} returned {got} for {len(x)} inputs; "
                f"its out_dim says ({len(x)}, {self.out_dim})"
            )
        return out
