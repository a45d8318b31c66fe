"""Images beyond 28x28 characters: colour folders at any size, Conv4 built for them from its config, and every
method around a user's own backbone module."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

import hypermaml as hm
from hypermaml.custom_backbone import ModuleBackbone
from hypermaml.data import load_image_folder

COLOURS = {"blue": (30, 40, 220), "green": (30, 200, 60), "red": (220, 30, 30), "yellow": (230, 220, 40)}
TINY_TRAIN = hm.TrainConfig(epochs=1, episodes_per_epoch=2, meta_batch=1, n_query=2, val_episodes=0, lr=0.01)
METHOD_KW = {
    "hypermaml": dict(hypermaml=hm.HyperMAMLConfig(hidden=16)),
    "maml": dict(maml=hm.MAMLConfig(adapt="all", train_steps=1, test_steps=2, inner_lr=0.1)),
    "protonet": {},
}


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    """4 classes x 4 pictures of 100x90 RGB noise around each class's colour, written with Pillow."""
    root = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(0)
    for name, rgb in COLOURS.items():
        (root / name).mkdir()
        for i in range(4):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 25, (90, 100, 3)), 0, 255).astype(np.uint8)
            pixels[30:60, 35:65] = 255 - pixels[30:60, 35:65]  # a square in the complementary colour
            Image.fromarray(pixels, "RGB").save(root / name / f"{i}.png")
    return root


class SmallNet(nn.Module):
    """A user's own backbone: (n, 3, 84, 84) -> (n, 12), nothing from the library."""

    def __init__(self):
        super().__init__()
        self.out_dim = 12
        self.input_shape = (3, 84, 84)
        self.layers = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(4),
            nn.Conv2d(6, 12, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x, params=None):
        """Its weights as an argument (MAML's fast weights), never swapped into the module: thread-safe."""
        p = dict(self.named_parameters()) if params is None else params
        h = F.max_pool2d(F.relu(F.conv2d(x, p["layers.0.weight"], p["layers.0.bias"], padding=1)), 4)
        h = F.relu(F.conv2d(h, p["layers.3.weight"], p["layers.3.bias"], padding=1))
        return F.adaptive_avg_pool2d(h, 1).flatten(1)


class PlainNet(SmallNet):
    """A backbone whose forward takes no weights: fine for every method but MAML adapting it all."""

    def forward(self, x):
        return self.layers(x)


def test_maml_adapting_all_of_a_module_that_takes_no_weights_is_refused_and_the_head_is_fine():
    with pytest.raises(ValueError, match=r"PlainNet\.forward takes no params.*adapt='head'"):
        hm.MAML(hm.ModelConfig(method="maml", n_way=3, maml=hm.MAMLConfig(adapt="all")), PlainNet())
    model = hm.MAML(hm.ModelConfig(method="maml", n_way=3, maml=hm.MAMLConfig(adapt="head", test_steps=1)), PlainNet())
    with torch.no_grad():
        logits = model.logits(torch.rand(2, 3, 84, 84), model.adapt(torch.rand(3, 3, 84, 84), torch.arange(3)))
    assert logits.shape == (2, 3)
    assert hm.ProtoNet(hm.ModelConfig(method="protonet", n_way=3), PlainNet()).backbone.takes_params is False


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def colour_model(method: str, backbone: str) -> hm.FewShotModel:
    torch.manual_seed(0)
    if backbone == "conv4":
        conv = hm.BackboneConfig(in_channels=3, image_size=84, hidden=8, input_mean=(0.5, 0.5, 0.5), input_std=(0.25,) * 3)
        return hm.build_model(hm.ModelConfig(method=method, n_way=3, n_shot=1, backbone=conv, **METHOD_KW[method]))
    cls = {"hypermaml": hm.HyperMAML, "maml": hm.MAML, "protonet": hm.ProtoNet}[method]
    return cls(hm.ModelConfig(method=method, n_way=3, n_shot=1, **METHOD_KW[method]), SmallNet())


