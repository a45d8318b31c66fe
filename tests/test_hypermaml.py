import pytest
import torch
import torch.nn.functional as F

import hypermaml as hm
from hypermaml.hypermaml import maml_weight
from tests.conftest import image_episode, tiny_conv_config


def build(**hyper):
    torch.manual_seed(0)
    return hm.build_model(tiny_conv_config("hypermaml", hypermaml=hm.HyperMAMLConfig(hidden=16, **hyper)))


def test_a_fresh_hypernetwork_outputs_a_zero_delta_so_the_model_is_its_base_classifier():
    model = build().eval()
    ep = image_episode()
    task = model.adapt(ep.support_x, ep.support_y)
    assert torch.count_nonzero(task.delta_weight) == 0 and torch.count_nonzero(task.delta_bias) == 0
    base = model.head(model.backbone(ep.query_x))
    assert torch.equal(model.logits(ep.query_x, task), base)


def test_alpha_interpolates_between_the_base_classifier_and_the_adapted_one():
    model = build().eval()
    torch.nn.init.normal_(model.hypernet.out.weight, std=0.5)
    ep = image_episode()
    task = model.adapt(ep.support_x, ep.support_y)
    base = model.head(model.backbone(ep.query_x))
    assert torch.allclose(model.logits(ep.query_x, task.with_alpha(0.0)), base)
    half = model.logits(ep.query_x, task.with_alpha(0.5))
    assert torch.allclose(half, 0.5 * base + 0.5 * model.logits(ep.query_x, task), atol=1e-5)
    assert not torch.allclose(model.logits(ep.query_x, task), base)


def test_meta_gradients_reach_the_hypernetwork_and_the_backbone():
    model = build().train()
    ep = image_episode()
    loss, _ = model.meta_loss(ep)
    loss.backward()
    assert model.hypernet.out.weight.grad.abs().sum() > 0
    assert model.backbone.features[0].weight.grad.abs().sum() > 0
    # With a non-zero last layer the gradient also flows into the hypernetwork's hidden layers.
    model.zero_grad()
    torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)
    model.meta_loss(ep)[0].backward()
    assert model.hypernet.body[0].weight.grad.abs().sum() > 0


def test_the_warm_up_schedule_goes_from_maml_to_hypernetwork_linearly():
    assert [maml_weight(e, 2, 3) for e in range(7)] == [1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert [maml_weight(e, 0, 0) for e in range(2)] == [0.0, 0.0]


def test_pure_maml_warm_up_takes_every_gradient_at_the_current_fast_weights():
    model = build(warmup_epochs=1, warmup_steps=2, warmup_inner_lr=0.3).train()
    ep = image_episode()
    task = model.adapt(ep.support_x, ep.support_y, maml_weight=1.0)
    features = model.backbone(ep.support_x)
    w, b = model.head.weight, model.head.bias
    for _ in range(2):  # by hand: two steps, the second one at the once-updated weights
        gw, gb = torch.autograd.grad(F.cross_entropy(F.linear(features, w, b), ep.support_y), (w, b))
        w, b = w - 0.3 * gw, b - 0.3 * gb
    assert torch.allclose(task.adapted_weight, w, atol=1e-6)
    assert torch.allclose(task.adapted_bias, b, atol=1e-6)


def test_the_blend_mixes_the_two_updates_with_weight_p():
    model = build(warmup_steps=1, warmup_inner_lr=0.3).eval()
    torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)
    ep = image_episode()
    hyper = model.adapt(ep.support_x, ep.support_y, maml_weight=0.0)
    maml = model.adapt(ep.support_x, ep.support_y, maml_weight=1.0)
    blend = model.adapt(ep.support_x, ep.support_y, maml_weight=0.25)
    assert torch.allclose(blend.delta_weight, 0.25 * maml.delta_weight + 0.75 * hyper.delta_weight, atol=1e-6)


def test_the_delta_penalty_adds_lambda_times_the_squared_norm():
    ep = image_episode()
    losses = {}
    for lam in (0.0, 0.5):
        model = build(delta_penalty=lam).train()
        torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)
        losses[lam] = model.meta_loss(ep)[0]
        task = model.adapt(ep.support_x, ep.support_y)
    norm = task.delta_weight.square().sum() + task.delta_bias.square().sum()
    assert norm > 0
    assert torch.allclose(losses[0.5] - losses[0.0], 0.5 * norm, atol=1e-5)


def test_concat_aggregation_needs_the_trained_shot_count_and_mean_takes_any():
    ep = image_episode(n_shot=3)
    with pytest.raises(ValueError, match="concatenates 2 shot\\(s\\) per class; the support set has 3"):
        build(aggregation="concat").eval().adapt(ep.support_x, ep.support_y)
    task = build(aggregation="mean").eval().adapt(ep.support_x, ep.support_y)
    assert task.delta_weight.shape == (3, 8)


def test_unequal_shots_per_class_are_refused_with_the_counts():
    model = build().eval()
    x = torch.rand(7, 1, 28, 28)
    with pytest.raises(ValueError, match="counts \\[3, 2, 2\\]"):
        model.adapt(x, torch.tensor([0, 0, 0, 1, 1, 2, 2]))


def test_the_linear_skip_path_starts_at_zero_and_learns():
    model = build(linear_skip=True).train()
    ep = image_episode()
    task = model.adapt(ep.support_x, ep.support_y)
    assert torch.count_nonzero(task.delta_weight) == 0
    model.meta_loss(ep)[0].backward()
    assert model.hypernet.skip.weight.grad.abs().sum() > 0
    assert build(linear_skip=False).hypernet.skip is None


def test_mean_aggregation_takes_classes_of_different_sizes():
    model = build(aggregation="mean").eval()
    torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)
    x = torch.rand(7, 1, 28, 28)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    task = model.adapt(x, y)
    # class 0's input is the mean of its three enhanced embeddings: same as giving the mean image set twice
    inputs = model.hypernet_inputs(model.backbone(x), y)
    features = model.backbone(x)
    probs = model.head(features).softmax(-1)
    enhanced = torch.cat([features, probs, torch.nn.functional.one_hot(y, 3).float()], 1)
    assert torch.allclose(inputs[0], enhanced[:3].mean(0), atol=1e-6)
    assert task.delta_weight.shape == (3, 8)
