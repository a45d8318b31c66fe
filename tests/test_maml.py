import math

import pytest
import torch
import torch.nn.functional as F

import hypermaml as hm
from hypermaml.maml import gradient_steps
from tests.conftest import image_episode, linear_config, tiny_conv_config

# Two support points on the axes, one per class, and one query of class 0.
SUPPORT_X = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
SUPPORT_Y = torch.tensor([0, 1])
QUERY_X = torch.tensor([[1.0, 0.0]])
QUERY_Y = torch.tensor([0])


def zero_linear_maml(first_order: bool = False, inner_lr: float = 1.0) -> hm.MAML:
    model = hm.build_model(linear_config("maml", maml=hm.MAMLConfig(inner_lr=inner_lr, train_steps=1, first_order=first_order)))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    return model


def test_one_inner_step_on_a_linear_head_matches_the_hand_computed_update():
    # At W = 0, b = 0 both classes get p = 0.5. Mean cross-entropy over 2 points gives
    # dL/dW = sum_i (p_i - y_i) x_i^T / 2 = [[-0.25, 0.25], [0.25, -0.25]] and dL/db = [0, 0].
    # With inner_lr = 1: W' = -dL/dW, b' = 0.
    model = zero_linear_maml().eval()
    task = model.adapt(SUPPORT_X, SUPPORT_Y, steps=1)
    assert torch.equal(task.params["head.weight"], torch.tensor([[0.25, -0.25], [-0.25, 0.25]]))
    assert torch.equal(task.params["head.bias"], torch.tensor([0.0, 0.0]))


def test_first_order_meta_gradient_is_the_query_gradient_at_the_fast_weights():
    # Query logits at W' are (0.25, -0.25): p0 = sigmoid(0.5). dLq/dW' = (p - y) x_q^T.
    model = zero_linear_maml(first_order=True).train()
    task = model.adapt(SUPPORT_X, SUPPORT_Y)
    F.cross_entropy(model.logits(QUERY_X, task), QUERY_Y).backward()
    p0 = 1 / (1 + math.exp(-0.5))
    expected = torch.tensor([[p0 - 1, 0.0], [1 - p0, 0.0]])
    assert torch.allclose(model.head.weight.grad, expected, atol=1e-7)
    assert torch.allclose(model.head.bias.grad, torch.tensor([p0 - 1, 1 - p0]), atol=1e-7)


def test_second_order_meta_gradient_adds_the_hessian_term_that_first_order_drops():
    # theta' = theta - a * g(theta)  =>  dLq/dtheta = (I - a H) dLq/dtheta' with H the support-loss Hessian.
    grads = {}
    for first_order in (True, False):
        model = zero_linear_maml(first_order=first_order).train()
        task = model.adapt(SUPPORT_X, SUPPORT_Y)
        F.cross_entropy(model.logits(QUERY_X, task), QUERY_Y).backward()
        grads[first_order] = torch.cat([model.head.weight.grad.flatten(), model.head.bias.grad])

    def support_loss(flat: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(F.linear(SUPPORT_X, flat[:4].view(2, 2), flat[4:]), SUPPORT_Y)

    hessian = torch.autograd.functional.hessian(support_loss, torch.zeros(6))
    expected_second_order = (torch.eye(6) - 1.0 * hessian) @ grads[True]
    assert torch.allclose(grads[False], expected_second_order, atol=1e-6)
    assert not torch.allclose(grads[False], grads[True], atol=1e-3)


def test_zero_steps_is_the_meta_initialisation():
    model = hm.build_model(tiny_conv_config("maml")).eval()
    ep = image_episode()
    task = model.adapt(ep.support_x, ep.support_y, steps=0)
    with torch.no_grad():
        assert torch.allclose(model.logits(ep.query_x, task), model(ep.query_x))


@pytest.mark.parametrize("adapt", ["all", "head"])
def test_trajectory_holds_every_state_and_ends_where_adapt_ends(adapt):
    model = hm.build_model(tiny_conv_config("maml", maml=hm.MAMLConfig(inner_lr=0.1, adapt=adapt))).eval()
    ep = image_episode()
    trajectory = model.adapt_trajectory(ep.support_x, ep.support_y, steps=3)
    assert [t.steps for t in trajectory] == [0, 1, 2, 3]
    final = model.adapt(ep.support_x, ep.support_y, steps=3)
    for name, value in final.params.items():
        assert torch.allclose(trajectory[-1].params[name], value)
    losses = [F.cross_entropy(model.logits(ep.support_x, t), ep.support_y).item() for t in trajectory]
    assert losses[-1] < losses[0], "gradient steps should lower the support loss"


def test_head_only_adaptation_leaves_the_backbone_shared():
    model = hm.build_model(tiny_conv_config("maml", maml=hm.MAMLConfig(adapt="head"))).eval()
    ep = image_episode()
    assert set(model.adapt(ep.support_x, ep.support_y, steps=2).params) == {"head.weight", "head.bias"}


def test_gradient_steps_takes_each_gradient_at_the_current_point():
    # loss = 0.5 * w^2 has gradient w, so each step multiplies w by (1 - lr).
    trajectory = gradient_steps(lambda p: 0.5 * p["w"].square().sum(), {"w": torch.tensor([8.0])}, 3, 0.5, differentiable=False)
    assert [t["w"].item() for t in trajectory] == [8.0, 4.0, 2.0, 1.0]


def test_negative_steps_and_wrong_label_ranges_are_refused():
    model = hm.build_model(linear_config("maml")).eval()
    for steps in (-1, 1.5, True, "3"):  # not a count of steps: refused, where 1.5 and "3" failed deep inside and True ran 1
        with pytest.raises(ValueError, match=f"steps must be a whole number >= 0, got {steps!r}"):
            model.adapt(SUPPORT_X, SUPPORT_Y, steps=steps)
    for inner_lr in (-1.0, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="inner_lr must be a number >= 0"):
            model.adapt(SUPPORT_X, SUPPORT_Y, steps=1, inner_lr=inner_lr)
    with pytest.raises(ValueError, match="labels must be 0..1 for this 2-way model; got label 2"):
        model.adapt(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="missing classes \\[0\\]"):
        model.adapt(SUPPORT_X, torch.tensor([1, 1]))


def test_the_test_time_step_size_can_differ_from_the_training_one():
    cfg = hm.MAMLConfig(inner_lr=1.0, test_inner_lr=0.5, train_steps=1, test_steps=1)
    model = hm.build_model(linear_config("maml", maml=cfg))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    trained = model.train().adapt(SUPPORT_X, SUPPORT_Y).params["head.weight"]
    tested = model.eval().adapt(SUPPORT_X, SUPPORT_Y).params["head.weight"]
    assert torch.allclose(trained, torch.tensor([[0.25, -0.25], [-0.25, 0.25]]))
    assert torch.allclose(tested, torch.tensor([[0.125, -0.125], [-0.125, 0.125]]))
    assert torch.allclose(model.adapt(SUPPORT_X, SUPPORT_Y, inner_lr=1.0).params["head.weight"], trained)
