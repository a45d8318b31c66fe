import torch

import hypermaml as hm
from tests.conftest import linear_config


def test_prototypes_are_the_hand_computed_class_means():
    model = hm.build_model(linear_config("protonet", n_way=2)).eval()
    support_x = torch.tensor([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0], [12.0, 10.0], [11.0, 13.0]])
    support_y = torch.tensor([0, 0, 1, 1, 1])
    task = model.adapt(support_x, support_y)
    assert torch.allclose(task.prototypes, torch.tensor([[1.0, 2.0], [11.0, 11.0]]))


def test_logits_are_minus_scale_times_squared_distance():
    model = hm.build_model(linear_config("protonet", protonet=hm.ProtoNetConfig(init_scale=2.0))).eval()
    task = hm.ProtoTask(prototypes=torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    logits = model.logits(torch.tensor([[0.0, 0.0], [3.0, 0.0]]), task)
    assert torch.allclose(logits, torch.tensor([[0.0, -50.0], [-18.0, -32.0]]))


def test_any_number_of_ways_works_with_one_model():
    model = hm.build_model(linear_config("protonet", n_way=2)).eval()
    x = torch.arange(10.0).view(5, 2)
    task = model.adapt(x, torch.arange(5))
    assert model.logits(x, task).argmax(-1).tolist() == [0, 1, 2, 3, 4]
