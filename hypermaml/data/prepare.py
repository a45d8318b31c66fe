"""``hypermaml data prepare``: the official archives -> the data folder every named dataset reads.

From Omniglot's ``images_background.zip`` and ``images_evaluation.zip`` (github.com/brendenlake/omniglot) and
EMNIST's ``gzip.zip`` (NIST), or the two ByClass test files inside it, it writes::

    omniglot/images_background.npz, images_evaluation.npz   bool images (n_chars, 20, 105, 105), True = background
    omniglot/alphabets.tsv                                   alphabet -> character ids -> npz rows
    omniglot/splits/vinyals/{train,val,test}.txt             the Vinyals et al. split, one line per rotation
    emnist-byclass-test/emnist-byclass-test-{images-idx3,labels-idx1}-ubyte.gz   the official files, as they are
    README.txt                                               sources and licences

Everything is derived from the archives' contents (file names and pixels); nothing comes from elsewhere. Downloads
are checked against the official checksums; archives given with ``--from`` are checked by their own CRCs (zip and
gzip), so a damaged copy is refused while a user's re-zipped but complete copy is accepted.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from .base import default_data_dir
from .download import EMNIST_CHECKSUM, EMNIST_URL, OMNIGLOT_BASE_URL, OMNIGLOT_CHECKSUMS, DownloadError, download
from .emnist import BYCLASS, IDX_FILES, read_emnist_idx
from .emnist import FOLDER as EMNIST_FOLDER

OMNIGLOT_SETS = {"images_background.zip": "background", "images_evaluation.zip": "evaluation"}
EMNIST_ZIP = "gzip.zip"
DRAWERS = 20  # every Omniglot character was drawn by 20 people: files <id>_01.png .. <id>_20.png
SIDE = 105  # Omniglot images are 105x105 1-bit PNGs
ROTATIONS = (0, 90, 180, 270)

# The Vinyals et al. (2016) Omniglot split, as published with Prototypical Networks (jakesnell/prototypical-networks,
# data/omniglot/splits/vinyals/): the first 1200 characters in Omniglot's id order (all 964 background characters and
# the evaluation set up to Gurmukhi/character41) are for training, the other 423 for testing; validation takes five
# whole background alphabets out of training. Each (character, rotation) is a line, rotations 0, 90, 180, 270.
VINYALS_LAST_TRAIN_ID = 1200  # Gurmukhi/character41
VINYALS_VAL_ALPHABETS = ("Hebrew", "Mkhedruli_(Georgian)", "Armenian", "Early_Aramaic", "Bengali")  # in file order
# The order of the alphabets in the published train.txt (val.txt: the order above; test.txt: id order). Only the
# order: the line order makes the class indices, and so the episodes a seed draws, the same as with those files.
VINYALS_TRAIN_ORDER = (
    "Angelic", "Grantha", "N_Ko", "Aurek-Besh", "Japanese_(hiragana)", "Malay_(Jawi_-_Arabic)",
    "Asomtavruli_(Georgian)", "Sanskrit", "Ojibwe_(Canadian_Aboriginal_Syllabics)", "Korean", "Arcadian", "Greek",
    "Alphabet_of_the_Magi", "Blackfoot_(Canadian_Aboriginal_Syllabics)", "Futurama", "Gurmukhi", "Tagalog",
    "Anglo-Saxon_Futhorc", "Braille", "Cyrillic", "Burmese_(Myanmar)", "Avesta", "Gujarati", "Ge_ez",
    "Syriac_(Estrangelo)", "Atlantean", "Japanese_(katakana)", "Balinese", "Atemayar_Qelisayer", "Glagolitic",
    "Tifinagh", "Latin", "Inuktitut_(Canadian_Aboriginal_Syllabics)",
)  # fmt: skip

TSV_COLUMNS = (
    "set", "alphabet", "first_char_id", "last_char_id", "n_characters", "npz_file", "npz_row_first", "npz_row_last",
)  # fmt: skip

# images_background/<Alphabet>/character<NN>/<char id>_<drawer>.png
_PNG = re.compile(r"(?:^|/)([^/]+)/character(\d+)/(\d+)_(\d+)\.png$", re.IGNORECASE)

README = """This folder was written by `hypermaml data prepare` from the official archives.

omniglot/  Omniglot (Lake, Salakhutdinov & Tenenbaum, Science 2015), from images_background.zip and
           images_evaluation.zip of https://github.com/brendenlake/omniglot (MIT licence, Copyright (c) 2015
           Brenden Lake: keep that notice with any copy). The npz files hold the same pixels; alphabets.tsv is
           derived from the archives' folder and file names.
