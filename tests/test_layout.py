"""Memory layout per method and phase (hypermaml.backbones.memory_layout): speed only, never results, and a
choice made per call and per thread, not a module setting."""

import threading

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_conv_config

import hypermaml as hm
from hypermaml import backbones
from hypermaml.episodes import Episode
from hypermaml.ops.layout import chosen_layout, memory_layout

CL, NC = torch.channels_last, torch.contiguous_format


def episode(n_way=3, n_shot=2, n_query=4, seed=0) -> Episode:
    g = torch.Generator().manual_seed(seed)
    return Episode(
        torch.rand(n_way * n_shot, 1, 28, 28, generator=g),
        torch.arange(n_way).repeat_interleave(n_shot),
        torch.rand(n_way * n_query, 1, 28, 28, generator=g),
        torch.arange(n_way).repeat_interleave(n_query),
    )


def grads(model, ep, fmt):
    model.zero_grad(set_to_none=True)
    if fmt is None:
        loss, _ = model.meta_loss(ep)
    else:
        with memory_layout(fmt):
            loss, _ = model.meta_loss(ep)
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    ("method", "extra"),
    [("hypermaml", {}), ("protonet", {}), ("maml", {"maml": hm.MAMLConfig(train_steps=2)})],
)
def test_every_layout_gives_the_same_loss_and_gradients(method, extra):
    torch.manual_seed(0)
    model = hm.build_model(tiny_conv_config(method, batch_norm="metabn", **extra)).train()
    ep = episode()
    ref_loss, ref = grads(model, ep, CL)
    for fmt in (NC, None):  # None: the library's own choice per phase
        loss, got = grads(model, ep, fmt)
        assert torch.allclose(loss, ref_loss, atol=1e-5)
        for name in ref:
            assert torch.allclose(got[name], ref[name], atol=1e-4, rtol=1e-3), (fmt, name)


def convolution_layouts(model, ep, monkeypatch, train: bool = True) -> list[str]:
    """The layout of every convolution's input with more than one channel, in call order."""
    seen = []
    conv = F.conv2d

    def spy(x, *args, **kwargs):
        if x.shape[1] > 1:
            seen.append("NHWC" if x.is_contiguous(memory_format=CL) and not x.is_contiguous() else "NCHW")
        return conv(x, *args, **kwargs)

    monkeypatch.setattr(backbones.F, "conv2d", spy)
    if train:
        loss, _ = model.meta_loss(ep)
        loss.backward()
    else:
        with torch.no_grad():
            model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    monkeypatch.setattr(backbones.F, "conv2d", conv)
    return seen


def test_a_second_order_maml_training_step_runs_in_the_standard_layout(monkeypatch):
    model = hm.build_model(tiny_conv_config("maml", maml=hm.MAMLConfig(train_steps=2))).train()
    seen = convolution_layouts(model, episode(), monkeypatch)
    # 3 hidden-layer convolutions per forward: 2 inner steps, then the queries (transductive: no support moments).
    assert seen == ["NCHW"] * 9
    model.eval()  # evaluation (adaptation with the same inner loop) stays channels-last
    assert set(convolution_layouts(model, episode(), monkeypatch, train=False)) == {"NHWC"}


@pytest.mark.parametrize(
    ("method", "extra"),
    [("hypermaml", {}), ("protonet", {}), ("maml", {"maml": hm.MAMLConfig(train_steps=2, first_order=True)})],
)
def test_the_other_methods_and_first_order_maml_stay_in_channels_last(method, extra, monkeypatch):
    model = hm.build_model(tiny_conv_config(method, **extra)).train()
    seen = convolution_layouts(model, episode(), monkeypatch)
    assert seen and set(seen) == {"NHWC"}


def test_a_callers_layout_wins_and_ends_with_its_block(monkeypatch):
    model = hm.build_model(tiny_conv_config("maml", maml=hm.MAMLConfig(train_steps=1))).train()
    with memory_layout(CL):
        assert set(convolution_layouts(model, episode(), monkeypatch)) == {"NHWC"}
    assert chosen_layout() is None
    assert model.backbone.memory_format == CL  # the module itself never changed


def test_a_layout_chosen_in_one_thread_is_not_seen_by_another():
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def chooser():
        with memory_layout(NC):
            seen["chooser"] = chosen_layout()
            inside.set()
            outside.wait(5)

    t = threading.Thread(target=chooser)
    t.start()
    inside.wait(5)
    seen["other"] = chosen_layout()
    outside.set()
    t.join()
    assert seen == {"chooser": NC, "other": None}
