"""The logic of "Your own 5-way task": validation, support set, predictions, CSV, zips."""

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import hypermaml as hm
from app.task_zip import classes_from_zip
from app.user_task import Picture, TaskClass, empty_task, predict, problems, results_rows, support_set, to_csv
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
    assert any("5 classes have no images yet" in p for p in found)


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
    rows = results_rows(["q1", "q2", "q3"], [f"c{i}" for i in range(5)], probs, maml_steps=2)
    assert rows[0]["query"] == "q1" and rows[2]["query"] == "q3"
    names = {"hypermaml": "HyperMAML", "maml": "MAML (2 steps)", "protonet": "ProtoNet"}  # proper names, not ids
    for method, p in probs.items():
        k = int(p[1].argmax())
        assert rows[1][names[method]] == f"c{k}"
        assert rows[1][f"{names[method]} probability"] == round(float(p[1, k]), 4) > 0.2
    text = to_csv(rows)
    assert text.splitlines()[0].startswith("query,HyperMAML,HyperMAML probability,MAML (2 steps)")
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
    with pytest.raises(ImageError, match="the zip has 2 class folders \\(a, b\\); a 5-way task needs 5"):
        classes_from_zip(zip_of({"a": 1, "b": 1}))
    with pytest.raises(ImageError, match="the zip has 1 class folder \\(a\\); a 5-way task needs 5"):
        classes_from_zip(zip_of({"a": 2}))


# --- The walkthrough's findings, as logic: zips that merge, tasks that round-trip, removals, plain errors ---


