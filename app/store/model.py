"""The store's errors, limits and the (frozen) records it returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from hypermaml.data import ImageError

QUERIES = "queries"  # add_image's target for a query image (a class is its position, 0-based)


class StoreError(Exception):
    """Anything the store refuses; the message is a plain sentence a visitor can act on (shown as text)."""


class InvalidInput(StoreError):
    """A malformed id, name, polarity or target: refused before any query runs."""


class NotFound(StoreError):
    """No task, room or image with that id (never created, deleted or expired)."""


class Forbidden(StoreError):
    """The edit token is missing or wrong: only the link's owner may change the task."""


class RoomClosed(StoreError):
    """An addition to a room that is closed, or to a saved task (which only its edit link changes)."""


class LimitError(StoreError):
    """A limit of the task or the server would be passed; the message says which, the numbers, what to do."""


class RateLimited(LimitError):
    """One visitor sent more additions in a minute than a room takes."""


class BadImage(InvalidInput, ImageError):
    """A file the studio's upload checks refuse (also an ``ImageError``, as the pages already catch)."""


class Unavailable(StoreError):
    """The database did not answer (busy for too long, unreachable)."""


@dataclass(frozen=True)
class Limits:
    """What one task and the whole server may hold, and how fast one visitor may add to a room. Defaults
    come from the environment (``Limits.from_env``): ``HYPERMAML_STUDIO_MAX_<FIELD>`` (upper case)."""

    task_images: int = 200  # images (classes and queries together) in one task or room
    task_bytes: int = 8 * 2**20  # stored PNG bytes of one task: 200 large 256-px drawings fit
    server_tasks: int = 10_000  # saved tasks and rooms on this server (one database)
    server_bytes: int = 2**30  # stored PNG bytes of all tasks together
    additions_per_minute: int = 20  # one visitor's additions to rooms (refused ones count too)

    @classmethod
    def from_env(cls, **overrides: int) -> Limits:
        values = {}
        for f in fields(cls):
            name = f"HYPERMAML_STUDIO_MAX_{f.name.upper()}"
            raw = os.environ.get(name)
            if raw is not None:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"limit {f.name} must be at least 1, got {getattr(self, f.name)}")


@dataclass(frozen=True)
class StoredImage:
    """One stored picture: ``png`` is its PNG bytes, or None where only the list was asked for (a snapshot)."""

    id: int
    name: str
    added_at: float
    png: bytes | None = None


@dataclass(frozen=True)
class SavedClass:
    name: str
    images: tuple[StoredImage, ...]


@dataclass(frozen=True)
class SavedTask:
    """A saved task or room as stored. ``version`` grows with every change; times are seconds since the epoch."""

    id: str
    kind: str  # "task" or "room"
    title: str
    polarity: str  # "auto", "keep" or "invert" (hypermaml.data.Polarity)
    is_open: bool  # a room taking additions
    classes: tuple[SavedClass, ...]
    queries: tuple[StoredImage, ...]
    version: int
    created_at: float
    updated_at: float
    expires_at: float | None

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def to_session(self):
        """(classes, queries) as the page "Your own task" keeps them: new ``TaskClass`` and ``Picture`` objects
        (a visitor changing them changes nothing stored). Names get a ``.png`` suffix: that is the data now."""
        from app.user_task import Picture, TaskClass

        def picture(image: StoredImage) -> Picture:
            stem, dot, suffix = image.name.rpartition(".")
            return Picture((stem if dot and len(suffix) <= 5 else image.name) + ".png", image.png or b"")

        classes = [TaskClass(c.name, [picture(i) for i in c.images]) for c in self.classes]
        return classes, [picture(i) for i in self.queries]


@dataclass(frozen=True)
class RoomSnapshot:
    """What a presenter's refresh needs. ``changed`` False: the room's ``version`` is the one the caller
    already has, and ``classes``/``queries`` are empty (nothing was read beyond the room's row). Images come
    without their bytes (``png`` None): they never change once stored, so a page fetches only the ids it has
    not seen (``Store.image_pngs``)."""

    id: str
    version: int
    changed: bool
    title: str
    polarity: str
    is_open: bool
    n_images: int
    classes: tuple[SavedClass, ...] = ()
    queries: tuple[StoredImage, ...] = ()
