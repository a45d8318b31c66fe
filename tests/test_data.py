"""Dataset readers on small real subsets. HYPERMAML_DATA must point at the shared data: a missing data
folder fails these tests (CI must never pass by skipping them)."""

import gzip
import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from hypermaml.data import (
    DATA_ENV,
    data_root,
    load_digits,
    load_emnist,
    load_emnist_idx,
    load_omniglot,
    load_omniglot_zip,
    omniglot_alphabets,
)
from hypermaml.data.datasets import _vinyals
from hypermaml.episodes import EpisodeSampler


@pytest.fixture(scope="module")
def root():
    return data_root()  # raises (fails) when HYPERMAML_DATA is missing or wrong


def assert_images(x):
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    # dark ink on a light background: the border (background) is bright, most pixels are light
    border = torch.cat([x[:, 0, 0, :], x[:, 0, -1, :], x[:, 0, :, 0], x[:, 0, :, -1]], 1)
    assert float(border.mean()) > 0.9
    assert float(x.mean()) > 0.6


def test_a_missing_data_folder_is_an_error_that_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the per-user default folder: not prepared
    with pytest.raises(FileNotFoundError, match="HYPERMAML_DATA is not set"):
        data_root()
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data_root()
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "afile"))
    with pytest.raises(FileNotFoundError, match="afile is a file, not a folder \\(from \\$HYPERMAML_DATA\\)"):
        data_root()


def test_omniglot_alphabets_cover_1623_characters(root):
    alphabets = omniglot_alphabets(root)
    assert len(alphabets) == 50 and sum(a.n_characters for a in alphabets) == 1623


def test_omniglot_reader_returns_dark_on_light_28px_images(root):
    data = load_omniglot(root, alphabets=["Latin", "Greek"])
    assert data.n_classes == 26 + 24 and len(data.x) == 50 * 20
    assert_images(data.x)
    assert data.class_names[0].startswith(("Greek/", "Latin/"))
    assert torch.equal(torch.bincount(data.y), torch.full((50,), 20))


def test_rotations_are_separate_classes_of_rotated_images(root):
    data = load_omniglot(root, alphabets=["Greek"], rotations=(0, 90))
    assert data.n_classes == 48 and data.class_names[:2] == ("Greek/character01/rot000", "Greek/character01/rot090")
    upright, turned = data.x[data.y == 0], data.x[data.y == 1]
    assert torch.equal(torch.rot90(upright, 1, (-2, -1)), turned)


def test_unknown_alphabets_are_refused_with_the_known_ones(root):
    with pytest.raises(ValueError, match="unknown Omniglot alphabet 'Klingon'.*Latin"):
        load_omniglot(root, alphabets=["Klingon"])


def test_the_cross_domain_training_set_is_omniglot_without_latin(root, monkeypatch):
    # Count from the alphabet table (loading every image is the training CLI's job, not a unit test's).
    alphabets = omniglot_alphabets(root)
    assert sum(a.n_characters for a in alphabets if a.name != "Latin") == 1597


def test_emnist_validation_and_test_classes_are_the_even_and_odd_halves(split):
    val = split("emnist-val")  # load_split, once per test process (conftest.py)
    test = split("emnist-test")
    assert val.n_classes == 31 and test.n_classes == 31
    assert not set(val.class_names) & set(test.class_names)
    assert val.class_names[:3] == ("0", "2", "4") and test.class_names[:3] == ("1", "3", "5")
    assert_images(val.x[:2000])
    assert len(val.x) + len(test.x) == 116_323


def test_emnist_class_subset_keeps_the_right_images(root):
    data = load_emnist(root, classes=[10, 1])  # 'A' then '1'
    assert data.class_names == ("A", "1")
    ones = data.x[data.y == 1]
    # a '1' is a narrow vertical stroke: ink concentrated in the middle columns
    ink = (1 - ones).mean(0)[0]
    assert float(ink[:, 11:17].sum()) > float(ink[:, :6].sum() + ink[:, 22:].sum())


def test_vinyals_splits_are_disjoint_and_complete(root):
    names = {}
    for split in ("train", "val", "test"):
        lines = (root / "omniglot" / "splits" / "vinyals" / f"{split}.txt").read_text().split()
        names[split] = {line.rsplit("/", 1)[0] for line in lines}
    assert [len(names[s]) for s in ("train", "val", "test")] == [1028, 172, 423]
    assert not names["train"] & names["val"] and not names["train"] & names["test"] and not names["val"] & names["test"]


def test_a_vinyals_split_loads_each_rotation_as_a_class(root):
    data = _vinyals("val", root)
    assert data.n_classes == 688 and len(data.x) == 688 * 20
    assert data.class_names[0].endswith("/rot000")


def test_episodes_from_a_split_only_hold_that_split_s_images(split):
    val, test = split("emnist-val"), split("emnist-test")

    def keys(x):
        return {bytes(row) for row in (x * 255).round().to(torch.uint8).flatten(1).numpy()}

    val_keys, test_keys = keys(val.x), keys(test.x)
    sampler = EpisodeSampler(val.x, val.y, 5, 1, 5)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        ep = sampler.sample(g)
        shown = keys(torch.cat([ep.support_x, ep.query_x]))
        assert shown <= val_keys and not shown & test_keys


def test_digits_are_always_available_and_dark_on_light():
    data = load_digits()
    assert data.n_classes == 10 and len(data.x) == 1797
    assert_images(data.x)


def png_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_the_official_omniglot_zip_layout_reads_like_the_npz(root, tmp_path):
    npz = load_omniglot(root, alphabets=["Latin"])
    raw = np.load(root / "omniglot" / "images_background.npz")["images"]
    latin_first = next(a.first_row for a in omniglot_alphabets(root) if a.name == "Latin")
    path = tmp_path / "images_background.zip"
    with zipfile.ZipFile(path, "w") as z:
        for c in range(2):
            for d in range(20):
                img = (raw[latin_first + c, d] * 255).astype(np.uint8)
                z.writestr(
                    f"images_background/Latin/character{c + 1:02d}/{latin_first + c + 1:04d}_{d + 1:02d}.png", png_bytes(img)
                )
    data = load_omniglot_zip(path)
    assert data.class_names == ("Latin/character01", "Latin/character02")
    assert torch.allclose(data.x, npz.x[:40], atol=1e-6)


def test_the_official_emnist_idx_files_are_turned_upright_and_inverted(split, tmp_path):
    test = split("emnist-test")  # the odd classes, '1' first: upright '1's, dark on light
    assert test.class_names[0] == "1"
    sprites = test.x[test.y == 0]
    upright = ((1 - sprites[:4, 0]) * 255).round().to(torch.uint8).numpy()
    stored = upright.transpose(0, 2, 1)  # the official files store images transposed
    images = tmp_path / "images.gz"
    labels = tmp_path / "labels.gz"
    with gzip.open(images, "wb") as f:
        f.write(np.array([2051, 4, 28, 28], dtype=">u4").tobytes() + stored.tobytes())
    with gzip.open(labels, "wb") as f:
        f.write(np.array([2049, 4], dtype=">u4").tobytes() + np.ones(4, dtype=np.uint8).tobytes())
    data = load_emnist_idx(images, labels)
    assert torch.allclose(data.x, sprites[:4], atol=1 / 255)
    assert data.class_names[data.y[0]] == "1"
    with pytest.raises(ValueError, match="not an idx3 image file"):
        load_emnist_idx(labels, labels)
