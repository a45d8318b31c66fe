"""The contract every method keeps: adapt is pure, labels are explicit."""

import pytest
import torch

import hypermaml as hm
from tests.conftest import image_episode, tiny_conv_config

METHOD_CONFIGS = {
    "maml-all": tiny_conv_config("maml", maml=hm.MAMLConfig(adapt="all", inner_lr=0.1)),
    "maml-head": tiny_conv_config("maml", maml=hm.MAMLConfig(adapt="head", inner_lr=0.1)),
    "maml-running-bn": tiny_conv_config("maml", batch_norm="running"),
    "hypermaml": tiny_conv_config("hypermaml", hypermaml=hm.HyperMAMLConfig(hidden=16)),
    "hypermaml-warmup": tiny_conv_config("hypermaml", hypermaml=hm.HyperMAMLConfig(hidden=16, warmup_epochs=1, blend_epochs=2)),
    "protonet": tiny_conv_config("protonet"),
}


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# Running BatchNorm statistics change only through the explicit training step (Conv4.update_running_stats),
# so adaptation is pure in training mode too.
PURE_CASES = [(n, m) for n in sorted(METHOD_CONFIGS) for m in ("eval", "train")]


@pytest.mark.parametrize("name,mode", PURE_CASES)
def test_adapt_and_logits_leave_the_state_dict_unchanged(name, mode):
    torch.manual_seed(0)
    model = hm.build_model(METHOD_CONFIGS[name]).train(mode == "train")
    if name.startswith("hypermaml"):
        torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)  # a non-zero update
    before = snapshot(model)
    ep = image_episode()
    for epoch in (0, 1, 5):
        loss, _ = model.meta_loss(ep, epoch=epoch)
        task = model.adapt(ep.support_x, ep.support_y)
        model.logits(ep.query_x, task)
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), f"{name} changed {key}"


@pytest.mark.parametrize("name", ["maml-all", "hypermaml", "protonet"])
def test_logits_have_one_row_per_query_and_one_column_per_class(name):
    model = hm.build_model(METHOD_CONFIGS[name]).eval()
    ep = image_episode(n_way=3, n_query=5)
    logits = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    assert logits.shape == (15, 3)
    probs = model.predict_proba(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    assert torch.allclose(probs.sum(-1), torch.ones(15))


def test_relabelling_the_support_set_permutes_the_predictions():
    # Labels are data, not batch order: swap the names of classes 0 and 2 and the columns follow.
    torch.manual_seed(0)
    model = hm.build_model(METHOD_CONFIGS["protonet"]).eval()
    ep = image_episode()
    relabel = torch.tensor([2, 1, 0])
    a = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    b = model.logits(ep.query_x, model.adapt(ep.support_x, relabel[ep.support_y]))
    assert torch.allclose(a[:, relabel], b, atol=1e-5)


def test_float_labels_are_refused_with_a_clear_message():
    model = hm.build_model(METHOD_CONFIGS["protonet"]).eval()
    ep = image_episode()
    with pytest.raises(TypeError, match="integer labels"):
        model.adapt(ep.support_x, ep.support_y.float())


def test_support_labels_are_counted_and_refused_with_the_numbers():
    from hypermaml.base import support_counts

    x = torch.zeros(6, 2)
    assert support_counts(x, torch.tensor([2, 0, 1, 0, 2, 2])) == [2, 1, 3]
    with pytest.raises(ValueError, match="labels must be 0..n_way-1; got -1"):
        support_counts(x, torch.tensor([0, 1, -1, 0, 1, 0]))
    with pytest.raises(ValueError, match="missing classes \\[1, 3\\]"):
        support_counts(x, torch.tensor([0, 2, 4, 0, 2, 4]))
    with pytest.raises(ValueError, match="labels must be 0..1 for this 2-way model; got label 2"):
        support_counts(x, torch.tensor([0, 1, 2, 0, 1, 2]), n_way=2)
    # labels 1..5 for a 5-way model: the label out of range is named, not a count of classes
    with pytest.raises(ValueError, match="labels must be 0..4 for this 5-way model; got label 5"):
        support_counts(torch.zeros(5, 2), torch.arange(5) + 1, n_way=5)
    # fewer classes than the model's ways: the missing ones are named
    with pytest.raises(ValueError, match="missing classes \\[3, 4\\]"):
        support_counts(x, torch.tensor([0, 1, 2, 0, 1, 2]), n_way=5)
    with pytest.raises(ValueError, match="the support set is empty"):
        support_counts(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64))


def test_rows_are_grouped_by_class_in_the_order_given_whether_or_not_they_come_sorted():
    from hypermaml.base import split_by_class

    x = torch.arange(6.0)[:, None]
    sorted_ = split_by_class(x, torch.tensor([0, 0, 1, 1, 2, 2]), 3)
    assert sorted_[..., 0].tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    shuffled = split_by_class(x, torch.tensor([2, 0, 1, 0, 2, 1]), 3)
    assert shuffled[..., 0].tolist() == [[1.0, 3.0], [2.0, 5.0], [0.0, 4.0]]  # within a class: order of appearance
    with pytest.raises(ValueError, match="same number of support examples; got counts \\[3, 2, 1\\]"):
        split_by_class(x, torch.tensor([0, 0, 0, 1, 1, 2]), 3)