omniglot/splits/vinyals/  the character split of Vinyals et al., "Matching Networks for One Shot Learning"
           (NeurIPS 2016), in the form published with Prototypical Networks (Snell et al. 2017,
           https://github.com/jakesnell/prototypical-networks, MIT licence); generated from its rule.
emnist-byclass-test/  the EMNIST ByClass test files, unchanged, from gzip.zip of
           https://www.nist.gov/itl/products-and-services/emnist-dataset (Cohen, Afshar, Tapson & van Schaik,
           "EMNIST: an extension of MNIST to handwritten letters", arXiv:1702.05373, 2017), derived from NIST
           Special Database 19. No licence is stated for EMNIST; the authors ask to be cited.
"""


class PrepareError(ValueError):
    """An archive that is missing, damaged or not the official one: one line saying which and what to do."""


@dataclass(frozen=True)
class Character:
    """One Omniglot character: its set ("background"/"evaluation"), alphabet, number within the alphabet
    (``characterNN``) and its id (the official file prefix, 1..1623)."""

    set: str
    alphabet: str
    number: int
    char_id: int

    @property
    def name(self) -> str:
        return f"{self.alphabet}/character{self.number:02d}"


def official_archives() -> dict[str, tuple[str, str]]:
    """File name -> (URL, checksum) of the archives ``prepare`` downloads."""
    archives = {name: (OMNIGLOT_BASE_URL + name, OMNIGLOT_CHECKSUMS[name]) for name in OMNIGLOT_SETS}
    archives[EMNIST_ZIP] = (EMNIST_URL, EMNIST_CHECKSUM)
    return archives


def prepare(
    dest: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    progress: bool = True,
    archives: dict[str, tuple[str, str]] | None = None,
) -> Path:
    """Build the data folder ``dest`` from the official archives.

    Args:
        dest: the folder to write (default ``default_data_dir()``, where the readers look without $HYPERMAML_DATA).
        source: a folder holding the archives (offline use); default: download them into ``dest/downloads``
            (resumable; removed once the folder is built).
        progress: progress bars for downloads and decoding.
        archives: file name -> (URL, checksum) to download (default ``official_archives()``).

    Returns:
        ``dest``.

    Raises:
        PrepareError: ``dest`` is a file, or an archive is missing from ``source``, damaged, or not the official one.
        DownloadError: a download failed (offline, HTTP error, checksum mismatch); the message says how to
            prepare offline.
    """
    dest = Path(dest).expanduser() if dest is not None else default_data_dir()
    if dest.exists() and not dest.is_dir():
        raise PrepareError(f"the data folder {dest} is a file; give a folder (it is made if it does not exist)")
    downloads = None
    if source is None:
        downloads = dest / "downloads"
        _download_all(downloads, dest, archives or official_archives(), progress)
        source = downloads
    source = Path(source).expanduser()
    omniglot_zips, emnist_files = _find_archives(source, archives or official_archives())
    prepare_omniglot(omniglot_zips, dest / "omniglot", progress)
    prepare_emnist(emnist_files, dest / EMNIST_FOLDER)
    _write_text(dest / "README.txt", README)
    if downloads is not None:  # about 580 MB, and everything in them now lives in dest
        for name in archives or official_archives():
            (downloads / name).unlink(missing_ok=True)
        if not any(downloads.iterdir()):
            downloads.rmdir()
    return dest


def _download_all(folder: Path, dest: Path, archives: dict[str, tuple[str, str]], progress: bool) -> None:
    by_hand = ", ".join(f"{name} ({url})" for name, (url, _) in archives.items())
    hint = (
        f"To prepare offline, fetch {by_hand} on a machine with internet, put them in one folder and run: "
        f"hypermaml data prepare --from FOLDER --dest {dest}"
    )
    for name, (url, checksum) in archives.items():
        download(url, folder / name, checksum, progress=progress, offline_hint=hint)


def _find_archives(source: Path, archives: dict[str, tuple[str, str]]) -> tuple[dict[str, Path], tuple]:
    """The Omniglot zips and the EMNIST source in ``source``: ("zip", gzip.zip) or ("idx", images.gz, labels.gz)."""
    if not source.is_dir():
        raise PrepareError(f"--from {source} " + ("is not a folder" if source.exists() else "does not exist"))
    omniglot = {name: source / name for name in OMNIGLOT_SETS if (source / name).is_file()}
    missing = [name for name in OMNIGLOT_SETS if name not in omniglot]
    idx = [next((p for p in (source / n, source / "gzip" / n) if p.is_file()), None) for n in IDX_FILES]
    if (source / EMNIST_ZIP).is_file():
        emnist = ("zip", source / EMNIST_ZIP)
    elif all(idx):
        emnist = ("idx", *idx)
    else:
        emnist = None
        missing.append(f"{EMNIST_ZIP} (or the two files inside it, {' and '.join(IDX_FILES)})")
    if missing:
        urls = ", ".join(f"{name} from {url}" for name, (url, _) in archives.items())
        raise PrepareError(f"{source} has no {'; no '.join(missing)}. The official archives: {urls}")
    return omniglot, emnist


# ---------------------------------------------------------------------------------------------------- Omniglot


def prepare_omniglot(zips: dict[str, Path], out: Path, progress: bool = True) -> list[Character]:
    """The npz archives, ``alphabets.tsv`` and the Vinyals split files from the two official zips.

    Returns:
        Every character, in id order.
    """
    characters: list[Character] = []
    arrays = {}
    for zip_name, set_name in OMNIGLOT_SETS.items():
        chars, images = read_omniglot_zip(zips[zip_name], set_name, progress)
        characters += chars
        arrays[zip_name.replace(".zip", ".npz")] = images
    twice = sorted(
        {c.alphabet for c in characters if c.set == "background"} & {c.alphabet for c in characters if c.set == "evaluation"}
    )
    if twice:
        raise PrepareError(f"alphabet(s) {', '.join(twice)} appear in both Omniglot zips; are they the official ones?")
    out.mkdir(parents=True, exist_ok=True)
    for npz_name, images in arrays.items():
        labels = np.repeat(np.arange(len(images), dtype=np.int64)[:, None], DRAWERS, axis=1)  # labels[i, j] == i
        tmp = out / (npz_name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, labels=labels)
        os.replace(tmp, out / npz_name)
    _write_text(out / "alphabets.tsv", alphabet_table(characters))
    for split, lines in vinyals_split(characters).items():
        _write_text(out / "splits" / "vinyals" / f"{split}.txt", "".join(line + "\n" for line in lines))
    return characters


def read_omniglot_zip(path: Path, set_name: str, progress: bool = True) -> tuple[list[Character], np.ndarray]:
    """One official Omniglot zip.

    Returns:
        The characters in id order, and their images: bool (n_chars, 20, 105, 105), True = background, row i =
        the i-th character, column j = drawer file suffix j+1.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            found: dict[int, tuple[str, int, dict[int, zipfile.ZipInfo]]] = {}
            for member in archive.infolist():
                match = _PNG.search(member.filename)
                if member.is_dir() or not match or member.filename.startswith("__MACOSX/"):
                    continue
                alphabet, number, char_id, drawer = match[1], int(match[2]), int(match[3]), int(match[4])
                entry = found.setdefault(char_id, (alphabet, number, {}))
                if entry[:2] != (alphabet, number):
                    raise PrepareError(
                        f"{path}: character id {char_id} is both {entry[0]}/character{entry[1]:02d} and {alphabet}/character{number:02d}"
                    )
                entry[2][drawer] = member
            if not found:
                raise PrepareError(
                    f"{path} holds no Omniglot images (<Alphabet>/characterNN/<id>_<drawer>.png); is it the official {path.name}?"
                )
            characters = [Character(set_name, found[i][0], found[i][1], i) for i in sorted(found)]
            _check_numbering(characters, path)
            images = np.empty((len(characters), DRAWERS, SIDE, SIDE), dtype=bool)
            for row, char in enumerate(tqdm(characters, desc=path.name, unit="char", disable=not progress)):
                drawers = found[char.char_id][2]
                if sorted(drawers) != list(range(1, DRAWERS + 1)):
                    raise PrepareError(
                        f"{path}: {char.name} has drawer files {sorted(drawers)}; the official archives have 1..{DRAWERS}"
                    )
                for drawer, member in drawers.items():
                    images[row, drawer - 1] = _png_bits(archive.read(member), f"{path}:{member.filename}")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise PrepareError(f"{path} is not a readable zip archive ({exc}); fetch it again") from None
    return characters, images


