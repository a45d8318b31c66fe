import pytest
import torch

import hypermaml as hm


def labelled_set(per_class=(6, 6, 6, 6)):
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    x = torch.arange(len(y), dtype=torch.float32).view(-1, 1)  # x encodes the row index
    return x, y


def test_an_episode_has_the_requested_shape_and_explicit_labels():
    x, y = labelled_set()
    ep = hm.EpisodeSampler(x, y, n_way=3, n_shot=2, n_query=3).sample(torch.Generator().manual_seed(0))
    assert ep.support_x.shape == (6, 1) and ep.query_x.shape == (9, 1)
    assert ep.support_y.tolist() == [0, 0, 1, 1, 2, 2]
    assert ep.query_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ep.n_way == 3


def test_support_and_query_never_share_an_example_and_labels_match_the_source_class():
    x, y = labelled_set()
    sampler = hm.EpisodeSampler(x, y, n_way=4, n_shot=2, n_query=4)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        ep = sampler.sample(g)
        s_rows = set(ep.support_x.flatten().long().tolist())
        q_rows = set(ep.query_x.flatten().long().tolist())
        assert not s_rows & q_rows
        # every episode label maps to exactly one source class
        for label in range(4):
            rows = torch.cat([ep.support_x[ep.support_y == label], ep.query_x[ep.query_y == label]]).flatten().long()
            assert len(torch.unique(y[rows])) == 1


def test_the_class_to_label_assignment_changes_between_episodes():
    x, y = labelled_set()
    sampler = hm.EpisodeSampler(x, y, n_way=2, n_shot=1, n_query=1)
    g = torch.Generator().manual_seed(0)
    firsts = {int(y[sampler.sample(g).support_x[0].long()]) for _ in range(30)}
    assert len(firsts) > 1


def test_the_same_seed_gives_the_same_episodes():
    x, y = labelled_set()
    sampler = hm.EpisodeSampler(x, y, n_way=3, n_shot=1, n_query=2)
    a = sampler.sample(torch.Generator().manual_seed(7))
    b = sampler.sample(torch.Generator().manual_seed(7))
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_x, b.query_x)


def test_a_class_with_too_few_examples_is_named_with_the_numbers():
    x, y = labelled_set((6, 3, 6))
    with pytest.raises(ValueError, match="class 'dog' has 3 examples; n_shot=2 \\+ n_query=2 needs at least 4"):
        hm.EpisodeSampler(x, y, n_way=2, n_shot=2, n_query=2, class_names=["cat", "dog", "cow"])


def test_too_few_classes_for_n_way_is_refused():
    x, y = labelled_set((6, 6))
    with pytest.raises(ValueError, match="2 classes; n_way=5 needs at least 5"):
        hm.EpisodeSampler(x, y, n_way=5, n_shot=1, n_query=1)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="x has 3 examples but y has 2 labels"):
        hm.EpisodeSampler(torch.zeros(3, 1), torch.zeros(2), n_way=2, n_shot=1, n_query=1)


def test_sample_with_classes_names_the_source_class_of_each_label():
    x, y = labelled_set()
    ep, classes = hm.EpisodeSampler(x, y, n_way=3, n_shot=2, n_query=1).sample_with_classes(torch.Generator().manual_seed(3))
    for label, source in enumerate(classes):
        assert (y[ep.support_x[ep.support_y == label].flatten().long()] == source).all()


def test_labels_must_be_one_integer_per_example():
    """An (N, 1) column of labels was read as (row, column) index pairs and mixed the classes silently."""
    x = torch.arange(40).float()[:, None]
    with pytest.raises(ValueError, match=r"shape \(N,\); got shape \(40, 1\)"):
        hm.EpisodeSampler(x, (torch.arange(40) % 4)[:, None], 2, 1, 5)
    with pytest.raises(ValueError, match="integer class ids; got dtype torch.float32"):
        hm.EpisodeSampler(x, (torch.arange(40) % 4).float(), 2, 1, 5)
    sampler = hm.EpisodeSampler(x, (torch.arange(40) % 4).tolist(), 2, 1, 5)  # a plain list is fine
    episode, classes = sampler.sample_with_classes(torch.Generator().manual_seed(0))
    for label, c in enumerate(classes):  # every example drawn for a label comes from its class
        assert set((episode.query_x[episode.query_y == label, 0].long() % 4).tolist()) == {c}


def test_class_ids_beyond_the_names_still_get_the_too_few_examples_message():
    y = torch.tensor([10] * 20 + [20] * 19 + [30])
    with pytest.raises(ValueError, match="class 30 has 1 examples"):
        hm.EpisodeSampler(torch.zeros(40, 1), y, 2, 1, 5, class_names=["a", "b", "c"])
