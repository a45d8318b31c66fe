import math

import numpy as np
import pytest

import hypermaml as hm
from tests.conftest import linear_config
from toy.tasks import ToyTaskSampler


def protonet():
    return hm.build_model(linear_config("protonet"))


def test_the_interval_is_1_96_population_std_over_root_n():
    result = hm.evaluate(protonet(), ToyTaskSampler(2, 5), n_episodes=50, seed=3)
    acc = result.accuracies
    assert result.n_episodes == 50 and acc.shape == (50,)
    assert result.mean == pytest.approx(acc.mean())
    assert result.ci95 == pytest.approx(1.96 * np.std(acc) / math.sqrt(50))
    assert ((acc >= 0) & (acc <= 1)).all()
    assert result.adapt_seconds > 0


def test_the_same_seed_gives_the_same_result_and_another_seed_differs():
    a = hm.evaluate(protonet(), ToyTaskSampler(1, 5), n_episodes=40, seed=1)
    b = hm.evaluate(protonet(), ToyTaskSampler(1, 5), n_episodes=40, seed=1)
    c = hm.evaluate(protonet(), ToyTaskSampler(1, 5), n_episodes=40, seed=2)
    assert np.array_equal(a.accuracies, b.accuracies)
    assert not np.array_equal(a.accuracies, c.accuracies)


def test_adapt_keyword_arguments_reach_the_method():
    model = hm.build_model(linear_config("maml", maml=hm.MAMLConfig(inner_lr=1.0)))
    zero = hm.evaluate(model, ToyTaskSampler(5, 5), n_episodes=30, seed=0, steps=0)
    ten = hm.evaluate(model, ToyTaskSampler(5, 5), n_episodes=30, seed=0, steps=10)
    assert not np.array_equal(zero.accuracies, ten.accuracies)


def test_evaluation_restores_the_training_mode():
    model = protonet().train()
    hm.evaluate(model, ToyTaskSampler(1, 1), n_episodes=2)
    assert model.training
    with pytest.raises(ValueError, match="n_episodes must be at least 1"):
        hm.evaluate(model, ToyTaskSampler(1, 1), n_episodes=0)


def test_result_serialises_to_plain_data():
    d = hm.evaluate(protonet(), ToyTaskSampler(1, 2), n_episodes=3).to_dict()
    assert set(d) == {"mean", "ci95", "n_episodes", "adapt_seconds", "accuracies"} and len(d["accuracies"]) == 3
    assert "%" in str(hm.evaluate(protonet(), ToyTaskSampler(1, 2), n_episodes=3))