def test_a_folder_keeps_colour_and_the_chosen_size(colour_folder):
    data = load_image_folder(colour_folder, channels=3, size=84)
    assert data.x.shape == (16, 3, 84, 84) and data.x.dtype == torch.float32
    assert data.class_names == tuple(sorted(COLOURS))
    corner = data.x[:, :, :8, :8].mean((2, 3))  # (16, 3): each picture's colour, away from the square
    for c, name in enumerate(data.class_names):
        expected = torch.tensor(COLOURS[name], dtype=torch.float32) / 255
        assert torch.allclose(corner[data.y == c], expected.expand(4, 3), atol=0.06), name
    # the 100x90 pictures are centre-cropped, not padded: the square stays in the middle, no white border
    centre = data.x[:, :, 38:46, 38:46].mean((2, 3))
    assert (centre - corner).abs().sum(1).min() > 0.5


def test_the_default_is_still_28x28_grey_characters(colour_folder):
    data = load_image_folder(colour_folder)
    assert data.x.shape == (16, 1, 28, 28)
    assert load_image_folder(colour_folder, size=40).x.shape == (16, 1, 40, 40)


@pytest.mark.parametrize("kwargs,message", [({"channels": 4}, "channels must be 1"), ({"size": 0}, "size must be")])
def test_other_channel_counts_and_sizes_are_refused(colour_folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_image_folder(colour_folder, **kwargs)


def test_conv4_is_built_for_84x84_rgb_from_its_config():
    model = colour_model("protonet", "conv4")
    assert model.backbone.input_shape == (3, 84, 84) and model.backbone.out_dim == 8 * 5 * 5  # 84 -> 42 -> 21 -> 10 -> 5
    assert model.backbone(torch.rand(2, 3, 84, 84)).shape == (2, 200)
    with pytest.raises(
        ValueError, match=r"expected images of shape \(n, 3, 84, 84\) \(this model's backbone\), got \(2, 3, 28, 28\)"
    ):
        model.backbone(torch.rand(2, 3, 28, 28))


@pytest.mark.parametrize("backbone", ["conv4", "own"])
@pytest.mark.parametrize("method", ["hypermaml", "maml", "protonet"])
def test_one_tiny_epoch_on_84x84_colour_images_trains_every_method(colour_folder, method, backbone):
    data = load_image_folder(colour_folder, channels=3, size=84)
    sampler = hm.EpisodeSampler(data.x, data.y, n_way=3, n_shot=1, n_query=2)
    model = colour_model(method, backbone)
    before = snapshot(model)
    result = hm.meta_train(model, sampler, TINY_TRAIN, progress=False)
    assert len(result.history) == 1 and math.isfinite(result.history[0]["loss"])
    after = model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("backbone.") for k in changed), changed
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    episode = sampler.sample(torch.Generator().manual_seed(1))
    task = model.adapt(episode.support_x, episode.support_y)
    assert model.logits(episode.query_x, task).shape == (6, 3)


def test_a_plain_module_is_wrapped_and_its_parameters_are_the_models():
    model = colour_model("protonet", "own")
    assert isinstance(model.backbone, ModuleBackbone) and isinstance(model.backbone.module, SmallNet)
    assert "backbone.module.layers.0.weight" in dict(model.named_parameters())


