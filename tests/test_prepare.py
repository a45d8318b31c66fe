"""``hypermaml data prepare`` on small archives in the official formats, built here: from a folder, and downloaded
from a server on 127.0.0.1 (never the internet). With the shared data present (HYPERMAML_DATA), official-format
archives made from a slice of it must prepare into the same arrays, tables and split lines."""

import csv
import gzip
import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hypermaml.data import DATA_ENV, DataMissingError, DownloadError, data_root, load_emnist, load_split, omniglot_alphabets
from hypermaml.data.emnist import IDX_FILES
from hypermaml.data.prepare import Character, PrepareError, alphabet_table, prepare, vinyals_split

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get(DATA_ENV, "/nonexistent"))


@pytest.fixture
def shared_data():
    """The data tests fail without the shared data folder rather than skip (docs/development.md)."""
    if not (SHARED / "omniglot" / "images_background.npz").is_file():
        pytest.fail(f"these tests compare against the shared data folder: set {DATA_ENV} (found nothing at {SHARED})")


needs_shared = pytest.mark.usefixtures("shared_data")

# (set, alphabet, first char id, characters): official ids. Hebrew is a Vinyals validation alphabet; Gurmukhi is
# split at character41 (train) / character42 (test); Latin is what the cross-domain training set leaves out.
SMALL = [("background", "Hebrew", 466, 3), ("background", "Latin", 683, 3), ("evaluation", "Gurmukhi", 1160, 43)]


def fake_image(char_id: int, drawer: int) -> np.ndarray:
    """A 105x105 bool image, True = background, unique to (character, drawer)."""
    return np.random.default_rng(char_id * 100 + drawer).random((105, 105)) > 0.2


def png_bytes(bits: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(bits).save(buf, format="PNG")  # a bool array is a mode "1" image, like the official files
    return buf.getvalue()


def omniglot_zips(folder: Path, alphabets, image=fake_image) -> None:
    """images_background.zip / images_evaluation.zip as the official ones: images_<set>/<Alphabet>/characterNN/<id>_<drawer>.png."""
    for set_name in ("background", "evaluation"):
        with zipfile.ZipFile(folder / f"images_{set_name}.zip", "w") as z:
            for s, alphabet, first, n in alphabets:
                if s != set_name:
                    continue
                for k in range(n):
                    for drawer in range(1, 21):
                        path = f"images_{set_name}/{alphabet}/character{k + 1:02d}/{first + k:04d}_{drawer:02d}.png"
                        z.writestr(path, png_bytes(image(first + k, drawer)))


def idx_gz(images_upright: np.ndarray, labels: np.ndarray) -> tuple[bytes, bytes]:
    """The official idx files (gzip): images stored transposed, as EMNIST's are."""
    stored = np.ascontiguousarray(images_upright.transpose(0, 2, 1))
    header = np.array([2051, len(stored), 28, 28], dtype=">u4").tobytes()
    return (
        gzip.compress(header + stored.tobytes()),
        gzip.compress(np.array([2049, len(labels)], dtype=">u4").tobytes() + labels.astype(np.uint8).tobytes()),
    )


def emnist_images(per_class: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(62), per_class)
    return rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8), labels


