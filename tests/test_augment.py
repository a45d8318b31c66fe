"""Training-time augmentation: shapes, range, what each change does, determinism, and the default is off."""

import pytest
import torch

from hypermaml.augment import augment_episode, augment_images
from hypermaml.config import AugmentConfig, TrainConfig, from_dict, to_dict
from hypermaml.episodes import Episode


def bar_images(n=6):
    x = torch.ones(n, 1, 28, 28)
    x[:, :, 8:20, 13:15] = 0.0  # a dark vertical bar, 2 px wide, on light paper
    return x


def ink(x):
    return float((x < 0.5).float().mean())


def test_the_default_changes_nothing_and_is_off():
    x = bar_images()
    assert not AugmentConfig().active and not TrainConfig().augment.active
    assert augment_images(x, AugmentConfig(), torch.Generator()) is x


def test_thickening_adds_one_pixel_of_ink_per_dilation():
    x = bar_images()
    one = augment_images(x, AugmentConfig(thicken=(1, 1)), torch.Generator().manual_seed(0))
    two = augment_images(x, AugmentConfig(thicken=(2, 2)), torch.Generator().manual_seed(0))
    assert one.shape == x.shape and float(one.min()) >= 0 and float(one.max()) <= 1
    # plus-shaped dilation: the 2x12 bar becomes 4x14 (minus nothing: its corners grow by the plus only)
    assert (one[0, 0] < 0.5).sum() == 4 * 12 + 2 * 2
    assert ink(two) > ink(one) > ink(x)


def test_zooming_in_enlarges_the_character_and_the_draws_repeat_with_the_seed():
    x = bar_images()
    cfg = AugmentConfig(scale=(1.5, 1.5))
    big = augment_images(x, cfg, torch.Generator().manual_seed(0))
    assert ink(big) > 1.3 * ink(x)
    cfg = AugmentConfig(scale=(1.0, 1.4), rotate=10, translate=0.05, thicken=(0, 2))
    a = augment_images(x, cfg, torch.Generator().manual_seed(3))
    b = augment_images(x, cfg, torch.Generator().manual_seed(3))
    c = augment_images(x, cfg, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # each image draws its own change


def test_an_episode_keeps_its_labels_and_sizes():
    x = bar_images(8)
    ep = Episode(x[:3], torch.tensor([0, 1, 2]), x[3:], torch.tensor([0, 1, 2, 0, 1]))
    out = augment_episode(ep, AugmentConfig(thicken=(1, 1)), torch.Generator())
    assert out.support_x.shape == (3, 1, 28, 28) and out.query_x.shape == (5, 1, 28, 28)
    assert torch.equal(out.support_y, ep.support_y) and torch.equal(out.query_y, ep.query_y)


def test_bad_settings_and_non_images_are_refused():
    with pytest.raises(ValueError, match="scale"):
        AugmentConfig(scale=(1.2, 1.0))
    with pytest.raises(ValueError, match="thicken"):
        AugmentConfig(thicken=(-1, 1))
    with pytest.raises(ValueError, match="for images"):
        augment_images(torch.zeros(4, 2), AugmentConfig(thicken=(1, 1)), torch.Generator())


def test_the_config_round_trips_through_json_data():
    cfg = TrainConfig(augment=AugmentConfig(scale=(1.0, 1.4), rotate=10, translate=0.05, thicken=(0, 2)))
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg
