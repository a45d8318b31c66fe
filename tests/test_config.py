import json

import pytest

import hypermaml as hm
from hypermaml.config import from_dict, to_dict


def test_model_config_survives_a_json_round_trip():
    cfg = hm.ModelConfig(
        method="maml", n_way=3, n_shot=2,
        backbone=hm.BackboneConfig(kind="identity", in_channels=2, input_mean=(1.0, 2.0), input_std=(3.0, 4.0)),
        maml=hm.MAMLConfig(inner_lr=0.5, first_order=True, adapt="head"),
    )
    assert from_dict(hm.ModelConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg


def test_unknown_config_fields_are_rejected_by_name():
    with pytest.raises(ValueError, match="unknown ModelConfig field.*colour"):
        from_dict(hm.ModelConfig, {"colour": "red"})


def test_invalid_values_fail_at_construction():
    with pytest.raises(ValueError, match="unknown method"):
        hm.ModelConfig(method="reptile")
    with pytest.raises(ValueError, match="n_way must be at least 2"):
        hm.ModelConfig(n_way=1)
    with pytest.raises(ValueError, match="input_std must be positive"):
        hm.BackboneConfig(input_mean=(0.0,), input_std=(0.0,))
