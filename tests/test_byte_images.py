"""ByteImages keeps 8-bit images at a byte per pixel and gives back exactly the floats the readers make."""

import numpy as np
import pytest
import torch

from hypermaml.data.byte_images import ByteImages
from hypermaml.data.emnist import _invert


def test_bytes_give_back_the_readers_floats_bit_for_bit():
    tiles = np.random.default_rng(0).integers(0, 256, (300, 28, 28), dtype=np.uint8)
    for x in (_invert(tiles), torch.from_numpy(tiles).float().div_(255.0)[:, None]):
        compact = ByteImages.from_float(x, chunk=64)  # several chunks
        assert compact is not None and compact.levels.dtype == torch.uint8
        assert len(compact) == len(x) and compact.shape == x.shape and compact.dtype == torch.float32
        index = torch.tensor([5, 0, 299, 5])
        assert torch.equal(compact[index], x[index])
        assert torch.equal(compact[torch.arange(len(x))], x)


@pytest.mark.parametrize(
    "x",
    [
        torch.rand(20, 1, 28, 28),  # not 8-bit levels
        torch.full((3, 1, 4, 4), 1.5),  # outside [0, 1]
        torch.zeros(3, 1, 4, 4, dtype=torch.float64),  # not float32
    ],
)
def test_floats_that_are_not_exact_bytes_are_declined(x):
    assert ByteImages.from_float(x) is None


def test_the_studio_samples_the_same_emnist_episode_from_bytes_as_from_floats(split):
    import hypermaml as hm
    from app import compute

    floats = split("emnist-test")
    compact = compute.dataset("emnist-test")
    assert isinstance(compact.x, ByteImages)  # a quarter of the memory in every studio worker
    episode, classes = compute.sample_episode("emnist-test", 1, 3)
    sampler = hm.EpisodeSampler(floats.x, floats.y, compute.N_WAY, 1, compute.N_QUERY, floats.class_names)
    expected, expected_classes = sampler.sample_with_classes(torch.Generator().manual_seed(3))
    assert classes == expected_classes
    assert torch.equal(episode.support_x, expected.support_x) and torch.equal(episode.query_x, expected.query_x)
    assert episode.support_x.dtype == torch.float32


def test_a_split_is_decoded_once_then_mapped_from_the_cache_file_by_every_process(split, tmp_path, monkeypatch):
    import subprocess
    import sys

    from hypermaml.data.byte_images import CACHE_ENV, cached_split

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    first = cached_split("emnist-test")
    files = sorted(p.suffix for p in tmp_path.glob("emnist-test-*"))
    assert files == [".json", ".labels", ".u8"]
    floats = split("emnist-test")
    assert first.class_names == floats.class_names and torch.equal(first.y, floats.y)
    index = torch.randperm(len(floats.y), generator=torch.Generator().manual_seed(0))[:2000]
    assert torch.equal(first.x[index], floats.x[index])

    # another process maps the file and decodes nothing: no reader is called (they are made to fail there)
    code = (
        "import hypermaml.data.datasets as d, torch\n"
        "d.DATASETS = {k: (v[0], None) for k, v in d.DATASETS.items()}\n"
        "from hypermaml.data.byte_images import cached_split\n"
        "x = cached_split('emnist-test').x\n"
        "print(float(x[torch.arange(100)].sum()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert float(out) == float(floats.x[:100].sum())


def test_a_changed_data_folder_gets_a_new_cache_file(tmp_path):
    from hypermaml.data.byte_images import _source_key

    (tmp_path / "emnist-byclass-test").mkdir()
    sheet = tmp_path / "emnist-byclass-test" / "test.json"
    sheet.write_text("{}")
    before = _source_key("emnist-test", tmp_path)
    assert _source_key("emnist-test", tmp_path) == before and _source_key("emnist-val", tmp_path) != before
    sheet.write_text('{"changed": 1}')
    assert _source_key("emnist-test", tmp_path) != before


def test_without_a_writable_cache_folder_the_bytes_stay_in_the_process(split, tmp_path, monkeypatch):
    from hypermaml.data.byte_images import CACHE_ENV, cached_split

    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "splits"))
    data = cached_split("emnist-test")
    assert isinstance(data.x, ByteImages) and list(tmp_path.iterdir()) == [blocker]  # nothing written
    floats = split("emnist-test")
    assert torch.equal(data.x[torch.arange(500)], floats.x[:500]) and torch.equal(data.y, floats.y)
