"""The API's edge: ordinary mistakes give one TypeError/ValueError naming what was expected and what came, and
every method behaves the same under grad mode, ``torch.no_grad()`` and ``torch.inference_mode()``."""

import itertools

import numpy as np
import pytest
import torch

import hypermaml as hm
from hypermaml.config import ConfigError, from_dict
from tests.conftest import image_episode, linear_config, tiny_conv_config

VARIANTS = {
    "maml-all": dict(method="maml", maml=hm.MAMLConfig(adapt="all", inner_lr=0.3, test_steps=2, train_steps=2)),
    "maml-head": dict(method="maml", maml=hm.MAMLConfig(adapt="head", inner_lr=0.3, test_steps=2, train_steps=2)),
    "hypermaml": dict(method="hypermaml", hypermaml=hm.HyperMAMLConfig(hidden=16)),
    "protonet": dict(method="protonet"),
}
METHODS = ["maml-all", "hypermaml", "protonet"]
TASKS = {"maml-all": hm.MAMLTask, "hypermaml": hm.HyperTask, "protonet": hm.ProtoTask}


def build(name: str, batch_norm: str = "transductive") -> hm.FewShotModel:
    torch.manual_seed(0)
    kw = dict(VARIANTS[name])
    model = hm.build_model(tiny_conv_config(kw.pop("method"), batch_norm=batch_norm, **kw)).eval()
    if name == "hypermaml":
        torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)  # a non-zero update, so the hypernetwork counts
    return model


def task_tensors(task) -> list[torch.Tensor]:
    if isinstance(task, hm.MAMLTask):
        tensors = list(task.params.values())
    elif isinstance(task, hm.HyperTask):
        tensors = [task.weight, task.bias, task.delta_weight, task.delta_bias]
    else:
        tensors = [task.prototypes]
    if task.stats is not None:
        tensors += [t for pair in task.stats.moments for t in pair]
    return tensors


# --- images ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", METHODS)
def test_float64_and_float16_images_are_converted_to_the_models_float32(name):
    model, ep = build(name), image_episode()
    with torch.no_grad():
        expected = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
        got = model.logits(ep.query_x.double(), model.adapt(ep.support_x.double(), ep.support_y))
        half = model.logits(ep.query_x.half(), model.adapt(ep.support_x.half(), ep.support_y))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(half, expected, atol=0.05, rtol=0.05)  # the pixels rounded to float16


def test_a_float64_model_takes_float32_images_as_float64():
    model = build("protonet").double()
    ep = image_episode()
    with torch.no_grad():
        logits = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    assert logits.dtype == torch.float64


@pytest.mark.parametrize("name", METHODS)
def test_numpy_images_and_list_labels_give_the_same_logits_as_tensors(name):
    model, ep = build(name), image_episode()
    with torch.no_grad():
        expected = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
        got = model.logits(ep.query_x.numpy().astype(np.float64), model.adapt(ep.support_x.numpy(), ep.support_y.tolist()))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", METHODS)
def test_8_bit_images_are_refused_with_the_hint_to_divide_by_255(name):
    model, ep = build(name), image_episode()
    pixels = (ep.support_x * 255).to(torch.uint8)
    with pytest.raises(
        TypeError, match=r"^support_x must hold floating-point images \(like torch.float32\), got torch.uint8: .*/ 255"
    ):
        model.adapt(pixels, ep.support_y)
    with pytest.raises(TypeError, match="support_x must hold floating-point images"):
        model.adapt(pixels.numpy(), ep.support_y)  # the same from numpy
    task = model.adapt(ep.support_x, ep.support_y)
    with pytest.raises(TypeError, match="query_x must hold floating-point images .*got torch.int64"):
        model.logits(ep.query_x.long(), task)


def test_images_that_are_no_array_are_refused_naming_what_came():
    model, ep = build("protonet"), image_episode()
    with pytest.raises(TypeError, match=r"^support_x must be a tensor of images \(or a numpy array\), got a list$"):
        model.adapt(ep.support_x.tolist(), ep.support_y)


@pytest.mark.parametrize("name", METHODS)
def test_64x64_images_into_a_28x28_model_name_both_shapes_in_adapt_and_logits(name):
    model, ep = build(name), image_episode()
    expected = r"expected images of shape \(n, 1, 28, 28\) \(this model's backbone\), got \(6, 1, 64, 64\)$"
    with pytest.raises(ValueError, match="^support_x: " + expected):
        model.adapt(torch.rand(6, 1, 64, 64), ep.support_y)
    task = model.adapt(ep.support_x, ep.support_y)
    with pytest.raises(ValueError, match="^query_x: " + expected):
        model.logits(torch.rand(6, 1, 64, 64), task)


