"""The faster training and adaptation paths compute what the plain ones compute.

- ``embed_episode``: support and queries in one backbone pass (statistics from the support rows) equals
  ``embed_support`` then ``forward``; every method's ``meta_loss`` built on it equals adapt-then-logits
  (``FewShotModel.meta_loss``), loss, logits and gradients, second-order MAML included.
- ``_NormaliseBySupport`` (MetaBN over ``cat(support, query)``) and ``_TaskNormI`` (TaskNorm-I collecting the
  support moments), each with a written-out backward, against autograd through the plain formula, first and
  second derivatives.
- ``_conv3x3_one_channel``: the first convolution as a matrix product, against ``F.conv2d``.
- The convolution biases, which ``Conv4`` leaves out where the normalisation cancels them, against a forward
  that adds them.
- MetaBN's support pass without autograd (moments from the fused kernel) equals the autograd path.
- ``max_pool``: 2x2 max-pooling as elementwise maxima in the standard layout equals ``F.max_pool2d``, values,
  gradients and gradients of gradients, ties included.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import hypermaml as hm
from hypermaml.base import FewShotModel
from hypermaml.ops.conv import _conv3x3_one_channel, _first_layer_metabn, _folds_first_layer
from hypermaml.ops.layout import memory_layout
from hypermaml.ops.norms import _gradient_sums, _NormaliseBySupport, batch_normalise, moments_of, normalise_with
from hypermaml.ops.pooling import _MaxPool2x2, max_pool
from hypermaml.ops.tasknorm import _TaskNormI, tasknorm_written_out
from tests.conftest import METHOD_VARIANTS, image_episode, tiny_conv_config

NORMS = ["metabn", "tasknorm-i", "transductive", "running"]
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def build(variant: str, batch_norm: str, dtype=torch.float64) -> hm.FewShotModel:
    torch.manual_seed(0)
    kw = dict(METHOD_VARIANTS[variant])
    if kw["method"] == "maml":
        kw["maml"] = dataclasses.replace(kw["maml"], train_steps=2, first_order=False)
    model = hm.build_model(tiny_conv_config(kw.pop("method"), n_way=3, n_shot=2, batch_norm=batch_norm, **kw))
    with torch.no_grad():  # away from the initialisation, where some terms vanish
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.to(dtype)


def as_dtype(episode: hm.Episode, dtype) -> hm.Episode:
    return dataclasses.replace(episode, support_x=episode.support_x.to(dtype), query_x=episode.query_x.to(dtype))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("batch_norm", NORMS)
def test_one_pass_over_support_and_queries_equals_two(batch_norm, layout):
    model = build("hypermaml", batch_norm, torch.float32).train()
    ep = image_episode(n_way=3, n_shot=2, n_query=5, seed=4)
    with memory_layout(LAYOUTS[layout]):
        support, stats = model.backbone.embed_support(ep.support_x)
        query = model.backbone(ep.query_x, stats=stats)
        joint_support, joint_query, joint_stats = model.backbone.embed_episode(ep.support_x, ep.query_x)
    torch.testing.assert_close(joint_support, support, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(joint_query, query, rtol=1e-4, atol=1e-5)
    assert (joint_stats is None) == (stats is None)
    if stats is not None:
        assert joint_stats.n_support == stats.n_support == len(ep.support_x)
        for (m1, v1), (m2, v2) in zip(joint_stats.moments, stats.moments):
            torch.testing.assert_close(m1, m2, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(v1, v2, rtol=1e-4, atol=1e-5)


def _forward_adding_conv_biases(backbone, support_x, query_x) -> tuple[torch.Tensor, torch.Tensor]:
    """Support and query features with every convolution's bias added, then the normalisation written out:
    the support's moments (MetaBN, TaskNorm-I) or each batch's own (transductive)."""
    hs, hq = backbone.standardize(support_x), backbone.standardize(query_x)
    k, mode = len(hs), backbone.batch_norm
    for i in range(backbone.n_blocks):
        conv, bn = backbone.features[4 * i], backbone.features[4 * i + 1]
        hs, hq = (F.conv2d(h, conv.weight, conv.bias, padding=1) for h in (hs, hq))
        if mode == "transductive":
            hs, hq = (batch_normalise(h, bn.weight, bn.bias, backbone.eps) for h in (hs, hq))
        elif mode == "metabn":
            mean, var = moments_of(hs, (0, 2, 3))
            hs, hq = (normalise_with(h, mean, var, bn.weight, bn.bias, backbone.eps) for h in (hs, hq))
        else:  # TaskNorm-I over cat(support, query): the support rows' moments blended with each image's own
            alpha = backbone._alpha(dict(backbone.named_parameters()), i, k)
            h = tasknorm_written_out(torch.cat([hs, hq]), bn.weight, bn.bias, alpha, k, backbone.eps)[0]
            hs, hq = h[:k], h[k:]
        hs, hq = (F.relu(F.max_pool2d(h, 2)) for h in (hs, hq))
    return hs.flatten(1), hq.flatten(1)


@pytest.mark.parametrize("batch_norm", ["metabn", "tasknorm-i", "transductive"])
def test_the_convolution_biases_cancel_in_the_normalisation(batch_norm):
    """Conv4 leaves the convolution biases out (and untrained) where the normalisation subtracts a mean of the
    activations it normalises: large biases give the features of a forward that adds them. With running
    statistics in evaluation they do not cancel, and are used and trained."""
    model = build("hypermaml", batch_norm)
    backbone = model.backbone
    convs = [backbone.features[4 * i] for i in range(backbone.n_blocks)]
    assert not any(c.bias.requires_grad for c in convs)
    with torch.no_grad():
        for c in convs:
            c.bias.copy_(5 * torch.randn_like(c.bias))
    ep = as_dtype(image_episode(n_way=3, n_shot=2, n_query=4, seed=7), torch.float64)
    support, query, _ = backbone.embed_episode(ep.support_x, ep.query_x)
    ref_support, ref_query = _forward_adding_conv_biases(backbone, ep.support_x, ep.query_x)
    torch.testing.assert_close(support, ref_support, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(query, ref_query, rtol=1e-9, atol=1e-10)

    running = build("hypermaml", "running").eval().backbone
    assert all(running.features[4 * i].bias.requires_grad for i in range(running.n_blocks))
    before = running(ep.query_x)
    with torch.no_grad():
        running.features[0].bias.add_(1.0)
    assert not torch.allclose(running(ep.query_x), before)


# Where meta_loss takes its own path (MAML with adapt="head" or transductive normalisation adapts then scores).
META_LOSS_CASES = [(v, bn) for v in ("hypermaml", "protonet") for bn in ("metabn", "tasknorm-i", "transductive")] + [
    ("maml-all", bn) for bn in ("metabn", "tasknorm-i")
]


@pytest.mark.parametrize("variant,batch_norm", META_LOSS_CASES)
def test_meta_loss_equals_adapt_then_logits(variant, batch_norm):
    """Loss, logits and every parameter's gradient, in float64 (second-order MAML: through the inner loop)."""
    model = build(variant, batch_norm).train()
    ep = as_dtype(image_episode(n_way=3, n_shot=2, n_query=4, seed=5), torch.float64)
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]  # not the cancelled conv biases
    params = [p for _, p in named]
    loss, logits = model.meta_loss(ep)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    ref_loss, ref_logits = FewShotModel.meta_loss(model, ep)
    ref_grads = torch.autograd.grad(ref_loss, params, allow_unused=True)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-10, atol=1e-12)
    checked = 0
    for (name, _), g, r in zip(named, grads, ref_grads):
        assert (g is None) == (r is None), name
        if g is not None:
            torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-10, msg=name)
            checked += int(r.abs().max() > 0)
    assert checked >= 8  # the backbone's weights got gradients, not only the head


