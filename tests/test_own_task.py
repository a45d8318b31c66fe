"""The logic of "Your own 5-way task": validation, support set, predictions, CSV, zips."""

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import hypermaml as hm
from app.user_task import Picture, TaskClass, classes_from_zip, empty_task, predict, problems, results_rows, support_set, to_csv
from hypermaml.data import ImageError


def png(seed: int, invert: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    arr = np.full((40, 40), 255, np.uint8)
    r, c = rng.integers(5, 30, 2)
    arr[r : r + 8, c : c + 3] = 0
    if invert:
        arr = 255 - arr
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def full_task(shots=(2, 2, 2, 2, 2)):
    classes = [TaskClass(f"c{i}") for i in range(5)]
    for i, n in enumerate(shots):
        for j in range(n):
            classes[i].add(Picture(f"{i}-{j}.png", png(10 * i + j)))
    return classes


def test_a_fresh_task_lists_what_is_missing():
    found = problems(empty_task())
    assert any("5 class(es) have no images yet" in p for p in found)


def test_duplicate_and_empty_names_are_explained():
    classes = full_task()
    classes[1].name = "Cat"
    classes[2].name = "cat "
    classes[3].name = " "
    found = problems(classes)
    assert any("'cat' is used twice" in p for p in found)
    assert any("every class needs a name" in p for p in found)


def test_the_same_image_twice_is_kept_once():
    c = TaskClass("a")
    assert c.add(Picture("x.png", png(1))) and not c.add(Picture("copy.png", png(1)))
    assert len(c.pictures) == 1


def test_uneven_classes_use_the_smallest_count_and_say_so():
    x, y, shots, notes = support_set(full_task((3, 1, 2, 2, 2)), "auto")
    assert shots == 1 and x.shape == (5, 1, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]
    assert any("first 1 of 3" in n for n in notes)


def test_polarity_is_applied_when_decoding_so_changing_it_loses_nothing():
    classes = full_task()
    classes[0].pictures[0] = Picture("neg.png", png(0, invert=True))
    auto, *_ = support_set(classes, "auto")
    keep, *_ = support_set(classes, "keep")
    assert float(auto[0, 0, 0, 0]) > 0.9 and float(keep[0, 0, 0, 0]) < 0.1
    assert len(classes[0].pictures) == 2


def test_predictions_rows_and_csv_cover_every_method():
    torch.manual_seed(0)
    backbone = hm.BackboneConfig(kind="conv4", hidden=8, input_mean=(0.9,), input_std=(0.3,))
    models = {
        m: hm.build_model(
            hm.ModelConfig(
                method=m, n_way=5, n_shot=1, backbone=backbone, hypermaml=hm.HyperMAMLConfig(hidden=16, aggregation="mean")
            )
        ).eval()
        for m in ("hypermaml", "maml", "protonet")
    }
    x, y, _, _ = support_set(full_task(), "auto")
    probs = predict(models, x, y, x[:3], maml_steps=2)
    assert set(probs) == {"hypermaml", "maml", "protonet"}
    rows = results_rows(["q1", "q2", "q3"], [f"c{i}" for i in range(5)], probs)
    assert rows[0]["query"] == "q1" and rows[2]["query"] == "q3"
    for method, p in probs.items():
        k = int(p[1].argmax())
        assert rows[1][f"{method} prediction"] == f"c{k}"
        assert rows[1][f"{method} probability"] == round(float(p[1, k]), 4) > 0.2
    text = to_csv(rows)
    assert text.splitlines()[0].startswith("query,hypermaml prediction,hypermaml probability")
    assert len(text.splitlines()) == 4


def test_a_one_shot_concat_hypermaml_is_left_out_for_more_shots():
    backbone = hm.BackboneConfig(kind="conv4", hidden=8)
    models = {"hypermaml": hm.build_model(hm.ModelConfig(method="hypermaml", n_way=5, n_shot=1, backbone=backbone)).eval()}
    x, y, _, _ = support_set(full_task(), "auto")  # 2 shots
    assert predict(models, x, y, x[:1], maml_steps=0) == {}


def zip_of(folders):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for folder, count in folders.items():
            for j in range(count):
                z.writestr(f"mine/{folder}/{j}.png", png(j + len(folder)))
    return buf.getvalue()


def test_a_zip_of_five_folders_becomes_the_task_with_raw_bytes_kept():
    classes = classes_from_zip(zip_of({"a": 2, "b": 1, "c": 1, "d": 3, "e": 1}))
    assert [c.name for c in classes] == ["a", "b", "c", "d", "e"]
    assert [len(c.pictures) for c in classes] == [2, 1, 1, 3, 1]
    assert classes[0].pictures[0].data[:4] == b"\x89PNG"


def test_a_zip_with_the_wrong_number_of_classes_is_refused():
    with pytest.raises(ImageError, match="has 2 class folders \\(a, b\\); a 5-way task needs exactly 5"):
        classes_from_zip(zip_of({"a": 1, "b": 1}))