def test_protonet_refuses_wrong_sized_images_already_in_adapt():
    # it used to accept them (the prototypes simply had another size) and fail in logits inside torch
    model, ep = build("protonet"), image_episode()
    with pytest.raises(ValueError, match=r"support_x: expected images of shape \(n, 1, 28, 28\)"):
        model.adapt(torch.rand(6, 1, 32, 32), ep.support_y)


@pytest.mark.parametrize("name", METHODS)
def test_a_wrong_channel_count_is_refused(name):
    model, ep = build(name), image_episode()
    with pytest.raises(ValueError, match=r"^support_x: expected images of shape \(n, 1, 28, 28\) .*got \(6, 3, 28, 28\)$"):
        model.adapt(ep.support_x.expand(-1, 3, -1, -1), ep.support_y)


def test_one_image_without_a_batch_dimension_gets_a_hint():
    model, ep = build("hypermaml"), image_episode()
    task = model.adapt(ep.support_x, ep.support_y)
    with pytest.raises(ValueError, match=r"got \(1, 28, 28\); one example needs a batch dimension: x\[None\]$"):
        model.logits(ep.query_x[0], task)


def test_toy_points_of_the_wrong_dimension_are_refused():
    model = hm.build_model(linear_config("protonet"))
    with pytest.raises(
        ValueError, match=r"^support_x: expected inputs of shape \(n, 2\) \(this model's backbone\), got \(2, 3\)$"
    ):
        model.adapt(torch.zeros(2, 3), [0, 1])


def test_inputs_on_another_device_are_refused_naming_both_devices():
    model, ep = build("protonet"), image_episode()
    with pytest.raises(ValueError, match=r"^support_x is on meta but the model is on cpu; move one of them"):
        model.adapt(ep.support_x.to("meta"), ep.support_y)
    with pytest.raises(ValueError, match=r"^support_y is on meta but the model is on cpu"):
        model.adapt(ep.support_x, ep.support_y.to("meta"))


# --- labels ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels,message",
    [
        (lambda y: y.float(), r"^support_y must hold integer labels, got torch.float32$"),
        (lambda y: y.bool(), r"^support_y must hold integer labels, got torch.bool$"),
        (lambda y: [float(v) for v in y], r"^support_y must hold integer labels, got a float \(0.0\)$"),
        (lambda y: y.numpy().astype(np.float32), r"^support_y must hold integer labels, got a numpy array of dtype float32$"),
        (
            lambda y: "0 0 1 1 2 2",
            r"^support_y must be a tensor of integer labels \(or a list, tuple or numpy array\), got a str$",
        ),
    ],
    ids=["float-tensor", "bool-tensor", "float-list", "float-numpy", "string"],
)
def test_labels_that_are_not_integers_are_refused(labels, message):
    model, ep = build("maml-all"), image_episode()
    with pytest.raises(TypeError, match=message):
        model.adapt(ep.support_x, labels(ep.support_y))


@pytest.mark.parametrize(
    "labels",
    [lambda y: y.int(), lambda y: y.to(torch.uint8), lambda y: tuple(y.tolist()), lambda y: y.numpy().astype(np.int32)],
    ids=["int32", "uint8", "tuple", "numpy-int32"],
)
def test_integer_labels_of_any_kind_adapt_maml_like_an_int64_tensor(labels):
    # MAML's inner loss (cross-entropy) needs int64: the edge converts, so no torch error about Long
    model, ep = build("maml-all"), image_episode()
    with torch.no_grad():
        expected = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
        got = model.logits(ep.query_x, model.adapt(ep.support_x, labels(ep.support_y)))
    torch.testing.assert_close(got, expected)


# --- tasks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "other"), list(itertools.permutations(METHODS, 2)))
def test_a_task_of_another_method_is_refused_naming_both(name, other):
    model, ep = build(name), image_episode()
    foreign = build(other).adapt(ep.support_x, ep.support_y)
    method = type(model).__name__
    mine, theirs = TASKS[name].__name__, type(foreign).__name__
    with pytest.raises(TypeError, match=rf"^{method}.logits needs the {mine} that {method}.adapt returns; got an? {theirs}"):
        model.logits(ep.query_x, foreign)


def test_something_that_is_no_task_is_refused():
    model, ep = build("hypermaml"), image_episode()
    with pytest.raises(TypeError, match=r"^HyperMAML.logits needs the HyperTask that HyperMAML.adapt returns; got a dict$"):
        model.logits(ep.query_x, {"weight": torch.zeros(3, 8)})


# --- gradients and grad modes: one rule for every method ------------------------------------------------------