def _check_numbering(characters: list[Character], path: Path) -> None:
    """Each alphabet's characters must be character01..characterNN with consecutive ids (the readers rely on it)."""
    by_alphabet: dict[str, list[Character]] = {}
    for c in characters:
        by_alphabet.setdefault(c.alphabet, []).append(c)
    for alphabet, chars in by_alphabet.items():
        first = chars[0].char_id
        if [(c.number, c.char_id) for c in chars] != [(k + 1, first + k) for k in range(len(chars))]:
            raise PrepareError(
                f"{path}: {alphabet}'s characters are not character01..character{len(chars):02d} with consecutive "
                "file ids; is the archive complete?"
            )


def _png_bits(data: bytes, where: str) -> np.ndarray:
    """A 1-bit PNG as bool (105, 105), True = white background."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            bits = np.asarray(im) if im.mode == "1" else np.asarray(im.convert("L")) >= 128
    except (UnidentifiedImageError, OSError) as exc:
        raise PrepareError(f"{where} is not a readable PNG ({exc})") from None
    if bits.shape != (SIDE, SIDE):
        raise PrepareError(f"{where} is {bits.shape[1]}x{bits.shape[0]} pixels; Omniglot images are {SIDE}x{SIDE}")
    return bits


def alphabet_table(characters: list[Character]) -> str:
    """``alphabets.tsv``: one row per alphabet in id order, with its ids and its rows in its set's npz file."""
    rows, next_row = [], {}
    seen: dict[str, list[Character]] = {}
    for c in sorted(characters, key=lambda c: c.char_id):
        seen.setdefault(c.alphabet, []).append(c)
    for alphabet, chars in seen.items():
        set_name = chars[0].set
        first_row = next_row.get(set_name, 0)
        next_row[set_name] = first_row + len(chars)
        npz_file = f"images_{set_name}.npz"
        rows.append(
            (set_name, alphabet, chars[0].char_id, chars[-1].char_id, len(chars), npz_file, first_row, first_row + len(chars) - 1)
        )
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(TSV_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


def vinyals_split(characters: list[Character]) -> dict[str, list[str]]:
    """The Vinyals split's lines ("Alphabet/characterNN/rotDDD") of the characters given, per split, in the
    published files' order (see ``VINYALS_TRAIN_ORDER``)."""

    def split_of(c: Character) -> str:
        if c.alphabet in VINYALS_VAL_ALPHABETS:
            return "val"
        return "train" if c.char_id <= VINYALS_LAST_TRAIN_ID else "test"

    def order(c: Character) -> tuple[int, int]:
        listed = VINYALS_VAL_ALPHABETS if split_of(c) == "val" else VINYALS_TRAIN_ORDER if split_of(c) == "train" else ()
        return (listed.index(c.alphabet) if c.alphabet in listed else len(listed), c.char_id)

    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for c in sorted(characters, key=order):
        splits[split_of(c)] += [f"{c.name}/rot{r:03d}" for r in ROTATIONS]
    return splits


# ---------------------------------------------------------------------------------------------------- EMNIST


def prepare_emnist(emnist: tuple, out: Path) -> int:
    """The two ByClass test idx files into ``out``, from ``("zip", gzip.zip)`` or ``("idx", images, labels)``.

    Returns:
        The number of images.
    """
    out.mkdir(parents=True, exist_ok=True)
    tmps = [out / (name + ".tmp") for name in IDX_FILES]
    kind, *paths = emnist
    try:
        if kind == "zip":
            with zipfile.ZipFile(paths[0]) as archive:
                members = {Path(m.filename).name: m for m in archive.infolist() if not m.is_dir()}
                for name, tmp in zip(IDX_FILES, tmps):
                    if name not in members:
                        raise PrepareError(f"{paths[0]} has no gzip/{name}; is it EMNIST's official {EMNIST_ZIP}?")
                    with archive.open(members[name]) as src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        else:
            for path, tmp in zip(paths, tmps):
                shutil.copyfile(path, tmp)
        images, labels = read_emnist_idx(*tmps)  # the whole files: their gzip CRCs and idx headers
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, PrepareError):
            raise
        raise PrepareError(f"EMNIST from {' and '.join(map(str, paths))} cannot be read ({exc}); fetch it again") from None
    if images.shape[1:] != (28, 28) or (len(labels) and labels.max() >= len(BYCLASS)):
        for tmp in tmps:
            tmp.unlink()
        raise PrepareError(f"{paths[0]} is not EMNIST ByClass: images {images.shape[1:]}, labels up to {labels.max()}")
    for name, tmp in zip(IDX_FILES, tmps):
        os.replace(tmp, out / name)
    return len(labels)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


__all__ = ["Character", "DownloadError", "PrepareError", "alphabet_table", "official_archives", "prepare", "vinyals_split"]
