"""A visitor's own 5-way task (the logic behind the page "Your own task", ``app/views/own_task.py``), kept out
of the page so it can be tested without a browser.

Raw bytes are what the session keeps, so changing the polarity setting re-decodes everything and nothing the
user gave is lost. Everything a visitor gives lives in that visitor's session (released when it ends): the
raw bytes, bounded by ``MAX_UPLOAD_BYTES``, and a decode cache bounded in bytes. Nothing is shared between
visitors or kept in process-wide caches.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

import hypermaml as hm
from hypermaml.data import ImageError, image_from_bytes

N_WAY = 5
MAX_UPLOAD_BYTES = 64 * 2**20  # raw image bytes one visitor may hold (a lecture hall shares one server)
DECODE_CACHE_BYTES = 8 * 2**20  # decoded 28x28 tensors kept per visitor (about 2,700 pictures)
MAX_DRAWING_BYTES = 2 * 2**20  # a drawing's PNG from the page's canvas (280x280: a few kB in practice)
METHOD_NAMES = {"hypermaml": "HyperMAML", "maml": "MAML", "protonet": "ProtoNet"}


@dataclass
class Picture:
    """One user image: its name and original bytes (``animated``: a GIF, WebP or PNG with several frames)."""

    name: str
    data: bytes
    key: str = field(init=False, repr=False)
    animated: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.key = hashlib.sha1(self.data).hexdigest()
        self.animated = _is_animated(self.data)


def _is_animated(data: bytes) -> bool:
    """Whether the file holds more than one frame (only the first one is used); reads headers, not pixels."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - not an image at all: decoding says so, with the reason
        return False


@dataclass
class TaskClass:
    name: str
    pictures: list[Picture] = field(default_factory=list)

    def add(self, picture: Picture) -> bool:
        """Add unless the same bytes are already here; returns whether it was added."""
        if any(p.key == picture.key for p in self.pictures):
            return False
        self.pictures.append(picture)
        return True


def empty_task() -> list[TaskClass]:
    return [TaskClass(name=f"class {i + 1}") for i in range(N_WAY)]


class DecodeCache:
    """One visitor's decoded pictures, least recently used first out, bounded in bytes (not in count).

    Every rerun of the page shows each picture and then builds the task from it: decoding (and shrinking a
    large photo) once per picture and polarity, not once per use, keeps reruns quick.
    """

    def __init__(self, max_bytes: int = DECODE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, str], torch.Tensor | _NamelessError] = OrderedDict()

    def get(self, picture: Picture, polarity: str) -> torch.Tensor:
        key = (picture.key, polarity)
        if key in self._items:
            self._items.move_to_end(key)
            value = self._items[key]
        else:
            try:
                value = image_from_bytes(picture.data, picture.name, polarity)  # type: ignore[arg-type]
            except ImageError as exc:
                value = _NamelessError(str(exc), picture.name)
            self._items[key] = value
            self.bytes += _size(value)
            while self.bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self.bytes -= _size(old)
        if isinstance(value, _NamelessError):
            raise ImageError(value.named(picture.name))  # the same bytes may come under another name
        return value.clone()

    def __len__(self) -> int:
        return len(self._items)


class _NamelessError:
    """A cached decoding error, kept without the file name it was first met under."""

    def __init__(self, message: str, name: str) -> None:
        self.prefix = message.startswith(name)
        self.message = message[len(name) :] if self.prefix else message

    def named(self, name: str) -> str:
        return name + self.message if self.prefix else self.message


def _size(value) -> int:
    return value.numel() * value.element_size() if isinstance(value, torch.Tensor) else 256


def decode(picture: Picture, polarity: str, cache: DecodeCache | None = None) -> torch.Tensor:
    """(1, 28, 28) dark-on-light, or ImageError naming the picture. ``cache``: the visitor's DecodeCache."""
    if cache is None:
        return image_from_bytes(picture.data, picture.name, polarity)  # type: ignore[arg-type]
    return cache.get(picture, polarity)


def held_bytes(classes: list[TaskClass], queries: list[Picture]) -> int:
    """Raw bytes of every picture a visitor has given (support and queries)."""
    return sum(len(p.data) for c in classes for p in c.pictures) + sum(len(p.data) for p in queries)


def task_is_blank(classes: list[TaskClass], queries: list[Picture]) -> bool:
    """Nothing given yet: no image anywhere and every class still has its default name."""
    return not queries and all(not c.pictures and c.name == d.name for c, d in zip(classes, empty_task()))


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 image', '2 images', '0 classes': a number with its noun in the right form."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def name_key(name: str) -> str:
    """A class name as two names that a person reads as the same compare: surrounding spaces, case and
    Unicode's two spellings of accents ("é" as one character or as "e" plus an accent, NFC and NFD) ignored."""
    return unicodedata.normalize("NFC", name).strip().casefold()