def zip_entries(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_equal_folder_names_in_different_places_stay_two_classes():
    entries = {f"{top}/circle/{j}.png": png(j + 10 * k) for k, top in enumerate("ab") for j in range(4)}
    entries |= {f"{name}/1.png": png(50 + i) for i, name in enumerate(["square", "star", "moon"])}
    classes = classes_from_zip(zip_entries(entries))
    assert sorted(c.name for c in classes) == ["a/circle", "b/circle", "moon", "square", "star"]
    assert [len(c.pictures) for c in classes if "circle" in c.name] == [4, 4]


def test_a_shared_top_folder_is_not_part_of_the_class_names():
    classes = classes_from_zip(zip_of({"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}))  # all inside mine/
    assert [c.name for c in classes] == ["a", "b", "c", "d", "e"]


def test_a_downloaded_task_loads_back_with_its_names_images_and_queries():
    from app.task_zip import read_task_zip, task_zip

    classes = full_task((3, 1, 2, 2, 2))
    for c, name in zip(classes, ["Cat", "a/circle", "dog house", "..", "x_y"]):
        c.name = name
    classes[0].pictures[1].name = classes[0].pictures[0].name  # two files of one name: both kept
    queries = [Picture("q.png", png(90)), Picture("photo", png(91))]  # a name without a suffix too
    back = read_task_zip(task_zip(classes, queries))
    # exact names (even ".." and "a/circle") and the classes' order come back, from the zip's manifest
    assert [(c.name, [p.key for p in c.pictures]) for c in back.classes] == [
        (c.name, [p.key for p in c.pictures]) for c in classes
    ]
    assert sorted(p.key for p in back.queries) == sorted(p.key for p in queries) and not back.skipped


def test_a_class_called_queries_and_an_unsorted_order_survive_the_download_round_trip():
    from app.task_zip import read_task_zip, task_zip

    classes = full_task((1, 2, 1, 1, 1))
    for c, name in zip(classes, ["circle", "cross", "triangle", "square", "queries"]):
        c.name = name
    queries = [Picture("q1.png", png(95)), Picture("q2.png", png(96))]
    assert not problems(classes)
    back = read_task_zip(task_zip(classes, queries))
    assert [c.name for c in back.classes] == ["circle", "cross", "triangle", "square", "queries"]
    assert [p.key for p in back.classes[4].pictures] == [p.key for p in classes[4].pictures]
    assert [p.key for p in back.queries] == [p.key for p in queries]


def test_a_class_called_queries_survives_the_round_trip_of_a_task_without_queries():
    """With no queries the manifest named no queries folder, and the reader fell back to "queries"."""
    from app.task_zip import read_task_zip, task_zip

    classes = full_task((1, 1, 1, 1, 1))
    for c, name in zip(classes, ["circle", "cross", "triangle", "square", "Queries"]):
        c.name = name
    back = read_task_zip(task_zip(classes, []))
    assert [c.name for c in back.classes] == ["circle", "cross", "triangle", "square", "Queries"] and not back.queries


def test_class_names_like_a_drive_letter_survive_the_round_trip():
    """'A: apple/0.png' was refused as an absolute path (a Windows drive)."""
    from app.task_zip import read_task_zip, task_zip

    classes = full_task((1, 1, 1, 1, 1))
    for c, name in zip(classes, ["A: apple", "B: bee", "C: cat", "D: dog", "E: egg"]):
        c.name = name
    assert [c.name for c in read_task_zip(task_zip(classes, [])).classes] == ["A: apple", "B: bee", "C: cat", "D: dog", "E: egg"]


def test_a_huge_manifest_is_not_read_whole():
    """A 1 MB upload whose manifest expands to 1 GB of spaces held 2 GB of memory; now it is ignored unread."""
    import tracemalloc

    from app.task_zip import MANIFEST, read_task_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, c in enumerate("abcde"):
            z.writestr(f"{c}/1.png", png(i))
        with z.open(MANIFEST, "w", force_zip64=True) as f:
            for _ in range(200):
                f.write(b" " * 2**20)
    tracemalloc.start()
    back = read_task_zip(buf.getvalue())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [c.name for c in back.classes] == list("abcde")
    assert peak < 50 * 2**20, peak  # the 200 MB manifest was never held


def test_a_zip_made_by_hand_is_read_by_folder_names_in_sorted_order():
    from app.task_zip import read_task_zip

    back = read_task_zip(zip_entries({"b/1.png": png(1), "a/1.png": png(2), "queries/q.png": png(3)}))
    assert [c.name for c in back.classes] == ["a", "b"] and len(back.queries) == 1


def test_adding_a_zip_fills_matching_classes_then_free_ones_and_says_what_was_left():
    from app.task_zip import add_zip_to_task, read_task_zip

    classes = empty_task()
    classes[0].name, classes[1].name = "Circle", "square"
    classes[0].add(Picture("mine.png", png(1)))
    classes[1].add(Picture("sq.png", png(2)))
    queries = [Picture("q.png", png(3))]
    entries = {"circle/1.png": png(4), "circle/dup.png": png(1), "star/1.png": png(5), "queries/q2.png": png(6)}
    entries |= {f"extra{i}/1.png": png(20 + i) for i in range(4)}  # 4 more folders, 3 free classes
    message = add_zip_to_task(classes, queries, read_task_zip(zip_entries(entries)))
    assert [c.name for c in classes] == ["Circle", "square", "extra0", "extra1", "extra2"]
    assert [len(c.pictures) for c in classes] == [2, 1, 1, 1, 1]  # the duplicate is not added twice
    assert len(queries) == 2
    assert "1 image added to 'Circle'" in message and "'star'" in message and "Not added" in message


def test_names_spelled_with_the_two_unicode_forms_of_an_accent_are_one_class():
    """'Café' typed on one machine (one character é) and a zip folder from another (e + a combining accent)
    were two classes, and problems() did not see the duplicate."""
    import unicodedata

    from app.task_zip import add_zip_to_task, read_task_zip

    composed, decomposed = unicodedata.normalize("NFC", "Café"), unicodedata.normalize("NFD", "Café")
    assert composed != decomposed
    classes = empty_task()
    classes[0].name = composed
    classes[0].add(Picture("mine.png", png(1)))
    add_zip_to_task(classes, [], read_task_zip(zip_entries({f"{decomposed}/1.png": png(4)})))
    assert [c.name for c in classes][:2] == [composed, "class 2"] and len(classes[0].pictures) == 2
    classes[1].name = decomposed.upper()
    assert any("is used twice" in p for p in problems(classes))


def test_a_drawing_arrives_as_a_png_data_url_and_anything_else_is_refused():
    import base64

    from app.user_task import picture_from_data_url

    data = png(7)
    picture = picture_from_data_url("data:image/png;base64," + base64.b64encode(data).decode(), "drawing-1.png")
    assert picture.data == data and picture.name == "drawing-1.png"
    for bad in ("data:text/html;base64,PGI+", "data:image/png;base64,%%%", None):
        with pytest.raises(ImageError, match="drawing-2.png"):
            picture_from_data_url(bad, "drawing-2.png")


def test_a_file_removed_from_an_uploader_leaves_the_class_and_only_that_one():
    from app.user_task import drop_removed_uploads

    c = TaskClass("a")
    for j in range(3):
        c.add(Picture(f"{j}.png", png(j)))
    other = Picture("from-zip.png", png(9))
    c.add(other)
    links = {f"id{j}": c.pictures[j].key for j in range(3)}
    assert drop_removed_uploads(c.pictures, links, {"id0", "id2"}) == ["1.png"]
    assert [p.name for p in c.pictures] == ["0.png", "2.png", "from-zip.png"] and set(links) == {"id0", "id2"}
    assert drop_removed_uploads(c.pictures, links, set()) == ["0.png", "2.png"]
    assert c.pictures == [other]  # what the uploader did not add stays


def test_uneven_classes_are_explained_with_the_smallest_class_and_what_the_models_expect():
    from app.user_task import shot_message

    message = shot_message(["a", "b", "c", "d", "e"], [5, 1, 3, 5, 2], trained_shots=5)
    assert message.startswith("This is a 1-shot task: only the first image of each class is used (11 images left out)")
    assert "'b' has only 1" in message and "trained on 5 images per class" in message
    assert shot_message(["a", "b", "c", "d", "e"], [2] * 5, trained_shots=5) is None


def test_pictures_too_small_to_show_a_character_are_refused_in_plain_words():
    from app.user_task import decode

    buf = io.BytesIO()
    Image.new("L", (1, 1), 0).save(buf, format="PNG")
    dot = Picture("dot.png", buf.getvalue())
    with pytest.raises(ImageError, match="dot.png is 1×1 pixels, too small to show a character"):
        decode(dot, "auto")
    with pytest.raises(ImageError, match="none of the images of class 'a' can be read"):
        support_set([TaskClass("a", [dot])], "auto")  # no blank square ever reaches a model


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size (only its header: nothing is ever decoded)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "name, data, message",
    [
        (
            "huge.png",
            png_header(30000, 30000),
            "huge.png is 30000×30000 pixels, too large to open (at most 100 megapixels); shrink it first",
        ),
        ("big.png", png_header(12000, 9000), "big.png is 12000×9000 pixels, too large to open (at most 100 megapixels)"),
        ("photo.heic", b"\x00\x00\x00\x18ftypheic" + bytes(40), "photo.heic is not an image file we can open (use PNG or JPEG)"),
    ],
    ids=["30000x30000", "12000x9000", "heic"],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own note, before our refusal
def test_files_that_cannot_be_used_are_explained_in_plain_words(name, data, message):
    from app.user_task import decode

    with pytest.raises(ImageError) as info:
        decode(Picture(name, data), "auto")
    assert message in str(info.value)
    assert "Error" not in str(info.value) and "Pillow" not in str(info.value)


def test_a_photo_of_grey_paper_becomes_white_paper_with_black_ink():
    from app.user_task import decode

    rng = np.random.default_rng(0)
    for paper, ink in ((140, 60), (100, 30)):  # grey paper; a dim photo whose paper is darker than mid-grey
        arr = np.full((300, 400), float(paper))
        arr[60:240, 180:215] = ink
        arr += rng.normal(0, 4, arr.shape)
        buf = io.BytesIO()
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(buf, format="JPEG")
        x = decode(Picture("photo.jpg", buf.getvalue()), "auto")
        assert float(x[0, 0, 0]) > 0.95 and float(x[0, 14, 14]) < 0.1, (paper, ink)


def test_an_animated_gif_is_known_to_be_animated():
    frames = [Image.fromarray(np.full((20, 20), v, np.uint8)) for v in (255, 0)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    assert Picture("moving.gif", buf.getvalue()).animated
    assert not Picture("still.png", png(1)).animated and not Picture("text.png", b"text").animated


# ---- reading confidence: far-from-support queries, labelled queries' accuracy ------------------------------

SHAPES = ["circle", "cross", "square", "triangle", "zigzag"]


def drawn(shape: str, seed: int, jitter: float = 4.0) -> bytes:
    """A shape drawn by hand, more or less: thick dark strokes on white, corners moved by ``jitter`` pixels."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    im = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(im)

    def j(v):
        return float(v + rng.normal(0, jitter))

    width = int(rng.integers(10, 13))
    if shape == "circle":
        draw.ellipse([j(25), j(25), j(95), j(95)], outline=0, width=width)
    elif shape == "cross":
        draw.line([j(25), j(25), j(95), j(95)], 0, width)
        draw.line([j(95), j(25), j(25), j(95)], 0, width)
    elif shape == "square":
        draw.rectangle([j(28), j(28), j(92), j(92)], outline=0, width=width)
    elif shape == "triangle":
        draw.line([(j(60), j(22)), (j(98), j(95)), (j(22), j(95)), (j(60), j(22))], 0, width, joint="curve")
    else:
        draw.line([(j(20), j(40)), (j(45), j(85)), (j(70), j(40)), (j(98), j(85))], 0, width, joint="curve")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def gradient(seed: int) -> bytes:
    """A photo of nothing: a smooth random gradient between a darker and a lighter random grey (with less
    contrast it would be refused as blank)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:300, 0:400]
    a, b = rng.uniform(-1, 1, 2)
    g = a * xx / 400 + b * yy / 300
    g = (g - g.min()) / (g.max() - g.min() + 1e-9)
    lo, hi = rng.permutation([rng.uniform(0, 110), rng.uniform(145, 255)])
    buf = io.BytesIO()
    Image.fromarray((lo + (hi - lo) * g).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def noise(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (60, 60)).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def decoded(data: list[bytes]) -> torch.Tensor:
    from app.user_task import decode

    return torch.stack([decode(Picture("x.png", d), "auto") for d in data])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_and_gradients_are_flagged_far_from_the_support_and_queries_drawn_alike_are_not(seed):
    from app.compute import benchmark_models
    from app.user_task import familiarity

    protonet = benchmark_models(5)["protonet"]  # the studio's: the embedding the page measures in
    base = 1000 * seed
    support_x = decoded([drawn(s, base + 10 * i + j) for i, s in enumerate(SHAPES) for j in range(3)])
    alike = decoded([drawn(s, base + 10 * i + 7, jitter=2.0) for i, s in enumerate(SHAPES)])
    junk = decoded([gradient(base + k) for k in range(3)] + [noise(base + k) for k in range(3)])
    near, far = familiarity(protonet, support_x, alike), familiarity(protonet, support_x, junk)
    assert near.far == [False] * 5, (near.nearest, near.reach)
    assert far.far == [True] * 6, (far.nearest, far.reach)
    assert max(near.nearest) < 0.9 * near.reach and min(far.nearest) > 1.2 * far.reach  # with room to spare
    assert near.reach == far.reach  # the support set's spread, whatever the queries


def test_a_querys_distance_never_depends_on_the_other_queries():
    from app.compute import benchmark_models
    from app.user_task import familiarity

    protonet = benchmark_models(5)["protonet"]
    support_x = decoded([drawn(s, 10 * i + j) for i, s in enumerate(SHAPES) for j in range(2)])
    queries = decoded([drawn("circle", 99), noise(3), gradient(4)])
    together = familiarity(protonet, support_x, queries).nearest
    alone = [familiarity(protonet, support_x, queries[i : i + 1]).nearest[0] for i in range(3)]
    assert together == pytest.approx(alone, rel=1e-5)


def test_the_support_sets_spread_is_its_largest_nearest_neighbour_distance():
    from app.user_task import familiarity

    class Identity:  # an "embedding" that is the picture itself, flattened: distances by hand
        def embed_support(self, x):
            return x.flatten(1), None

        def __call__(self, x, stats=None):
            return x.flatten(1)

    class Flat:
        backbone = Identity()

    support = torch.tensor([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0], [10.0, 0.0]]).view(4, 1, 1, 2)
    queries = torch.tensor([[0.0, -6.9], [13.0, 4.0], [10.0, 7.1]]).view(3, 1, 1, 2)
    f = familiarity(Flat(), support, queries)
    assert f.reach == pytest.approx(7.0)  # (10, 0) is 7 from its nearest, (3, 0); the others are 3 and 4 apart
    assert f.nearest == pytest.approx((6.9, 5.0, 7.1)) and f.far == [False, False, True]


def test_accuracy_counts_only_the_labelled_queries_and_states_chance():
    from app.user_task import accuracies, accuracy_note

    probs = {"protonet": torch.eye(5)[[0, 1, 2, 3]], "maml": torch.eye(5)[[1, 1, 1, 1]]}
    assert accuracies(probs, [0, None, 2, 4]) == {"protonet": (2, 3), "maml": (0, 3)}
    assert accuracies(probs, [None] * 4) == {"protonet": (0, 0), "maml": (0, 0)}
    note = accuracy_note(4)
    assert note.startswith("Chance: 20% (a guess among 5 classes).") and "each one is 25 percentage points" in note
    assert "mean little" in note and "mean little" not in accuracy_note(40)


def test_the_results_csv_carries_the_true_class_and_the_far_flag_when_given():
    from app.user_task import results_rows

    probs = {"protonet": torch.eye(5)[[0, 3]]}
    names = [f"c{i}" for i in range(5)]
    rows = results_rows(["a.png", "b.png"], names, probs, truth=[0, None], far=[False, True])
    assert list(rows[0]) == ["query", "true class", "ProtoNet", "ProtoNet probability", "unlike every support image"]
    assert [r["true class"] for r in rows] == ["c0", ""] and [r["unlike every support image"] for r in rows] == ["no", "yes"]
    assert list(results_rows(["a.png"], names, {"protonet": torch.eye(5)[[0]]})[0]) == [
        "query",
        "ProtoNet",
        "ProtoNet probability",
    ]


# ---- the page: reading confidence, scoring with labels, errors where they happen (AppTest) ----------------------


def own_page(queries: list[Picture] | None = None):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "studio.py"), default_timeout=180)
    at.session_state["own_classes"] = full_task()
    at.session_state["own_queries"] = queries if queries is not None else [Picture(f"q{i}.png", png(100 + i)) for i in range(2)]
    at.switch_page("views/own_task.py").run()
    assert not at.exception, at.exception
    return at


def test_the_page_says_what_a_softmax_does_not_say_and_flags_queries_unlike_every_support_image():
    shapes = full_task()
    for c, shape in zip(shapes, SHAPES):  # a task drawn like the test above, so "alike" is clear-cut
        c.pictures[:] = [Picture(f"{shape}{j}.png", drawn(shape, 10 * SHAPES.index(shape) + j)) for j in range(3)]
    alike = Picture("circle.png", drawn("circle", 7, jitter=2.0))
    at = own_page([alike, Picture("noise.png", noise(1)), Picture("gradient.png", gradient(2))])
    at.session_state["own_classes"] = shapes
    at.run()
    captions = " ".join(c.value for c in at.caption)
    assert "how sure it is" not in captions
    assert "A softmax always sums to 100% over the five classes, so it says which class is closest, not whether" in captions
    table = at.dataframe[0].value
    assert list(table["check"]) == ["", "⚠️ unlike support", "⚠️ unlike support"]
    assert list(table.columns)[:3] == ["picture", "query", "check"]  # beside the name, never cut off at the right
    warning = " ".join(w.value for w in at.warning)
    assert "unlike support: 2 of the 3 queries are unlike every support image — treat their predictions with" in warning
    assert "noise.png, gradient.png" in warning and "nearest neighbour" in warning


def test_labelled_queries_show_each_methods_accuracy_beside_chance_and_stay_in_the_session():
    at = own_page()
    assert not [m for m in at.metric]  # nothing labelled: no accuracy
    queries = at.session_state["own_queries"]
    first = at.selectbox(key=f"own_truth_{queries[0].key}")
    assert first.value == -1 and first.options[:2] == ["unknown", "1. c0"]
    first.set_value(3).run()
    at.selectbox(key=f"own_truth_{queries[1].key}").set_value(0).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["chance"] == "20%" and len(metrics) == 4
    table = at.dataframe[0].value
    assert list(table["true class"]) == ["c3", "c0"]
    for label, value in metrics.items():
        if label == "chance":
            continue
        method = label.split(":")[0]
        right = sum(cell.endswith("✓") for cell in table[method])
        assert label.endswith(f": {right} of 2") and value == f"{right / 2:.0%}"
        assert all(cell.endswith(("✓", "✗")) for cell in table[method])
    assert "Chance: 20% (a guess among 5 classes)" in " ".join(c.value for c in at.caption)
    at.text_input(key="own_name_3").set_value("dog").run()  # renaming a class keeps its label
    assert list(at.dataframe[0].value["true class"]) == ["dog", "c0"]
    assert at.session_state["own_truth"] == {queries[0].key: 3, queries[1].key: 0}


def test_an_unusable_upload_is_explained_right_under_its_uploader():
    at = own_page()
    at.file_uploader(key="own_up_class2_0").set_value([("dot.png", tiny_png(), "image/png")]).run()
    assert not at.exception, at.exception

    def after_uploader(node):
        for block in [node, *getattr(node, "children", {}).values()]:
            children = list(getattr(block, "children", {}).values())
            for i, child in enumerate(children):
                if getattr(child, "key", None) == "own_up_class2_0":
                    return children[i + 1] if i + 1 < len(children) else None
            if block is not node and (found := after_uploader(block)) is not None:
                return found
        return None

    below = after_uploader(at.main)
    assert below is not None and below.type == "error", below
    assert "dot.png is 1×1 pixels, too small to show a character" in below.value and "its × above" in below.value


def tiny_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (1, 1), 0).save(buf, format="PNG")
    return buf.getvalue()


def rezipped(data: bytes, top: str, manifest_top: str | None = None) -> bytes:
    """A downloaded task unzipped and zipped again with the system's tool: everything inside one folder (the
    manifest inside ``manifest_top`` if given). A top folder "Übung/" is written as macOS's Archive Utility
    does, in UTF-8 without the UTF-8 flag (Python alone reads it as cp437)."""
    from app.task_zip import MANIFEST

    stand_in = top.replace("Ü", "UU")  # the same byte length as "Ü" in UTF-8, so the zip stays consistent
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for m in src.infolist():
            where = manifest_top if m.filename == MANIFEST and manifest_top is not None else stand_in
            dst.writestr(where + m.filename, src.read(m))
    return buf.getvalue().replace(stand_in.encode(), top.encode()) if stand_in else buf.getvalue()


def test_a_manifest_at_the_top_of_a_zip_whose_images_lie_in_one_folder_is_not_taken_for_theirs():
    from app.task_zip import read_task_zip, task_zip

    classes = full_task((1, 1, 1, 1, 1))
    for c, name in zip(classes, "abcde"):
        c.name = name
    back = read_task_zip(rezipped(task_zip(classes, [Picture("q.png", png(97))]), "t/", manifest_top=""))
    assert [c.name for c in back.classes] == ["a", "b", "c", "d", "e"] and len(back.queries) == 1


@pytest.mark.parametrize("top", ["", "my task/", "Übung/"])
def test_classes_sharing_a_leading_folder_keep_it_and_a_rezipped_download_keeps_its_manifest(top):
    """Classes "x/a" ... "x/e" came back as "a" ... "e" (the shared "x" was taken for a wrapping folder), and a
    download zipped again inside a folder lost its manifest: a class called "queries" became the queries."""
    from app.task_zip import read_task_zip, task_zip

    classes = full_task((1, 2, 1, 1, 1))
    for c, name in zip(classes, ["x/e", "x/b", "x/c", "x/d", "x/a"]):
        c.name = name
    back = read_task_zip(rezipped(task_zip(classes, []), top))
    assert [c.name for c in back.classes] == ["x/e", "x/b", "x/c", "x/d", "x/a"] and not back.skipped
    classes[4].name = "queries"
    back = read_task_zip(rezipped(task_zip(classes, [Picture("q.png", png(97))]), top))
    assert [c.name for c in back.classes] == ["x/e", "x/b", "x/c", "x/d", "queries"]
    assert [p.key for p in back.queries] == [Picture("q.png", png(97)).key] and not back.skipped


def test_a_task_zip_is_opened_once(monkeypatch):
    from app import task_zip as module

    opened = []

    class Counting(zipfile.ZipFile):
        def __init__(self, *args, **kwargs):
            opened.append(args[0])
            super().__init__(*args, **kwargs)

    data = module.task_zip(full_task(), [Picture("q.png", png(98))])
    monkeypatch.setattr(zipfile, "ZipFile", Counting)
    back = module.read_task_zip(data)
    assert len(back.classes) == 5 and len(back.queries) == 1 and len(opened) == 1