def emnist_zip(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """EMNIST's gzip.zip: every split's idx files under gzip/ (here the ByClass test pair and a decoy)."""
    data = idx_gz(images, labels)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("gzip/emnist-letters-test-labels-idx1-ubyte.gz", gzip.compress(b"not ours"))
        for name, blob in zip(IDX_FILES, data):
            z.writestr(f"gzip/{name}", blob)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """A folder with the three official archives in small."""
    folder = tmp_path_factory.mktemp("archives")
    omniglot_zips(folder, SMALL)
    emnist_zip(folder / "gzip.zip", *emnist_images())
    return folder


@pytest.fixture(scope="module")
def prepared(archives, tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("prepared"), source=archives, progress=False)


def test_prepare_writes_the_npz_archives_in_the_readers_format(prepared):
    with np.load(prepared / "omniglot" / "images_background.npz") as z:
        images, labels = z["images"], z["labels"]
    assert images.dtype == bool and images.shape == (6, 20, 105, 105)
    assert labels.dtype == np.int64 and np.array_equal(labels, np.repeat(np.arange(6)[:, None], 20, 1))
    # rows in file-id order (Hebrew 466.. before Latin 683..), column j = drawer file suffix j + 1
    assert np.array_equal(images[0, 0], fake_image(466, 1)) and np.array_equal(images[5, 19], fake_image(685, 20))
    with np.load(prepared / "omniglot" / "images_evaluation.npz") as z:
        assert z["images"].shape == (43, 20, 105, 105) and np.array_equal(z["images"][42, 3], fake_image(1202, 4))


def test_prepare_derives_the_alphabet_table_from_the_zips_names(prepared):
    rows = list(csv.DictReader(open(prepared / "omniglot" / "alphabets.tsv"), delimiter="\t"))
    assert [tuple(r.values()) for r in rows] == [
        ("background", "Hebrew", "466", "468", "3", "images_background.npz", "0", "2"),
        ("background", "Latin", "683", "685", "3", "images_background.npz", "3", "5"),
        ("evaluation", "Gurmukhi", "1160", "1202", "43", "images_evaluation.npz", "0", "42"),
    ]
    assert [a.name for a in omniglot_alphabets(prepared)] == ["Hebrew", "Latin", "Gurmukhi"]


def test_the_vinyals_split_files_list_only_the_characters_present(prepared):
    split = {s: (prepared / "omniglot" / "splits" / "vinyals" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert split["val"][:5] == ["Hebrew/character01/rot000", "Hebrew/character01/rot090", "Hebrew/character01/rot180",
                                "Hebrew/character01/rot270", "Hebrew/character02/rot000"]  # fmt: skip
    assert len(split["val"]) == 3 * 4
    # published train order: Gurmukhi before Latin; Gurmukhi 1..41 train, 42.. test
    assert split["train"][0] == "Gurmukhi/character01/rot000" and split["train"][-1] == "Latin/character03/rot270"
    assert len(split["train"]) == (41 + 3) * 4
    assert split["test"] == [f"Gurmukhi/character{c}/rot{r:03d}" for c in (42, 43) for r in (0, 90, 180, 270)]


def test_the_named_datasets_load_from_a_prepared_folder(prepared):
    nolatin = load_split("omniglot-nolatin", root=prepared)
    assert nolatin.n_classes == 3 + 43 and "Latin/character01" not in nolatin.class_names
    train = load_split("omniglot-train", root=prepared)
    assert train.n_classes == 44 * 4 and len(train.x) == 44 * 4 * 20
    val = load_split("emnist-val", root=prepared)
    images, labels = emnist_images()
    assert val.n_classes == 31 and val.class_names[:3] == ("0", "2", "4") and len(val.x) == 31 * 3
    # the tiles come back upright (as given before storing them transposed) and dark on light
    assert torch.allclose(val.x[val.y == 1][:, 0], 1 - torch.from_numpy(images[labels == 2]).float() / 255)


def test_the_two_emnist_gz_files_do_instead_of_gzip_zip(archives, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("images_background.zip", "images_evaluation.zip"):
        (source / name).symlink_to(archives / name)
    images, labels = emnist_images(per_class=2)
    (source / "gzip").mkdir()  # as unzipping gzip.zip leaves them
    for name, blob in zip(IDX_FILES, idx_gz(images, labels)):
        (source / "gzip" / name).write_bytes(blob)
    dest = prepare(tmp_path / "dest", source=source, progress=False)
    data = load_emnist(dest)
    assert torch.equal(data.y, torch.from_numpy(labels)) and data.class_names[61] == "z"
    assert torch.allclose(data.x[:, 0], 1 - torch.from_numpy(images).float() / 255)


def test_a_from_folder_without_the_archives_names_them(tmp_path, archives):
    (tmp_path / "images_background.zip").symlink_to(archives / "images_background.zip")
    with pytest.raises(PrepareError) as info:
        prepare(tmp_path / "dest", source=tmp_path, progress=False)
    message = str(info.value)
    assert (
        "no images_evaluation.zip; no gzip.zip" in message and "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip" in message
    )
    assert "\n" not in message and not (tmp_path / "dest").exists()


def test_a_damaged_or_foreign_archive_is_refused_in_one_line(tmp_path, archives):
    for name in ("images_evaluation.zip", "gzip.zip"):
        (tmp_path / name).symlink_to(archives / name)
    (tmp_path / "images_background.zip").write_bytes(b"<html>not found</html>")
    with pytest.raises(PrepareError, match="images_background.zip is not a readable zip archive"):
        prepare(tmp_path / "dest", source=tmp_path, progress=False)
    (tmp_path / "images_background.zip").unlink()
    with zipfile.ZipFile(tmp_path / "images_background.zip", "w") as z:  # a gap: character02 missing
        for k in (0, 2):
            for drawer in range(1, 21):
                z.writestr(
                    f"images_background/Latin/character{k + 1:02d}/{683 + k:04d}_{drawer:02d}.png",
                    png_bytes(fake_image(k, drawer)),
                )
    with pytest.raises(PrepareError, match="Latin's characters are not character01..character02 with consecutive"):
        prepare(tmp_path / "dest", source=tmp_path, progress=False)


# ---------------------------------------------------------------------------------------------------- downloads


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours Range unless ``server.ignore_range``; ``server.cut_after``: send that
    many bytes of the next response, then close (an interrupted transfer)."""

    def do_GET(self):
        data = self.server.files.get(self.path.lstrip("/"))
        self.server.requests.append((self.path.lstrip("/"), self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range") and not self.server.ignore_range:
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_after is not None:
            body, self.server.cut_after = body[: self.server.cut_after], None
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(archives):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files = {p.name: p.read_bytes() for p in archives.iterdir()}
    httpd.requests, httpd.ignore_range, httpd.cut_after = [], False, None
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.archives = {name: (base + name, "md5:" + hashlib.md5(blob).hexdigest()) for name, blob in httpd.files.items()}
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_prepare_downloads_verifies_and_then_removes_the_archives(server, tmp_path, prepared):
    dest = prepare(tmp_path / "data", archives=server.archives, progress=False)
    for path in ("omniglot/alphabets.tsv", "omniglot/splits/vinyals/train.txt", f"emnist-byclass-test/{IDX_FILES[0]}"):
        assert (dest / path).read_bytes() == (prepared / path).read_bytes()
    with (
        np.load(dest / "omniglot" / "images_evaluation.npz") as ours,
        np.load(prepared / "omniglot" / "images_evaluation.npz") as ref,
    ):
        assert np.array_equal(ours["images"], ref["images"])
    assert not (dest / "downloads").exists() and "MIT" in (dest / "README.txt").read_text()


def test_an_interrupted_download_resumes_where_it_stopped(server, tmp_path):
    size = len(server.files["gzip.zip"])
    server.cut_after = size // 2  # the first transfer, gzip.zip's, breaks halfway
    archives = {"gzip.zip": server.archives["gzip.zip"], **server.archives}
    with pytest.raises(DownloadError, match=f"stopped after {size // 2} of {size} bytes; run the same command again"):
        prepare(tmp_path / "data", archives=archives, progress=False)
    assert (tmp_path / "data" / "downloads" / "gzip.zip.part").stat().st_size == size // 2
    prepare(tmp_path / "data", archives=archives, progress=False)
    assert ("gzip.zip", f"bytes={size // 2}-") in server.requests
    assert load_emnist(tmp_path / "data").n_classes == 62


def test_a_server_that_ignores_range_restarts_the_file_cleanly(server, tmp_path):
    (tmp_path / "data" / "downloads").mkdir(parents=True)
    (tmp_path / "data" / "downloads" / "gzip.zip.part").write_bytes(b"garbage from another file")
    server.ignore_range = True
    prepare(tmp_path / "data", archives=server.archives, progress=False)
    assert ("gzip.zip", "bytes=25-") in server.requests and load_emnist(tmp_path / "data").n_classes == 62


def test_a_checksum_mismatch_is_refused_and_nothing_is_prepared(server, tmp_path):
    archives = {**server.archives, "images_evaluation.zip": (server.archives["images_evaluation.zip"][0], "md5:" + "0" * 32)}
    with pytest.raises(DownloadError, match="images_evaluation.zip has md5 .*, expected 0+: the download is corrupt or altered"):
        prepare(tmp_path / "data", archives=archives, progress=False)
    assert not (tmp_path / "data" / "omniglot").exists()
    assert not (tmp_path / "data" / "downloads" / "images_evaluation.zip.part").exists()


def test_offline_the_error_lists_the_files_to_fetch_by_hand_and_the_from_command(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    urls = {n: (f"http://127.0.0.1:{port}/{n}", "md5:0") for n in ("images_background.zip", "images_evaluation.zip", "gzip.zip")}
    with pytest.raises(DownloadError) as info:
        prepare(tmp_path / "data", archives=urls, progress=False)
    message = str(info.value)
    for name, (url, _) in urls.items():
        assert f"{name} ({url})" in message
    assert f"hypermaml data prepare --from FOLDER --dest {tmp_path / 'data'}" in message and "\n" not in message


def test_the_official_archives_are_the_checksummed_originals():
    from hypermaml.data.prepare import official_archives

    archives = official_archives()
    assert archives["gzip.zip"] == (
        "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
        "md5:58c8d27c78d21e728a6bc7b3cc06412e",
    )
    assert archives["images_background.zip"][0].startswith("https://github.com/brendenlake/omniglot/")


# ---------------------------------------------------------------------------------------------------- missing data


def test_without_the_variable_prepare_writes_where_the_readers_look(archives, tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # platformdirs' per-user folder on Linux
    with pytest.raises(DataMissingError, match=f"default folder {tmp_path / 'xdg'}.* run: hypermaml data prepare"):
        data_root()
    dest = prepare(source=archives, progress=False)
    assert dest == tmp_path / "xdg" / "hypermaml" / "data" and data_root() == dest
    assert load_split("emnist-test").n_classes == 31


@pytest.mark.parametrize(
    ("removed", "dataset"),
    [
        ("omniglot/alphabets.tsv", "omniglot-nolatin"),
        ("omniglot/images_evaluation.npz", "omniglot-nolatin"),
        ("omniglot/splits/vinyals/test.txt", "omniglot-test"),
        (f"emnist-byclass-test/{IDX_FILES[1]}", "emnist-val"),
    ],
)
def test_a_missing_data_file_is_one_error_naming_it_and_the_command(prepared, tmp_path, removed, dataset):
    partial = tmp_path / "partial"
    for path in prepared.rglob("*"):
        if path.is_file() and path.relative_to(prepared).as_posix() != removed:
            (partial / path.relative_to(prepared)).parent.mkdir(parents=True, exist_ok=True)
            (partial / path.relative_to(prepared)).symlink_to(path)
    with pytest.raises(DataMissingError) as info:
        load_split(dataset, root=partial)
    assert str(info.value) == (
        f"{removed} is missing from the data folder {partial}; run: hypermaml data prepare --dest {partial} "
        "(offline: add --from FOLDER holding the official archives)"
    )
    assert isinstance(info.value, FileNotFoundError)


def test_a_data_folder_set_one_level_too_deep_or_left_at_the_default_says_how_to_point_at_the_data(
    prepared, tmp_path, monkeypatch
):
    """$HYPERMAML_DATA at .../data/omniglot advised preparing data into that subfolder; the default folder's
    message said only how to prepare it, not how to use data already prepared elsewhere."""
    monkeypatch.setenv(DATA_ENV, str(prepared / "omniglot"))
    with pytest.raises(DataMissingError) as info:
        load_split("omniglot-nolatin")
    assert str(info.value) == (
        f"omniglot/alphabets.tsv is missing from the data folder {prepared / 'omniglot'}, but its parent "
        f"folder has it: set ${DATA_ENV} to {prepared}"
    )
    empty = tmp_path / "default"
    empty.mkdir()
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.setattr("hypermaml.data.base.default_data_dir", lambda: empty)
    with pytest.raises(DataMissingError) as info:
        load_split("omniglot-nolatin")
    assert str(info.value).endswith(
        f"; for data prepared elsewhere, set ${DATA_ENV} to the folder holding omniglot/ and emnist-byclass-test/"
    )
    assert f"run: hypermaml data prepare --dest {empty}" in str(info.value)


# ---------------------------------------------------------------------------------------------------- the command


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "hypermaml", *args], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )


def test_the_command_prepares_from_a_folder_and_says_how_to_use_it(archives, tmp_path):
    done = run_cli("data", "prepare", "--from", str(archives), "--dest", str(tmp_path / "d"), "--no-progress", env={DATA_ENV: ""})
    assert done.returncode == 0, done.stderr
    assert f"prepared {tmp_path / 'd'}" in done.stdout and f"export {DATA_ENV}={tmp_path / 'd'}" in done.stdout
    assert (tmp_path / "d" / "omniglot" / "splits" / "vinyals" / "val.txt").is_file()


def test_a_from_folder_without_archives_ends_the_command_in_one_line_and_status_2(tmp_path, capsys):
    from hypermaml.cli import main

    assert main(["data", "prepare", "--from", str(tmp_path), "--dest", str(tmp_path / "d"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path} has no images_background.zip; no images_evaluation.zip; no gzip.zip")
    assert err.count("\n") == 1 and not (tmp_path / "d").exists()


def test_a_dest_that_is_a_file_ends_the_command_in_one_line_and_status_2(tmp_path, capsys):
    """It used to fail with a NotADirectoryError traceback when it made dest/downloads."""
    from hypermaml.cli import main

    (tmp_path / "afile").write_text("not a folder")
    assert main(["data", "prepare", "--dest", str(tmp_path / "afile"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: the data folder {tmp_path / 'afile'} is a file; give a folder (it is made if it does not exist)\n"
    assert (tmp_path / "afile").read_text() == "not a folder"


@needs_shared
def test_evaluate_on_a_data_folder_without_test_json_is_one_line_and_exit_2(tmp_path):
    partial = tmp_path / "data"
    (partial / "emnist-byclass-test").mkdir(parents=True)
    (partial / "omniglot").symlink_to(SHARED / "omniglot")
    for sheet in (SHARED / "emnist-byclass-test").glob("*.webp"):
        (partial / "emnist-byclass-test" / sheet.name).symlink_to(sheet)
    done = run_cli(
        "evaluate", "--checkpoint", "omniglot_emnist_protonet_1shot", "--dataset", "emnist", "--episodes", "2",
        "--json", str(tmp_path / "r.json"), env={DATA_ENV: str(partial)},
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == (
        f"error: emnist-byclass-test/test.json is missing from the data folder {partial}; "
        f"run: hypermaml data prepare --dest {partial} (offline: add --from FOLDER holding the official archives)\n"
    )


# ---------------------------------------------------------------------------------------------------- the real data


def shared_characters() -> list[Character]:
    chars = []
    for r in csv.DictReader(open(SHARED / "omniglot" / "alphabets.tsv"), delimiter="\t"):
        first = int(r["first_char_id"])
        chars += [Character(r["set"], r["alphabet"], k + 1, first + k) for k in range(int(r["n_characters"]))]
    return chars


@needs_shared
def test_the_derived_table_and_vinyals_split_equal_the_published_ones_for_all_1623_characters():
    chars = shared_characters()
    assert alphabet_table(chars) == (SHARED / "omniglot" / "alphabets.tsv").read_text()
    for split, lines in vinyals_split(chars).items():
        assert "".join(line + "\n" for line in lines) == (SHARED / "omniglot" / "splits" / "vinyals" / f"{split}.txt").read_text()


@needs_shared
def test_official_format_zips_of_a_slice_of_the_real_data_prepare_into_the_same_data(tmp_path):
    table = {a.name: a for a in omniglot_alphabets(SHARED)}
    characters = shared_characters()
    slice_ = [("background", "Armenian"), ("background", "Latin"), ("evaluation", "Angelic"), ("evaluation", "Gurmukhi")]
    alphabets = [
        (s, name, next(c.char_id for c in characters if c.alphabet == name), table[name].n_characters) for s, name in slice_
    ]
    npz = {s: np.load(SHARED / "omniglot" / f"images_{s}.npz")["images"] for s in ("background", "evaluation")}
    rows = {c.char_id: (c.set, table[c.alphabet].first_row + c.number - 1) for c in characters}
    source = tmp_path / "source"
    source.mkdir()
    omniglot_zips(source, alphabets, image=lambda char_id, drawer: npz[rows[char_id][0]][rows[char_id][1], drawer - 1])
    # EMNIST: idx files made from the first WebP sheet's tiles must read back as the same upright tiles
    meta = json.loads((SHARED / "emnist-byclass-test" / "test.json").read_text())
    with Image.open(SHARED / "emnist-byclass-test" / meta["files"][0]) as sheet:
        arr = np.asarray(sheet.convert("L"))
    cols = arr.shape[1] // 28
    tiles = arr[: 28 * 4, : 28 * cols].reshape(4, 28, cols, 28).swapaxes(1, 2).reshape(-1, 28, 28)[:300]
    labels = np.asarray(meta["id"][:300])
    emnist_zip(source / "gzip.zip", tiles, labels)
    dest = prepare(tmp_path / "dest", source=source, progress=False)

    ours = {a.name: a for a in omniglot_alphabets(dest)}
    with open(SHARED / "omniglot" / "alphabets.tsv") as f:
        theirs = {r["alphabet"]: r for r in csv.DictReader(f, delimiter="\t")}
    with open(dest / "omniglot" / "alphabets.tsv") as f:
        for r in csv.DictReader(f, delimiter="\t"):  # the same alphabet facts; rows renumbered within the slice
            keep = ("set", "first_char_id", "last_char_id", "n_characters", "npz_file")
            assert {k: r[k] for k in keep} == {k: theirs[r["alphabet"]][k] for k in keep}
    for s, name in slice_:
        with np.load(dest / "omniglot" / f"images_{s}.npz") as z:
            got = z["images"][ours[name].first_row : ours[name].first_row + ours[name].n_characters]
        assert np.array_equal(got, npz[s][table[name].first_row : table[name].first_row + table[name].n_characters])
    present = {f"{name}/" for _, name in slice_}
    for split in ("train", "val", "test"):
        published = (SHARED / "omniglot" / "splits" / "vinyals" / f"{split}.txt").read_text().split()
        assert (dest / "omniglot" / "splits" / "vinyals" / f"{split}.txt").read_text().split() == [
            line for line in published if line.split("/")[0] + "/" in present
        ]
    data = load_emnist(dest)
    assert torch.equal(data.y, torch.from_numpy(labels))
    assert torch.equal(data.x[:, 0], 1 - torch.from_numpy(tiles).float().div_(255.0))
