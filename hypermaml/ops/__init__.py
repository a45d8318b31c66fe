"""The kernels under Conv4: normalisation, convolution and pooling, several with hand-written derivatives.

They live apart from ``hypermaml.backbones`` so that the backbone reads like the paper's description of Conv4
while the hardest code of the project sits where it can be read, and tested, on its own. Each module states its
formulas, first and second derivatives, and the tests that check them (float64 ``gradcheck``/``gradgradcheck``
and comparisons with the written-out formulas, in ``tests/test_joint_pass.py``):

- ``norms``: per-channel moments, batch normalisation, MetaBN (the support set's moments for every row);
- ``tasknorm``: TaskNorm-I (the support's moments blended with each image's own), its backward and the backward
  of that backward written by hand;
- ``conv``: the 3x3 convolutions, a one-channel first layer as a matrix product, MetaBN folded into it;
- ``pooling``: 2x2 max-pooling;
- ``layout``: the memory layout a forward computes in, chosen per call (a context variable);
- ``vmap_state``: whether a vectorised meta-batch is running (a context variable; the kernels then take the
  written-out formulas, which ``torch.func.vmap`` can batch).

Names with a leading underscore are this package's internals, called by ``hypermaml.backbones`` and the tests;
the modules import nothing from the rest of ``hypermaml``.
"""
