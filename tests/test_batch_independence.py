"""A query is classified on its own: with a batch-independent normalisation its logits are a function of
(model, support set, that query), never of the other queries in the batch."""

import pytest
import torch

import hypermaml as hm
from hypermaml.backbones import BATCH_INDEPENDENT
from tests.conftest import METHOD_VARIANTS, image_episode, tiny_conv_config

METHODS = METHOD_VARIANTS
CASES = [(m, bn) for m in METHODS for bn in BATCH_INDEPENDENT]


def build(method: str, batch_norm: str) -> hm.FewShotModel:
    torch.manual_seed(0)
    kw = dict(METHODS[method])
    model = hm.build_model(tiny_conv_config(kw.pop("method"), n_way=5, n_shot=1, batch_norm=batch_norm, **kw))
    if batch_norm == "running":
        model.backbone.update_running_stats(image_episode(n_way=5, n_shot=4, seed=9).support_x)
    if isinstance(model, hm.HyperMAML):
        torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)
    return model.eval()


def structured_episode() -> hm.Episode:
    # Class-dependent images, so that a batch of one class has statistics unlike a mixed batch.
    g = torch.Generator().manual_seed(3)
    means = torch.linspace(0.1, 0.9, 5)

    def images(labels):
        return (means[labels][:, None, None, None] + 0.3 * torch.rand(len(labels), 1, 28, 28, generator=g)).clamp(0, 1)

    support_y = torch.arange(5)
    query_y = torch.arange(5).repeat_interleave(15)
    return hm.Episode(images(support_y), support_y, images(query_y), query_y)


def assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert torch.equal(a.argmax(-1), b.argmax(-1)), "a prediction flipped"
    rel = (a - b).abs().max() / a.abs().max().clamp_min(1e-12)
    assert rel <= 1e-4, f"relative difference {rel:.2e}"


@pytest.mark.parametrize("method,batch_norm", CASES, ids=[f"{m}-{b}" for m, b in CASES])
def test_a_query_alone_gets_the_logits_it_gets_in_any_batch(method, batch_norm):
    model = build(method, batch_norm)
    ep = structured_episode()
    task = model.adapt(ep.support_x, ep.support_y)
    with torch.no_grad():
        mixed = model.logits(ep.query_x, task)  # 75 queries of 5 classes
        alone = torch.cat([model.logits(x[None], task) for x in ep.query_x])
        same_class = torch.cat([model.logits(ep.query_x[ep.query_y == c][:5], task) for c in range(5)])
    assert_close(alone, mixed)
    first_five = torch.cat([alone[ep.query_y == c][:5] for c in range(5)])
    assert_close(first_five, same_class)


def test_transductive_normalisation_does_depend_on_the_batch():
    # The contrast that makes the test above meaningful: the paper's normalisation fails it.
    model = build("protonet", "transductive")
    ep = structured_episode()
    task = model.adapt(ep.support_x, ep.support_y)
    with torch.no_grad():
        mixed = model.logits(ep.query_x, task)
        alone = torch.cat([model.logits(x[None], task) for x in ep.query_x[:10]])
    assert (alone - mixed[:10]).abs().max() > 1e-2


@pytest.mark.parametrize("batch_norm", ["transductive", *BATCH_INDEPENDENT])
@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_adapt_leaves_the_model_bit_identical(method, batch_norm, mode):
    model = build(method, batch_norm).train(mode == "train")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ep = structured_episode()
    loss, _ = model.meta_loss(ep)
    if loss.requires_grad:  # eval-mode MAML adapts without a graph back to the meta-parameters
        loss.backward()  # the meta-gradient fills .grad; parameters and buffers stay as they were
    task = model.adapt(ep.support_x, ep.support_y)
    model.logits(ep.query_x, task)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_running_statistics_change_only_through_the_explicit_training_step():
    model = build("protonet", "running").train()
    bn = model.backbone.features[1]
    before = bn.running_mean.clone()
    ep = structured_episode()
    model.meta_loss(ep)
    assert torch.equal(bn.running_mean, before)
    model.backbone.update_running_stats(ep.query_x)
    assert not torch.equal(bn.running_mean, before)


def test_metabn_queries_use_the_support_moments():
    # MetaBN by hand on the first layer: (conv(x) - mean_support) / sqrt(var_support + eps) * w + b. The
    # convolution's bias cancels there, so Conv4 leaves it out: the moments are those of the convolution without it.
    model = build("protonet", "metabn")
    ep = structured_episode()
    _, stats = model.backbone.embed_support(ep.support_x)
    conv = model.backbone.features[0]
    h = torch.nn.functional.conv2d(model.backbone.standardize(ep.support_x), conv.weight, None, padding=1)
    var, mean = torch.var_mean(h, dim=(0, 2, 3), correction=0)
    assert torch.allclose(stats.moments[0][0], mean, atol=1e-5)
    assert torch.allclose(stats.moments[0][1], var, atol=1e-5)
    assert stats.n_support == 5


def test_tasknorm_blend_weight_is_learned_and_depends_on_the_support_size():
    model = build("protonet", "tasknorm-i").train()
    ep = structured_episode()
    loss, _ = model.meta_loss(ep)
    loss.backward()
    assert model.backbone.tasknorm.grad is not None and model.backbone.tasknorm.grad.abs().sum() > 0


@pytest.mark.parametrize("query_batch", [1, 7, None])
def test_evaluate_protocols_agree_for_a_batch_independent_model(query_batch):
    model = build("hypermaml", "metabn")
    x = torch.rand(60, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(6).repeat_interleave(10)
    sampler = hm.EpisodeSampler(x, y, 5, 1, 3)
    reference = hm.evaluate(model, sampler, 5, seed=0)
    result = hm.evaluate(model, sampler, 5, seed=0, query_batch=query_batch)
    assert result.accuracies.tolist() == reference.accuracies.tolist()


def test_evaluate_refuses_a_query_batch_below_one():
    model = build("protonet", "metabn")
    sampler = hm.EpisodeSampler(torch.rand(20, 1, 28, 28), torch.arange(5).repeat_interleave(4), 5, 1, 2)
    with pytest.raises(ValueError, match="query_batch must be at least 1"):
        hm.evaluate(model, sampler, 2, query_batch=0)
