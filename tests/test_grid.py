import numpy as np
import pytest
import torch

import hypermaml as hm
from tests.conftest import linear_config


def test_the_grid_puts_the_boundary_of_a_known_classifier_where_it_belongs():
    # Prototypes at x = -1 and x = +1: the boundary is the line x = 0.
    model = hm.build_model(linear_config("protonet")).eval()
    task = hm.ProtoTask(prototypes=torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    grid = hm.decision_grid(model, task, xlim=(-2, 2), ylim=(-1, 3), resolution=41)
    assert grid.probs.shape == (41, 41, 2)
    assert np.allclose(grid.probs.sum(-1), 1.0, atol=1e-6)
    assert (grid.predicted[:, grid.xs < 0] == 0).all() and (grid.predicted[:, grid.xs > 0] == 1).all()
    assert grid.ys[0] == -1 and grid.ys[-1] == 3  # rows run along y


def test_a_resolution_below_two_is_refused():
    model = hm.build_model(linear_config("protonet")).eval()
    with pytest.raises(ValueError, match="resolution must be at least 2"):
        hm.decision_grid(model, hm.ProtoTask(torch.zeros(2, 2)), (0, 1), (0, 1), resolution=1)
