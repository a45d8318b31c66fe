"""Vectorised meta-batches (torch.func.vmap over episodes) against the per-episode loop: the same loss, query
logits and gradients for every method and normalisation, second-order MAML included (in float64, so a
difference is a bug and not rounding)."""

import pytest
import torch
from conftest import tiny_conv_config

import hypermaml as hm
from hypermaml.episodes import Episode
from hypermaml.vectorise import meta_batch_loss, same_labels

CASES = [
    ("hypermaml", {}),
    ("hypermaml", {"hypermaml": hm.HyperMAMLConfig(hidden=16, warmup_epochs=1, blend_epochs=2, warmup_steps=2)}),
    ("protonet", {}),
    ("maml", {"maml": hm.MAMLConfig(train_steps=2)}),  # second order
    ("maml", {"maml": hm.MAMLConfig(train_steps=2, first_order=True)}),
    ("maml", {"maml": hm.MAMLConfig(train_steps=2, adapt="head")}),
]


def episodes(n: int, n_way: int = 3, n_shot: int = 2, n_query: int = 4, seed: int = 0) -> list[Episode]:
    g = torch.Generator().manual_seed(seed)
    return [
        Episode(
            torch.rand(n_way * n_shot, 1, 28, 28, generator=g, dtype=torch.float64),
            torch.arange(n_way).repeat_interleave(n_shot),
            torch.rand(n_way * n_query, 1, 28, 28, generator=g, dtype=torch.float64),
            torch.arange(n_way).repeat_interleave(n_query),
        )
        for _ in range(n)
    ]


def loss_logits_grads(model, eps, vectorised: bool, epoch: int):
    model.zero_grad(set_to_none=True)
    loss, logits = meta_batch_loss(model, eps, epoch=epoch, vectorised=vectorised)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), torch.stack(logits).detach(), grads


@pytest.mark.parametrize("batch_norm", ["transductive", "running", "metabn", "tasknorm-i"])
@pytest.mark.parametrize(("method", "extra"), CASES, ids=lambda c: c if isinstance(c, str) else ",".join(c) or "default")
def test_a_vectorised_meta_batch_gives_the_loops_loss_logits_and_gradients(method, extra, batch_norm):
    torch.manual_seed(0)
    model = hm.build_model(tiny_conv_config(method, batch_norm=batch_norm, **extra)).double().train()
    eps = episodes(3)
    epoch = 1  # inside HyperMAML's warm-up blend: MAML steps and hypernetwork together
    loop = loss_logits_grads(model, eps, vectorised=False, epoch=epoch)
    vmap = loss_logits_grads(model, eps, vectorised=True, epoch=epoch)
    assert torch.allclose(loop[0], vmap[0], atol=1e-12, rtol=0)
    assert torch.allclose(loop[1], vmap[1], atol=1e-10, rtol=0)
    assert loop[2].keys() == vmap[2].keys() and len(loop[2]) > 0
    for name in loop[2]:
        assert torch.allclose(loop[2][name], vmap[2][name], atol=1e-10, rtol=1e-8), name


def test_vectorised_training_follows_the_loop_step_for_step():
    cfg = tiny_conv_config("hypermaml", n_shot=1, batch_norm="metabn")
    from hypermaml.data import load_split

    data = load_split("digits")
    sampler = hm.EpisodeSampler(data.x, data.y, 3, 1, 3)
    probs, losses = [], []
    episode = sampler.sample(torch.Generator().manual_seed(5))
    for mode in ("loop", "vmap"):
        torch.manual_seed(0)
        model = hm.build_model(cfg)
        train = hm.TrainConfig(epochs=2, episodes_per_epoch=12, meta_batch=3, val_episodes=0, vectorise=mode)
        result = hm.meta_train(model, sampler, train, progress=False)
        losses.append([r["loss"] for r in result.history])
        with torch.no_grad():
            probs.append(model.predict_proba(episode.query_x, model.adapt(episode.support_x, episode.support_y)))
    # float32 over 8 Adam steps: the loop's one-pass MetaBN and matrix-product first layer round differently
    # from vmap's convolutions (equal in float64 to 1e-10: the test above), about 2e-5 by the second epoch
    assert losses[0] == pytest.approx(losses[1], abs=1e-4)
    # Compared as functions, not parameter by parameter: a few parameters get a true gradient of exactly zero
    # (a convolution's bias before batch norm; the hypernetwork's output bias, shared by every class, which
    # shifts all logits alike), so what they get is rounding noise, which Adam scales up to full-size steps.
    # (The loop's one-pass MetaBN rounds unlike vmap's two passes: about 5e-4 in probability after 8 steps.)
    assert torch.allclose(probs[0], probs[1], atol=2e-3)


def test_a_vectorised_meta_batch_refuses_episodes_with_different_labels():
    eps = episodes(2)
    swapped = Episode(eps[1].support_x, eps[1].support_y.flip(0), eps[1].query_x, eps[1].query_y)
    assert same_labels(eps) and not same_labels([eps[0], swapped])
    model = hm.build_model(tiny_conv_config("protonet")).double()
    with pytest.raises(ValueError, match="same labels"):
        meta_batch_loss(model, [eps[0], swapped], vectorised=True)


def test_vectorising_leaves_the_models_layout_and_other_threads_alone():
    # The standard layout vmap needs is chosen for the call only (a context variable), not set on the module.
    model = hm.build_model(tiny_conv_config("hypermaml", batch_norm="metabn"))
    assert model.backbone.memory_format == torch.channels_last
    meta_batch_loss(model.double(), episodes(2), vectorised=True)
    assert model.backbone.memory_format == torch.channels_last
    from hypermaml.ops.layout import _LAYOUT
    from hypermaml.vectorise import inside_vmap

    assert _LAYOUT.get() is None and not inside_vmap()


def test_bfloat16_precision_is_refused_off_cuda():
    with pytest.raises(hm.ConfigError, match="precision"):
        hm.config.from_dict(hm.TrainConfig, {"precision": "bfloat16", "device": "cpu"})
    assert hm.config.from_dict(hm.TrainConfig, {"vectorise": "vmap"}).vectorise == "vmap"
