"""``RoomsMixin``: a ``Store``'s classroom rooms: opening, closing, visitors' additions (rate limited), removal,
snapshots and image bytes (the API is described in ``app/store/__init__``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from hypermaml.data import ImageError

from .checks import (
    MAX_IMAGE_NAME,
    MAX_VISITOR,
    RATE_WINDOW_S,
    amount,
    check_class_names,
    check_id,
    clean,
    digest,
    is_row_id,
    shown,
)
from .db import classes, images, rate_limits, tasks
from .images import to_png
from .model import QUERIES, BadImage, InvalidInput, LimitError, NotFound, RateLimited, RoomClosed, RoomSnapshot


class RoomsMixin:
    """The room methods of ``Store`` (``core.Store`` inherits them); they use its ``_read``, ``_write``, ``_row``,
    ``_check_token``, ``_create``, ``_group``, ``_take_server_space``, ``_insert``, ``limits`` and ``clock``."""

    def open_room(
        self, class_names: Sequence[str], polarity: str = "auto", title: str = "", expires_in_days=None
    ) -> tuple[str, str]:
        """A new room taking additions into these (distinct) classes; returns (room id, edit token)."""
        return self._create("room", check_class_names(class_names, distinct=True), [], polarity, title, expires_in_days)

    def close_room(self, room_id: str, token: str) -> None:
        self._set_open(room_id, token, False)

    def reopen_room(self, room_id: str, token: str) -> None:
        self._set_open(room_id, token, True)

    def _set_open(self, room_id: str, token: str, is_open: bool) -> None:
        with self._write() as conn:
            row = self._row(conn, room_id, lock=True)
            self._check_token(row, token)
            if row.kind != "room":
                raise InvalidInput("This is a saved task, not a room: it has nothing to open or close.")
            conn.execute(
                tasks.update()
                .where(tasks.c.pk == row.pk)
                .values(is_open=is_open, version=row.version + 1, updated_at=self.clock())
            )

    def add_image(self, room_id: str, target: int | str, data: bytes, visitor_id: str, name: str = "image") -> int:
        """Store one visitor's image in an open room at once: ``target`` is a class position (0-based) or
        ``QUERIES``. The file is decoded, checked and re-encoded first; at most ``additions_per_minute`` per
        visitor (``visitor_id``: the visitor's session, stored only hashed). Returns the image's id."""
        check_id(room_id)
        if not (target == QUERIES or is_row_id(target)):
            raise InvalidInput(f"an image goes into a class (0, 1, ...) or {QUERIES!r}, not {shown(target)}")
        visitor = digest(clean(visitor_id, "the visitor id", MAX_VISITOR))
        name = clean(name, "the image's name", MAX_IMAGE_NAME, truncate=True, empty="image")
        with self._read() as conn:
            row = self._row(conn, room_id)
            n_classes = conn.scalar(sa.select(sa.func.count()).where(classes.c.task_pk == row.pk))
        self._refuse_unless_open(row)
        if target != QUERIES and target >= n_classes:
            raise InvalidInput(f"this room has {n_classes} classes (0 to {n_classes - 1}); there is no class {target}")
        self._count_addition(visitor)
        try:
            png = to_png(data, name)
        except ImageError as exc:
            raise BadImage(f"{exc}. It was not added.") from None
        now = self.clock()
        with self._write() as conn:
            grown = conn.execute(
                tasks.update()
                .where(
                    tasks.c.pk == row.pk,
                    tasks.c.kind == "room",
                    tasks.c.is_open,
                    tasks.c.n_images < self.limits.task_images,
                    tasks.c.n_bytes + len(png) <= self.limits.task_bytes,
                )
                .values(
                    n_images=tasks.c.n_images + 1,
                    n_bytes=tasks.c.n_bytes + len(png),
                    version=tasks.c.version + 1,
                    updated_at=now,
                )
                .returning(tasks.c.pk)
            ).one_or_none()
            if grown is None:
                self._explain_refusal(conn, room_id, name, len(png))
            image_id = conn.execute(
                images.insert()
                .values(
                    task_pk=row.pk,
                    class_position=None if target == QUERIES else target,
                    name=name,
                    png=png,
                    size=len(png),
                    added_at=now,
                    adder_hash=visitor,
                )
                .returning(images.c.id)
            ).scalar_one()
            self._take_server_space(conn, 0, len(png))
        return image_id

    @staticmethod
    def _refuse_unless_open(row) -> None:
        if row.kind != "room":
            raise RoomClosed(
                "This is a saved task, not a room: only its edit link changes it. Your own queries stay on your page."
            )
        if not row.is_open:
            raise RoomClosed("This room is closed: it takes no more images. Ask the teacher to open it again.")

    def _explain_refusal(self, conn, room_id: str, name: str, size: int):
        row = self._row(conn, room_id)
        self._refuse_unless_open(row)
        if row.n_images >= self.limits.task_images:
            raise LimitError(
                f"This room already holds {row.n_images} images, the most one room may hold on this server "
                f"({self.limits.task_images}). The teacher can remove some, or open a new room."
            )
        raise LimitError(
            f"Adding {name} ({amount(size)}) would bring this room to {amount(row.n_bytes + size)}, over the "
            f"{amount(self.limits.task_bytes)} one room may hold on this server. The teacher can remove some images, or open a new room."
        )

    def _count_addition(self, visitor: str) -> None:
        """One more addition by this visitor in its current minute (atomically, in one statement);
        ``RateLimited`` past the limit. Refused additions count too: decoding is the server's work."""
        now = self.clock()
        stale = rate_limits.c.window_start <= now - RATE_WINDOW_S
        upsert = (
            self._insert(rate_limits)
            .values(visitor_hash=visitor, window_start=now, count=1)
            .on_conflict_do_update(
                index_elements=[rate_limits.c.visitor_hash],
                set_={
                    "count": sa.case((stale, 1), else_=rate_limits.c.count + 1),
                    "window_start": sa.case((stale, now), else_=rate_limits.c.window_start),
                },
            )
            .returning(rate_limits.c.count, rate_limits.c.window_start)
        )
        with self._write() as conn:
            count, start = conn.execute(upsert).one()
        limit = self.limits.additions_per_minute
        if count > limit:
            wait = max(1, math.ceil(start + RATE_WINDOW_S - now))
            raise RateLimited(
                f"You have added {limit} images in the last minute, the most one person may. Wait {wait} s and add it again."
            )

    def remove_image(self, task_id: str, token: str, image_id: int) -> None:
        """Remove one image from a room (or a saved task); only with its edit token."""
        if not is_row_id(image_id):
            raise InvalidInput(f"an image id is a whole number, not {shown(image_id)}")
        with self._write() as conn:
            row = self._row(conn, task_id, lock=True)
            self._check_token(row, token)
            size = conn.execute(
                images.delete().where(images.c.id == image_id, images.c.task_pk == row.pk).returning(images.c.size)
            ).scalar_one_or_none()
            if size is None:
                raise NotFound(f"Image {image_id} is not in this task (it may have been removed already).")
            conn.execute(
                tasks.update()
                .where(tasks.c.pk == row.pk)
                .values(n_images=row.n_images - 1, n_bytes=row.n_bytes - size, version=row.version + 1, updated_at=self.clock())
            )
            self._take_server_space(conn, 0, -size)

    def room_snapshot(self, room_id: str, since_version: int | None = None) -> RoomSnapshot:
        """A room (or task) as a presenter shows it, without image bytes; one small query when its version is
        still ``since_version``."""
        with self._read() as conn:
            row = self._row(conn, room_id)
            head = dict(id=room_id, version=row.version, title=row.title, polarity=row.polarity, is_open=row.is_open)
            head["n_images"] = row.n_images
            if since_version == row.version:
                return RoomSnapshot(changed=False, **head)
            names = list(
                conn.execute(sa.select(classes.c.name).where(classes.c.task_pk == row.pk).order_by(classes.c.position)).scalars()
            )
            listed = conn.execute(
                sa.select(images.c.id, images.c.class_position, images.c.name, images.c.added_at)
                .where(images.c.task_pk == row.pk)
                .order_by(images.c.id)
            ).all()
        saved_classes, queries = self._group(names, listed)
        return RoomSnapshot(changed=True, classes=saved_classes, queries=queries, **head)

    def image_pngs(self, task_id: str, image_ids: Iterable[int]) -> dict[int, bytes]:
        """PNG bytes of these images of this task (ids of other tasks are left out); at most ``task_images``."""
        wanted = list(image_ids)
        if len(wanted) > self.limits.task_images or not all(map(is_row_id, wanted)):
            raise InvalidInput(f"ask for at most {self.limits.task_images} images, by their whole-number ids")
        with self._read() as conn:
            row = self._row(conn, task_id)
            if not wanted:
                return {}
            found = conn.execute(
                sa.select(images.c.id, images.c.png).where(images.c.task_pk == row.pk, images.c.id.in_(wanted))
            ).all()
        return {r.id: r.png for r in found}
