"""A visitor's own 5-way task (the logic behind the page "Your own task", ``app/views/own_task.py``), kept out
of the page so it can be tested without a browser.

Raw bytes are what the session keeps, so changing the polarity setting re-decodes everything and nothing the
user gave is lost. Everything a visitor gives lives in that visitor's session (released when it ends): the
raw bytes, bounded by ``MAX_UPLOAD_BYTES``, and a decode cache bounded in bytes. Nothing is shared between
visitors or kept in process-wide caches.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

import hypermaml as hm
from hypermaml.data import ImageError, image_from_bytes

N_WAY = 5
MAX_UPLOAD_BYTES = 64 * 2**20  # raw image bytes one visitor may hold (a lecture hall shares one server)
DECODE_CACHE_BYTES = 8 * 2**20  # decoded 28x28 tensors kept per visitor (about 2,700 pictures)


@dataclass
class Picture:
    """One user image: its name and original bytes."""

    name: str
    data: bytes
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.key = hashlib.sha1(self.data).hexdigest()


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
        self._items: OrderedDict[tuple[str, str], torch.Tensor | ImageError] = OrderedDict()

    def get(self, picture: Picture, polarity: str) -> torch.Tensor:
        key = (picture.key, polarity)
        if key in self._items:
            self._items.move_to_end(key)
            value = self._items[key]
        else:
            try:
                value = image_from_bytes(picture.data, picture.name, polarity)  # type: ignore[arg-type]
            except ImageError as exc:
                value = exc
            self._items[key] = value
            self.bytes += _size(value)
            while self.bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self.bytes -= _size(old)
        if isinstance(value, ImageError):
            raise ImageError(str(value))
        return value.clone()

    def __len__(self) -> int:
        return len(self._items)


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


def problems(classes: list[TaskClass]) -> list[str]:
    """Everything that stops the task from running, as sentences a user can act on (empty: ready)."""
    found = []
    names = [c.name.strip() for c in classes]
    if any(not n for n in names):
        found.append("every class needs a name")
    lowered = [n.lower() for n in names if n]
    duplicates = sorted({n for n in lowered if lowered.count(n) > 1})
    if duplicates:
        found.append(f"class names must differ; {', '.join(repr(d) for d in duplicates)} is used twice")
    empty = [c.name or f"class {i + 1}" for i, c in enumerate(classes) if not c.pictures]
    if empty:
        found.append(
            f"{len(empty)} class(es) have no images yet: {', '.join(repr(e) for e in empty)} "
            f"(a 5-way task needs at least 1 image in each of the 5 classes)"
        )
    return found


def support_set(
    classes: list[TaskClass], polarity: str, cache: DecodeCache | None = None
) -> tuple[torch.Tensor, torch.Tensor, int, list[str]]:
    """(support_x (5*K, 1, 28, 28), support_y, K, notes). Unreadable pictures are left out (the page names
    them under the thumbnails). K is the smallest number of readable pictures in a class; extra ones beyond
    K are left out too (HyperMAML needs the same count per class) and the notes say so. A class with no
    readable picture raises ``ImageError``."""
    readable: list[list[torch.Tensor]] = []
    for c in classes:
        decoded = []
        for p in c.pictures:
            try:
                decoded.append(decode(p, polarity, cache))
            except ImageError:
                pass
        if not decoded:
            raise ImageError(f"none of the images of class {c.name!r} can be read")
        readable.append(decoded)
    shots = min(len(d) for d in readable)
    xs, ys, notes = [], [], []
    for label, (c, decoded) in enumerate(zip(classes, readable)):
        if len(decoded) < len(c.pictures):
            notes.append(f"{c.name!r}: {len(c.pictures) - len(decoded)} unreadable image(s) left out")
        if len(decoded) > shots:
            notes.append(
                f"{c.name!r}: using its first {shots} of {len(decoded)} readable images (every class must give the same number)"
            )
        xs += decoded[:shots]
        ys += [label] * shots
    return torch.stack(xs), torch.tensor(ys), shots, notes


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


def results_rows(query_names: list[str], class_names: list[str], probs: dict[str, torch.Tensor]) -> list[dict]:
    rows = []
    for i, name in enumerate(query_names):
        row: dict = {"query": name}
        for method, p in probs.items():
            k = int(p[i].argmax())
            row[f"{method} prediction"] = class_names[k]
            row[f"{method} probability"] = round(float(p[i, k]), 4)
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


def classes_from_zip(data: bytes) -> list[TaskClass]:
    """A zip with one folder per class -> TaskClasses (exactly 5 folders needed); keeps the raw bytes."""
    from hypermaml.data import read_image_zip

    per_class = read_image_zip(data)
    if len(per_class) != N_WAY:
        raise ImageError(f"the zip has {len(per_class)} class folders ({', '.join(per_class)}); a 5-way task needs exactly 5")
    classes = []
    for name, files in per_class.items():
        c = TaskClass(name)
        for file_name, blob in files:
            c.add(Picture(file_name.rsplit("/", 1)[-1], blob))
        classes.append(c)
    return classes