def problems(classes: list[TaskClass]) -> list[str]:
    """Everything that stops the task from running, as sentences a user can act on (empty: ready)."""
    found = []
    names = [c.name.strip() for c in classes]
    if any(not n for n in names):
        found.append("every class needs a name")
    lowered = [name_key(n) for n in names if n]
    duplicates = sorted({n for n in lowered if lowered.count(n) > 1})
    if duplicates:
        found.append(f"class names must differ; {', '.join(repr(d) for d in duplicates)} is used twice")
    empty = [c.name or f"class {i + 1}" for i, c in enumerate(classes) if not c.pictures]
    if empty:
        found.append(
            f"{counted(len(empty), 'class', 'classes')} {'has' if len(empty) == 1 else 'have'} no images yet: "
            f"{', '.join(repr(e) for e in empty)} "
            f"(a 5-way task needs at least 1 image in each of the 5 classes)"
        )
    return found


def _readable(classes: list[TaskClass], polarity: str, cache: DecodeCache | None) -> list[list[torch.Tensor]]:
    readable: list[list[torch.Tensor]] = []
    for c in classes:
        decoded = []
        for p in c.pictures:
            try:
                decoded.append(decode(p, polarity, cache))
            except ImageError:
                pass
        readable.append(decoded)
    return readable


def readable_counts(classes: list[TaskClass], polarity: str, cache: DecodeCache | None = None) -> list[int]:
    """How many pictures of each class can be used."""
    return [len(d) for d in _readable(classes, polarity, cache)]


def support_set(
    classes: list[TaskClass], polarity: str, cache: DecodeCache | None = None
) -> tuple[torch.Tensor, torch.Tensor, int, list[str]]:
    """(support_x (5*K, 1, 28, 28), support_y, K, notes). Unreadable pictures are left out (the page names
    them under the thumbnails). K is the smallest number of readable pictures in a class; extra ones beyond
    K are left out too (HyperMAML needs the same count per class) and the notes say so. A class with no
    readable picture raises ``ImageError``."""
    readable = _readable(classes, polarity, cache)
    for c, decoded in zip(classes, readable):
        if not decoded:
            raise ImageError(f"none of the images of class {c.name!r} can be read")
    shots = min(len(d) for d in readable)
    xs, ys, notes = [], [], []
    for label, (c, decoded) in enumerate(zip(classes, readable)):
        if len(decoded) < len(c.pictures):
            notes.append(f"{c.name!r}: {counted(len(c.pictures) - len(decoded), 'unreadable image')} left out")
        if len(decoded) > shots:
            notes.append(
                f"{c.name!r}: using its first {shots} of {len(decoded)} readable images (every class must give the same number)"
            )
        xs += decoded[:shots]
        ys += [label] * shots
    return torch.stack(xs), torch.tensor(ys), shots, notes


def shot_message(class_names: list[str], counts: list[int], trained_shots: int) -> str | None:
    """Why the task has the number of shots it has, when images are left out for it; None when every class
    gives the same number. ``counts``: readable pictures per class; ``trained_shots``: the models' K."""
    shots = min(counts)
    if shots == max(counts):
        return None
    fewest = [repr(n) for n, k in zip(class_names, counts) if k == shots]
    fewest_text = " and ".join(fewest) if len(fewest) <= 2 else f"{len(fewest)} of the {len(counts)} classes"
    dropped = sum(k - shots for k in counts)
    return (
        f"This is a {shots}-shot task: only the first {'image' if shots == 1 else f'{shots} images'} of each class "
        f"{'is' if shots == 1 else 'are'} "
        f"used ({counted(dropped, 'image')} left out). Every class must give the models the same number of "
        f"images, and {fewest_text} {'has' if len(fewest) == 1 else 'have'} only {shots}. The models here "
        f"were trained on {trained_shots} images per class: add images to the smaller classes (up to "
        f"{trained_shots} each) to use all of yours and to get surer predictions."
    )


def predict(models: dict[str, hm.FewShotModel], support_x, support_y, query_x, maml_steps: int) -> dict[str, torch.Tensor]:
    """Class probabilities (n_query, 5) per method."""
    out = {}
    with torch.no_grad():
        for method, model in models.items():
            kwargs = {"steps": maml_steps} if method == "maml" else {}
            if (
                method == "hypermaml"
                and model.config.hypermaml.aggregation == "concat"
                and len(support_y) != N_WAY * model.config.n_shot
            ):
                continue  # this HyperMAML only takes its trained shot count
            out[method] = model.predict_proba(query_x, model.adapt(support_x, support_y, **kwargs))
    return out


@dataclass(frozen=True)
class Familiarity:
    """How far each query lies from the support set in a model's embedding (Euclidean distances).

    ``nearest[i]``: query i's distance to its nearest support image. ``reach``: the support set's own spread,
    the largest distance from a support image to its nearest *other* support image. A query farther than that
    from every support image is ``far``: unlike anything the support set shows. Its softmax still shares 100%
    among the classes, so its predictions name the closest class, not a class it belongs to.
    """

    nearest: tuple[float, ...]
    reach: float

    @property
    def far(self) -> list[bool]:
        return [d > self.reach for d in self.nearest]


