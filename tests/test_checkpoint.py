import pickle

import pytest
import torch

import hypermaml as hm
from hypermaml.checkpoint import FORMAT_VERSION, read_checkpoint
from tests.conftest import image_episode, tiny_conv_config


@pytest.mark.parametrize("method", ["maml", "hypermaml", "protonet"])
def test_a_saved_model_loads_back_with_its_config_weights_and_metrics(tmp_path, method):
    torch.manual_seed(0)
    model = hm.build_model(tiny_conv_config(method)).eval()
    if method == "hypermaml":
        torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)
    path = tmp_path / "m.pt"
    hm.save(model, path, metrics={"accuracy": 0.5})
    loaded = hm.load(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.metrics == {"accuracy": 0.5}
    assert not loaded.training
    ep = image_episode()
    a = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    b = loaded.logits(ep.query_x, loaded.adapt(ep.support_x, ep.support_y))
    assert torch.equal(a, b)
    raw = read_checkpoint(path)
    assert set(raw) == {"format_version", "config", "state_dict", "metrics"}


def test_a_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(hm.CheckpointError, match="notes.pt \\(5 bytes\\) is not a readable checkpoint"):
        hm.load(path)


def test_a_truncated_checkpoint_says_so(tmp_path):
    path = tmp_path / "m.pt"
    hm.save(hm.build_model(tiny_conv_config("protonet")), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(hm.CheckpointError, match="may be truncated"):
        hm.load(path)


def test_a_newer_format_version_asks_for_an_update(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"format_version": FORMAT_VERSION + 1, "config": {}, "state_dict": {}}, path)
    with pytest.raises(hm.CheckpointError, match=f"format_version {FORMAT_VERSION + 1}, newer than"):
        hm.load(path)


def test_a_plain_torch_file_without_a_format_version_is_named_as_such(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(hm.CheckpointError, match="not a HyperMAML Studio checkpoint"):
        hm.load(path)


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_refused_not_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "config": Payload(), "state_dict": {}}, path, pickle_module=pickle)
    with pytest.raises(hm.CheckpointError):
        hm.load(path)
    assert "code ran" not in capsys.readouterr().out


def test_weights_that_do_not_fit_the_config_are_reported(tmp_path):
    path = tmp_path / "m.pt"
    hm.save(hm.build_model(tiny_conv_config("maml", n_way=3)), path)
    data = torch.load(path, weights_only=True)
    data["config"]["n_way"] = 4
    torch.save(data, path)
    with pytest.raises(hm.CheckpointError, match="weights do not fit the stored config"):
        hm.load(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(hm.CheckpointError, match="no such checkpoint file"):
        hm.load(tmp_path / "absent.pt")