@pytest.mark.parametrize("layout", LAYOUTS)
def test_normalise_by_support_matches_the_written_out_formula(layout):
    torch.manual_seed(1)
    fmt = LAYOUTS[layout]
    h = torch.randn(5, 3, 4, 4, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def fused(h, w, b):
        return _NormaliseBySupport.apply(h, w, b, 2, 1e-5)

    def written_out(h, w, b):
        mean, var = moments_of(h[:2], (0, 2, 3))
        scale = w.view(1, -1, 1, 1) * torch.rsqrt(var + 1e-5)
        return torch.addcmul(b.view(1, -1, 1, 1) - mean * scale, h, scale), mean.flatten(), var.flatten()

    for out, ref in zip(fused(h, w, b), written_out(h, w, b)):
        torch.testing.assert_close(out, ref)
    # every output's gradient (the moments are outputs too), and gradients of gradients
    assert torch.autograd.gradcheck(fused, (h, w, b))
    assert torch.autograd.gradgradcheck(fused, (h, w, b))
    weights = [
        torch.randn(5, 3, 4, 4, dtype=torch.float64),
        torch.randn(3, dtype=torch.float64),
        torch.randn(3, dtype=torch.float64),
    ]
    got = torch.autograd.grad(sum((o * c).sum() for o, c in zip(fused(h, w, b), weights)), (h, w, b))
    want = torch.autograd.grad(sum((o * c).sum() for o, c in zip(written_out(h, w, b), weights)), (h, w, b))
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_tasknorm_i_function_matches_the_written_out_formula(layout, k):
    """``_TaskNormI`` (hand-written backward) against TaskNorm-I as Bronskill et al. write it, differentiated by
    autograd: outputs, every input's gradient (the blend weight's too), gradients of gradients."""
    torch.manual_seed(k)
    fmt = LAYOUTS[layout]
    h = (2 * torch.randn(5, 3, 4, 4, dtype=torch.float64) + 1).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)

    def fused(h, w, b, alpha):
        return _TaskNormI.apply(h, w, b, alpha, k, 1e-5)

    def written_out(h, w, b, alpha):
        mean_i, var_i = moments_of(h, (2, 3))
        mean_s = mean_i[:k].mean(0, keepdim=True)
        var_s = (var_i[:k] + (mean_i[:k] - mean_s).square()).mean(0, keepdim=True)
        mean = alpha * mean_s + (1 - alpha) * mean_i
        var = alpha * (var_s + (mean_s - mean).square()) + (1 - alpha) * (var_i + (mean_i - mean).square())
        out = (h - mean) / torch.sqrt(var + 1e-5) * w.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
        return out, mean_s.flatten(), var_s.flatten()

    for out, ref in zip(fused(h, w, b, alpha), written_out(h, w, b, alpha)):
        torch.testing.assert_close(out, ref)
    assert torch.autograd.gradcheck(fused, (h, w, b, alpha))
    assert torch.autograd.gradgradcheck(fused, (h, w, b, alpha))
    # second-order MAML's inner step uses the normalised output only: no gradient reaches the support moments
    assert torch.autograd.gradgradcheck(lambda *args: fused(*args)[0], (h, w, b, alpha))
    weights = [
        torch.randn(5, 3, 4, 4, dtype=torch.float64),
        torch.randn(3, dtype=torch.float64),
        torch.randn(3, dtype=torch.float64),
    ]
    got = torch.autograd.grad(sum((o * c).sum() for o, c in zip(fused(h, w, b, alpha), weights)), (h, w, b, alpha))
    want = torch.autograd.grad(sum((o * c).sum() for o, c in zip(written_out(h, w, b, alpha), weights)), (h, w, b, alpha))
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_first_convolution_as_a_matrix_product(layout):
    fmt = LAYOUTS[layout]
    torch.manual_seed(2)
    x = torch.rand(3, 1, 7, 6, dtype=torch.float64)
    w = torch.randn(4, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    out = _conv3x3_one_channel(x, w, b, fmt)
    assert out.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(out, F.conv2d(x, w, b, padding=1))
    assert torch.autograd.gradcheck(lambda w, b: _conv3x3_one_channel(x, w, b, fmt), (w, b))
    assert torch.autograd.gradgradcheck(lambda w, b: _conv3x3_one_channel(x, w, b, fmt), (w, b))  # MAML's


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradient_sums_from_the_normalisation_kernels_equal_the_plain_reductions(layout):
    torch.manual_seed(4)
    h = torch.randn(5, 3, 6, 4, dtype=torch.float64) * 2 + 1
    grad = torch.randn(5, 3, 6, 4, dtype=torch.float64)
    per_channel = _gradient_sums(grad, h.contiguous(memory_format=LAYOUTS[layout]), per_image=False, fused=True)
    assert [t.shape for t in per_channel] == [(1, 3, 1, 1)] * 2
    torch.testing.assert_close(per_channel, ((grad * h).sum((0, 2, 3), keepdim=True), grad.sum((0, 2, 3), keepdim=True)))
    per_image = _gradient_sums(grad, h, per_image=True, fused=True)  # the standard layout, as _TaskNormI uses it
    assert [t.shape for t in per_image] == [(5, 3, 1, 1)] * 2
    torch.testing.assert_close(per_image, _gradient_sums(grad, h, per_image=True, fused=False))
    torch.testing.assert_close(per_image[0], (grad * h).sum((2, 3), keepdim=True))


def test_queries_first_convolution_and_metabn_folded_into_one_product_equal_the_two_steps():
    torch.manual_seed(3)
    x = torch.rand(4, 1, 8, 6)
    w, b = torch.randn(5, 1, 3, 3), torch.randn(5)
    bn_w, bn_b = torch.rand(5) + 0.5, torch.randn(5)
    mean, var = torch.randn(5), torch.rand(5) + 0.1
    folded = _first_layer_metabn(x, w, b, bn_w, bn_b, mean, var, 1e-5)
    two_steps = normalise_with(F.conv2d(x, w, b, padding=1), mean.view(1, -1, 1, 1), var.view(1, -1, 1, 1), bn_w, bn_b, 1e-5)
    assert folded.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(folded, two_steps)


def test_query_logits_take_the_folded_first_layer_only_where_nothing_needs_gradients():
    model = build("hypermaml", "metabn", torch.float32).eval()
    ep = image_episode(n_way=3, n_shot=2, n_query=4, seed=7)
    params = dict(model.backbone.named_parameters())
    first = tuple(params[f"features.{j}.{name}"] for j, name in ((0, "weight"), (0, "bias"), (1, "weight"), (1, "bias")))
    with torch.no_grad():
        assert _folds_first_layer(ep.query_x, first, torch.channels_last)
        task = model.adapt(ep.support_x, ep.support_y)
        folded = model.logits(ep.query_x, task)
    # the parameters require gradients: the two steps, differentiable as before
    assert not _folds_first_layer(ep.query_x, first, torch.channels_last)
    two_steps = model.logits(ep.query_x, task)
    assert two_steps.requires_grad
    torch.testing.assert_close(folded, two_steps.detach(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_metabn_support_pass_without_autograd_equals_with(layout):
    model = build("hypermaml", "metabn", torch.float32).eval()
    ep = image_episode(n_way=3, n_shot=2, n_query=4, seed=6)
    with memory_layout(LAYOUTS[layout]):
        features, stats = model.backbone.embed_support(ep.support_x)
        with torch.no_grad():
            fast, fast_stats = model.backbone.embed_support(ep.support_x)
    torch.testing.assert_close(fast, features.detach(), rtol=1e-4, atol=1e-5)
    for (m1, v1), (m2, v2) in zip(fast_stats.moments, stats.moments):
        torch.testing.assert_close(m1, m2.detach(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(v1, v2.detach(), rtol=1e-4, atol=1e-5)


def test_the_tasknorm_benchmark_compares_two_ways_of_one_function():
    """``benchmarks/micro/tasknorm.py`` times ``_TaskNormI`` against a written-out stand-in: both give the same
    outputs and gradients, so the benchmark compares speed only."""
    from benchmarks.micro.tasknorm import _WrittenOut

    torch.manual_seed(2)
    h = torch.randn(6, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    outs = [impl.apply(h, w, b, alpha, 2, 1e-5) for impl in (_TaskNormI, _WrittenOut)]
    for got, want in zip(*outs):
        torch.testing.assert_close(got, want)
    grads = [torch.autograd.grad(out[0].square().sum() + out[2].sum(), (h, w, b, alpha)) for out in outs]
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_max_pool_equals_max_pool2d_with_ties(dtype):
    """Rounded values make ties in most windows (as a blank background does): every output, gradient and
    gradient of a gradient must pick the element ``F.max_pool2d`` picks, the first in row-major order."""
    torch.manual_seed(3)
    h = torch.randn(4, 5, 8, 6, dtype=dtype).round().requires_grad_()
    assert h.is_contiguous() and max_pool(h).grad_fn.name().startswith("_MaxPool2x2")
    want = F.max_pool2d(h, 2)
    got = max_pool(h)
    assert torch.equal(got, want)
    grad = torch.randn_like(want).requires_grad_()
    got_h = torch.autograd.grad(got, h, grad, create_graph=True)[0]
    want_h = torch.autograd.grad(want, h, grad, create_graph=True)[0]
    assert torch.equal(got_h, want_h)
    weights = torch.randn_like(h)
    assert torch.equal(
        torch.autograd.grad((got_h * weights).sum(), grad)[0], torch.autograd.grad((want_h * weights).sum(), grad)[0]
    )


def test_max_pool_gradients_and_its_other_inputs():
    torch.manual_seed(4)
    h = torch.randn(2, 3, 4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_MaxPool2x2.apply, (h,))
    assert torch.autograd.gradgradcheck(_MaxPool2x2.apply, (h,))
    for other in (
        torch.randn(2, 3, 7, 7),  # odd sizes round down
        torch.randn(2, 3, 6, 6).contiguous(memory_format=torch.channels_last),
        torch.randn(2, 1, 6, 6),
    ):
        assert torch.equal(max_pool(other), F.max_pool2d(other, 2))
    with torch.no_grad():
        x = torch.randn(3, 4, 10, 12)
        assert torch.equal(max_pool(x), F.max_pool2d(x, 2))