def familiarity(model: hm.FewShotModel, support_x: torch.Tensor, query_x: torch.Tensor) -> Familiarity:
    """Each query's distance to its nearest support image beside the support set's own spread (``Familiarity``),
    in ``model``'s embedding (the studio uses ProtoNet's: trained so that distances mean similarity).

    Args:
        support_x: (n_support, 1, 28, 28), at least two images.
        query_x: (n_query, 1, 28, 28); each query is embedded with the support set's statistics and itself
            only, so its distance never depends on the other queries.
    """
    if len(support_x) < 2:
        raise ValueError(f"the support set's spread needs at least 2 images, got {len(support_x)}")
    with torch.no_grad():
        support, stats = model.backbone.embed_support(support_x)
        query = model.backbone(query_x, stats=stats)
        exact = "donot_use_mm_for_euclid_dist"  # not the faster matrix product, whose rounding can reach 1e-3
        between = torch.cdist(support, support, compute_mode=exact)
        between.fill_diagonal_(float("inf"))
        nearest = torch.cdist(query, support, compute_mode=exact).min(1).values
    return Familiarity(tuple(float(d) for d in nearest), float(between.min(1).values.max()))


def accuracies(probs: dict[str, torch.Tensor], truth: list[int | None]) -> dict[str, tuple[int, int]]:
    """Per method, (right, labelled) over the queries whose true class is known: ``truth[i]`` is query i's
    class (0..n_way-1) or None (unknown, left out)."""
    labelled = [i for i, t in enumerate(truth) if t is not None]
    return {m: (sum(int(p[i].argmax()) == truth[i] for i in labelled), len(labelled)) for m, p in probs.items()}


def accuracy_note(n_labelled: int, n_way: int = N_WAY) -> str:
    """What an accuracy on a few labelled queries is worth, beside chance (a sentence from the numbers)."""
    one = 100 / n_labelled
    return (
        f"Chance: {100 / n_way:.0f}% (a guess among {n_way} classes). On "
        f"{counted(n_labelled, 'labelled query', 'labelled queries')}, each one is {one:.0f} percentage points of an accuracy"
        + (", so small differences between the methods mean little." if n_labelled < 20 else ".")
    )


def method_label(method: str, maml_steps: int) -> str:
    """A method's proper name as the page shows it: "HyperMAML", "MAML (5 steps)", "ProtoNet"."""
    name = METHOD_NAMES.get(method, method)
    if method == "maml":
        name += f" ({counted(maml_steps, 'step')})"
    return name


def results_rows(
    query_names: list[str],
    class_names: list[str],
    probs: dict[str, torch.Tensor],
    maml_steps: int = 5,
    truth: list[int | None] | None = None,
    far: list[bool] | None = None,
) -> list[dict]:
    """One row per query: its name, then per method the predicted class and its probability, under the
    methods' proper names ("HyperMAML", "HyperMAML probability", "MAML (5 steps)", ...). With ``truth``
    (query i's class or None) a "true class" column follows the name; with ``far`` (``Familiarity.far``) an
    "unlike every support image" column ends the row."""
    rows = []
    for i, name in enumerate(query_names):
        row: dict = {"query": name}
        if truth is not None:
            row["true class"] = "" if truth[i] is None else class_names[truth[i]]
        for method, p in probs.items():
            k = int(p[i].argmax())
            label = method_label(method, maml_steps)
            row[label] = class_names[k]
            row[f"{label} probability"] = round(float(p[i, k]), 4)
        if far is not None:
            row["unlike every support image"] = "yes" if far[i] else "no"
        rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def picture_from_data_url(url: str, name: str) -> Picture:
    """The page's drawing canvas sends a PNG as a data URL; ``ImageError`` for anything else."""
    prefix = "data:image/png;base64,"
    if not isinstance(url, str) or not url.startswith(prefix):
        raise ImageError(f"{name}: the drawing did not arrive as a PNG picture; draw it again")
    if len(url) > MAX_DRAWING_BYTES * 4 // 3 + len(prefix) + 4:
        raise ImageError(f"{name}: the drawing is too large")
    try:
        data = base64.b64decode(url[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"{name}: the drawing arrived damaged; draw it again") from exc
    return Picture(name, data)


def drop_removed_uploads(pictures: list[Picture], links: dict[str, str], current_ids: set[str]) -> list[str]:
    """An uploader's files that the visitor removed (its ×) leave the class or queries they were added to.

    ``links``: file id -> picture key, for the files this uploader added (updated in place); ``current_ids``:
    the ids the uploader lists now. Returns the names of the pictures removed."""
    removed = []
    for file_id in [i for i in links if i not in current_ids]:
        key = links.pop(file_id)
        if key in links.values():
            continue  # the same picture is still listed under another file of this uploader
        removed += [p.name for p in pictures if p.key == key]
        pictures[:] = [p for p in pictures if p.key != key]
    return removed