@pytest.mark.parametrize("adapt", ["all", "head"])
def test_maml_adapts_a_users_module_without_changing_it(adapt):
    torch.manual_seed(0)
    config = hm.ModelConfig(method="maml", n_way=3, n_shot=1, maml=hm.MAMLConfig(adapt=adapt, test_steps=2, inner_lr=0.5))
    model = hm.MAML(config, SmallNet()).eval()
    before = snapshot(model)
    support_x, query_x, support_y = torch.rand(3, 3, 84, 84), torch.rand(6, 3, 84, 84), torch.arange(3)
    with torch.no_grad():
        task = model.adapt(support_x, support_y)
        adapted = model.logits(query_x, task)
        start = model.logits(query_x, model.adapt(support_x, support_y, steps=0))
    assert not torch.allclose(adapted, start)  # the fast weights (passed as params for "all") took effect
    name = "backbone.module.layers.0.weight"
    assert (name in task.params) == (adapt == "all")
    if adapt == "all":
        assert not torch.equal(task.params[name], before[name])
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_a_module_without_out_dim_is_refused_with_what_to_add():
    with pytest.raises(TypeError, match=r"your backbone Sequential needs an out_dim: set self.out_dim"):
        hm.ProtoNet(hm.ModelConfig(method="protonet"), nn.Sequential(nn.Flatten()))


def test_a_module_whose_output_disagrees_with_its_out_dim_is_named():
    net = SmallNet()
    net.out_dim = 7
    model = hm.ProtoNet(hm.ModelConfig(method="protonet", n_way=3), net)
    with pytest.raises(ValueError, match=r"your backbone SmallNet returned \(3, 12\) for 3 inputs; its out_dim says \(3, 7\)"):
        model.adapt(torch.rand(3, 3, 84, 84), [0, 1, 2])


def test_a_users_input_shape_is_checked_at_the_edge():
    model = hm.HyperMAML(hm.ModelConfig(method="hypermaml", n_way=3), SmallNet())
    with pytest.raises(ValueError, match=r"^support_x: expected images of shape \(n, 3, 84, 84\) .*got \(3, 1, 28, 28\)$"):
        model.adapt(torch.rand(3, 1, 28, 28), [0, 1, 2])


def test_a_model_with_a_users_backbone_saves_but_load_says_how_to_rebuild_it(tmp_path):
    model = colour_model("hypermaml", "own").eval()
    path = tmp_path / "own.pt"
    hm.save(model, path)
    with pytest.raises(
        hm.CheckpointError, match=r"your own backbone \(test_custom_backbone.SmallNet\).*hm.HyperMAML\(config, SmallNet\(\)\)"
    ):
        hm.load(path)
    again = colour_model("hypermaml", "own")
    torch.nn.init.zeros_(again.head.weight)
    again.load_state_dict(hm.checkpoint.read_checkpoint(path)["state_dict"])
    support_x, query_x = torch.rand(3, 3, 84, 84), torch.rand(4, 3, 84, 84)
    with torch.no_grad():
        expected = model.logits(query_x, model.adapt(support_x, [0, 1, 2]))
        got = again.eval().logits(query_x, again.adapt(support_x, [0, 1, 2]))
    torch.testing.assert_close(got, expected)


def test_a_model_with_the_librarys_84x84_conv4_round_trips_through_a_checkpoint(tmp_path):
    model = colour_model("protonet", "conv4").eval()
    hm.save(model, tmp_path / "conv.pt")
    loaded = hm.load(tmp_path / "conv.pt")
    assert loaded.config.backbone.image_size == 84
    x = torch.rand(3, 3, 84, 84)
    with torch.no_grad():
        torch.testing.assert_close(loaded.logits(x, loaded.adapt(x, [0, 1, 2])), model.logits(x, model.adapt(x, [0, 1, 2])))


@pytest.mark.parametrize("method", ["hypermaml", "maml", "protonet"])
def test_a_users_backbone_trains_in_a_vectorised_meta_batch_too(colour_folder, method):
    # the path training takes on CUDA (torch.func.vmap over the episodes), here on the CPU
    data = load_image_folder(colour_folder, channels=3, size=84)
    sampler = hm.EpisodeSampler(data.x, data.y, n_way=3, n_shot=1, n_query=2)
    model = colour_model(method, "own")
    cfg = hm.TrainConfig(epochs=1, episodes_per_epoch=2, meta_batch=2, n_query=2, val_episodes=0, vectorise="vmap")
    result = hm.meta_train(model, sampler, cfg, progress=False)
    assert math.isfinite(result.history[0]["loss"])