@pytest.mark.parametrize("batch_norm", ["transductive", "metabn"])
@pytest.mark.parametrize("name", [*METHODS, "maml-head"])
def test_every_method_adapts_and_predicts_under_inference_mode_as_under_no_grad(name, batch_norm):
    model, ep = build(name, batch_norm), image_episode()
    with torch.no_grad():
        expected = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    with torch.inference_mode():
        support_x, support_y, query_x = ep.support_x.clone(), ep.support_y.clone(), ep.query_x.clone()  # inference tensors
        task = model.adapt(support_x, support_y)
        logits = model.logits(query_x, task)
    assert not logits.requires_grad and not any(t.requires_grad for t in task_tensors(task))
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_maml_trajectories_and_the_hypermaml_warm_up_work_under_inference_mode():
    maml, hyper, ep = build("maml-all"), build("hypermaml"), image_episode()
    with torch.no_grad():
        expected = [t.params["head.weight"] for t in maml.adapt_trajectory(ep.support_x, ep.support_y, steps=2)]
        blend = hyper.adapt(ep.support_x, ep.support_y, maml_weight=0.5).delta_weight
    with torch.inference_mode():
        got = [t.params["head.weight"] for t in maml.adapt_trajectory(ep.support_x, ep.support_y, steps=2)]
        warm = hyper.adapt(ep.support_x, ep.support_y, maml_weight=0.5).delta_weight
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(warm, blend)


@pytest.mark.parametrize("name", [*METHODS, "maml-head"])
def test_under_no_grad_no_tensor_of_any_methods_task_or_logits_requires_grad(name):
    model, ep = build(name), image_episode()
    with torch.no_grad():
        task = model.adapt(ep.support_x, ep.support_y)
        logits = model.logits(ep.query_x, task)
    assert not logits.requires_grad and not any(t.requires_grad for t in task_tensors(task))


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name", [*METHODS, "maml-head"])
def test_with_gradients_on_every_methods_logits_reach_the_backbone_and_the_query(name, mode):
    # the same rule in training and evaluation mode: MAML's eval-mode logits used to carry no gradient
    model, ep = build(name), image_episode()
    model.train(mode == "train")
    query_x = ep.query_x.clone().requires_grad_()
    logits = model.logits(query_x, model.adapt(ep.support_x, ep.support_y))
    assert logits.requires_grad
    logits.square().sum().backward()
    first_conv = model.backbone.features[0].weight
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    assert query_x.grad is not None and query_x.grad.abs().sum() > 0
    if name == "hypermaml":
        assert model.hypernet.out.weight.grad.abs().sum() > 0


def test_maml_eval_mode_gradients_go_through_the_inner_loop():
    # the meta-gradient of a query loss in eval mode is the training one: through the inner steps (second order)
    model, ep = build("maml-all"), image_episode()
    loss = torch.nn.functional.cross_entropy(model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y)), ep.query_y)
    (grad_eval,) = torch.autograd.grad(loss, model.head.weight)
    model.train()
    task = model.adapt(ep.support_x, ep.support_y, steps=model.config.maml.test_steps)
    loss = torch.nn.functional.cross_entropy(model.logits(ep.query_x, task), ep.query_y)
    (grad_train,) = torch.autograd.grad(loss, model.head.weight)
    torch.testing.assert_close(grad_eval, grad_train)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_returns_a_float32_tensor_of_one_row_per_query(name):
    model, ep = build(name), image_episode()
    task = model.adapt(ep.support_x, ep.support_y)
    logits = model.logits(ep.query_x, task)
    assert type(logits) is torch.Tensor and logits.dtype == torch.float32 and logits.shape == (12, 3)
    assert isinstance(task, TASKS[name])


@pytest.mark.parametrize("name", METHODS)
def test_meta_loss_takes_a_float64_episode(name):
    model, ep = build(name), image_episode()
    model.train()
    episode = hm.Episode(ep.support_x.double(), ep.support_y.int(), ep.query_x.double(), ep.query_y.int())
    loss, logits = model.meta_loss(episode)
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and logits.shape == (12, 3)


# --- configs --------------------------------------------------------------------------------------------------


def test_a_checkpoints_config_without_image_size_builds_a_28x28_model():
    stored = hm.config.to_dict(tiny_conv_config("protonet"))
    del stored["backbone"]["image_size"]  # as in every checkpoint written before the field existed
    config = from_dict(hm.ModelConfig, stored)
    assert config.backbone.image_size == 28 and hm.build_model(config).backbone.input_shape == (1, 28, 28)


def test_an_image_size_too_small_for_the_poolings_is_refused():
    with pytest.raises(ConfigError, match=r"image_size=8 leaves no pixel after n_blocks=4 poolings \(need image_size >= 16\)"):
        from_dict(hm.ModelConfig, {"backbone": {"image_size": 8}})


def test_a_backbone_built_from_another_config_than_the_models_is_refused():
    from hypermaml.backbones import build_backbone

    config = tiny_conv_config("protonet")
    other = build_backbone(hm.BackboneConfig(in_channels=3, image_size=84))
    with pytest.raises(ValueError, match=r"in_channels: 1 in the config, 3 in the backbone; .*image_size: 28 in the config, 84"):
        hm.ProtoNet(config, other)
