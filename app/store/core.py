"""``Store``: saved tasks and classroom rooms over SQLAlchemy Core (the API is described in ``app/store/__init__``)."""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hypermaml.data import ImageError

from . import db
from .checks import (
    DAY_S,
    MAX_IMAGE_NAME,
    MAX_TITLE,
    RATE_WINDOW_S,
    TOKEN_RE,
    amount,
    check_class_names,
    check_id,
    check_polarity,
    clean,
    digest,
    shown,
)
from .db import classes, images, rate_limits, tasks, usage
from .images import to_png
from .model import (
    BadImage,
    Forbidden,
    InvalidInput,
    LimitError,
    Limits,
    NotFound,
    SavedClass,
    SavedTask,
    StoredImage,
    StoreError,
    Unavailable,
)
from .rooms import RoomsMixin


class Store(RoomsMixin):
    """Saved tasks and rooms in one database. Thread-safe: one instance serves every visitor of a process.

    Args:
        engine: from ``db.make_engine`` (SQLite with its pragmas, or PostgreSQL); the schema is migrated here.
        limits: what a task and the server may hold; ``Limits.from_env()`` when None.
        clock: seconds since the epoch (tests move it to check expiry and the rate limit).
    """

    def __init__(self, engine: sa.Engine, limits: Limits | None = None, clock=time.time) -> None:
        self.engine = engine
        self.limits = limits or Limits.from_env()
        self.clock = clock
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert
        # SQLite has one writer at a time: this process's writers queue here, in order, rather than in
        # SQLite's busy handler (which sleeps and retries); other processes still meet busy_timeout.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        with self._errors():
            try:
                db.migrate(engine)
            except db.NewerSchema as exc:
                raise StoreError(str(exc)) from None

    @classmethod
    def from_url(cls, url: str, **kwargs) -> Store:
        return cls(db.make_engine(url), **kwargs)

    @classmethod
    def from_env(cls, **kwargs) -> Store:
        """``$HYPERMAML_STUDIO_DB``, else SQLite under ``$HYPERMAML_STUDIO_DIR`` or the per-user data folder."""
        return cls.from_url(db.url_from_env(), **kwargs)

    def close(self) -> None:
        self.engine.dispose()

    # ---- transactions ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self):
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            raise Unavailable(f"The studio's database did not answer ({reason}). Try again in a moment.") from exc

    @contextlib.contextmanager
    def _read(self):
        with self._errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _write(self):
        with self._errors(), self._write_lock, self.engine.connect().execution_options(**db.WRITE) as conn, conn.begin():
            yield conn

    def _row(self, conn, task_id: str, *, lock: bool = False):
        query = sa.select(tasks).where(tasks.c.id_hash == digest(check_id(task_id)))
        row = conn.execute(query.with_for_update() if lock else query).one_or_none()
        if row is None:
            raise NotFound(
                f"There is no saved task or room with the id {task_id}: it was deleted, or expired, or the link is mistyped."
            )
        return row

    @staticmethod
    def _check_token(row, token) -> None:
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            raise Forbidden("This is not an edit link: only the edit link given when the task was saved can change it.")
        if not hmac.compare_digest(row.token_hash, digest(token)):
            raise Forbidden("The edit token does not match this task: only its edit link can change it.")

    # ---- content in, content out -----------------------------------------------------------------------

    def _encode(self, task_classes: Sequence, queries: Sequence) -> tuple[list[str], list[tuple]]:
        """(class names, [(class position or None, name, png)]) from the page's TaskClass and Picture objects
        (anything with ``.name`` and ``.pictures``, and ``.name`` and ``.data``). Checked against the task
        limits before any decoding."""
        names = check_class_names(c.name for c in task_classes)
        groups = [(i, c.pictures) for i, c in enumerate(task_classes)] + [(None, queries)]
        n_images = sum(len(pictures) for _, pictures in groups)
        if n_images > self.limits.task_images:
            raise LimitError(
                f"The task has {n_images} images; one task may hold at most {self.limits.task_images} on this server. "
                f"Remove {n_images - self.limits.task_images} and save again."
            )
        encoded = []
        for position, pictures in groups:
            where = "the queries" if position is None else f"class {names[position]!r}"
            for picture in pictures:
                name = clean(getattr(picture, "name", ""), "an image's name", MAX_IMAGE_NAME, truncate=True, empty="image")
                try:
                    encoded.append((position, name, to_png(picture.data, name)))
                except ImageError as exc:
                    raise BadImage(f"In {where}: {exc}. Remove it and save again.") from None
        total = sum(len(png) for *_, png in encoded)
        if total > self.limits.task_bytes:
            raise LimitError(
                f"The task's images take {amount(total)} as stored, more than the {amount(self.limits.task_bytes)} one task "
                "may hold on this server. Remove some images and save again."
            )
        return names, encoded

    def _take_server_space(self, conn, new_tasks: int, new_bytes: int) -> None:
        """Count a change against the server limits, atomically (the one ``usage`` row is updated only when
        the result fits, and stays locked until commit); ``LimitError`` when it does not fit."""
        fits = sa.and_(
            sa.or_(usage.c.tasks + new_tasks <= self.limits.server_tasks, new_tasks <= 0),
            sa.or_(usage.c.bytes + new_bytes <= self.limits.server_bytes, new_bytes <= 0),
        )
        changed = conn.execute(
            usage.update()
            .where(usage.c.id == 1, fits)
            .values(tasks=usage.c.tasks + new_tasks, bytes=usage.c.bytes + new_bytes)
            .returning(usage.c.id)
        ).one_or_none()
        if changed is not None:
            return
        held = conn.execute(sa.select(usage.c.tasks, usage.c.bytes)).one()
        if new_tasks > 0 and held.tasks + new_tasks > self.limits.server_tasks:
            what, env = (
                f"already keeps {held.tasks} saved tasks and rooms, the most it may keep ({self.limits.server_tasks})",
                "TASKS",
            )
        else:
            what = f"holds {amount(held.bytes)} of images; {amount(new_bytes)} more would pass its limit of {amount(self.limits.server_bytes)}"
            env = "BYTES"
        raise LimitError(
            f"This studio {what}. Ask whoever runs it to remove old tasks (python -m app.store expire --days N) or to "
            f"raise HYPERMAML_STUDIO_MAX_SERVER_{env}."
        )

    def _insert_content(self, conn, task_pk: int, names: list[str], encoded: list[tuple], now: float) -> None:
        conn.execute(classes.insert(), [{"task_pk": task_pk, "position": i, "name": n} for i, n in enumerate(names)])
        if encoded:
            rows = [
                {"task_pk": task_pk, "class_position": p, "name": n, "png": png, "size": len(png), "added_at": now}
                for p, n, png in encoded
            ]
            conn.execute(images.insert(), rows)

    def _create(self, kind: str, names: list[str], encoded: list[tuple], polarity, title, expires_in_days) -> tuple[str, str]:
        polarity = check_polarity(polarity)
        title = clean(title, "the title", MAX_TITLE, empty="")
        now = self.clock()
        expires_at = None
        if expires_in_days is not None:
            if not isinstance(expires_in_days, int | float) or not 0 < expires_in_days < 100_000:
                raise InvalidInput(f"a task expires in more than 0 and fewer than 100,000 days, not {shown(expires_in_days)}")
            expires_at = now + expires_in_days * DAY_S
        task_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
        n_bytes = sum(len(png) for *_, png in encoded)
        with self._write() as conn:
            self._take_server_space(conn, 1, n_bytes)
            task_pk = conn.execute(
                tasks.insert()
                .values(
                    id_hash=digest(task_id),
                    token_hash=digest(token),
                    kind=kind,
                    title=title,
                    polarity=polarity,
                    is_open=kind == "room",
                    version=1,
                    n_images=len(encoded),
                    n_bytes=n_bytes,
                    created_at=now,
                    updated_at=now,
                    expires_at=expires_at,
                )
                .returning(tasks.c.pk)
            ).scalar_one()
            self._insert_content(conn, task_pk, names, encoded, now)
        return task_id, token

    # ---- saved tasks ----------------------------------------------------------------------------------------

    def save_task(
        self, task_classes: Sequence, queries: Sequence = (), polarity: str = "auto", title: str = "", expires_in_days=None
    ) -> tuple[str, str]:
        """Save the page's task (``TaskClass`` list, ``Picture`` list); returns (task id, edit token)."""
        names, encoded = self._encode(task_classes, queries)
        return self._create("task", names, encoded, polarity, title, expires_in_days)

    def load_task(self, task_id: str) -> SavedTask:
        """The saved task or room with every image's PNG bytes, classes in their order, images in the order added."""
        with self._read() as conn:
            row = self._row(conn, task_id)
            names = conn.execute(
                sa.select(classes.c.name).where(classes.c.task_pk == row.pk).order_by(classes.c.position)
            ).scalars()
            names = list(names)
            stored = conn.execute(
                sa.select(images.c.id, images.c.class_position, images.c.name, images.c.added_at, images.c.png)
                .where(images.c.task_pk == row.pk)
                .order_by(images.c.id)
            ).all()
        return self._saved(task_id, row, names, stored)

    @staticmethod
    def _group(names: list[str], stored) -> tuple[tuple[SavedClass, ...], tuple[StoredImage, ...]]:
        per_class: list[list[StoredImage]] = [[] for _ in names]
        queries: list[StoredImage] = []
        for r in stored:
            image = StoredImage(r.id, r.name, r.added_at, getattr(r, "png", None))
            (queries if r.class_position is None else per_class[r.class_position]).append(image)
        return tuple(SavedClass(n, tuple(i)) for n, i in zip(names, per_class)), tuple(queries)

    def _saved(self, task_id: str, row, names: list[str], stored) -> SavedTask:
        saved_classes, queries = self._group(names, stored)
        return SavedTask(
            task_id, row.kind, row.title, row.polarity, row.is_open, saved_classes, queries,
            row.version, row.created_at, row.updated_at, row.expires_at,
        )  # fmt: skip

    def update_task(
        self, task_id: str, token: str, task_classes: Sequence, queries: Sequence = (), polarity=None, title=None
    ) -> int:
        """Replace a task's classes, images and queries (and its polarity and title, unless None) with the
        given ones; only with its edit token. Returns the new version."""
        check_id(task_id)
        names, encoded = self._encode(task_classes, queries)
        n_bytes = sum(len(png) for *_, png in encoded)
        now = self.clock()
        with self._write() as conn:
            row = self._row(conn, task_id, lock=True)
            self._check_token(row, token)
            values = {"polarity": row.polarity if polarity is None else check_polarity(polarity)}
            values["title"] = row.title if title is None else clean(title, "the title", MAX_TITLE, empty="")
            conn.execute(images.delete().where(images.c.task_pk == row.pk))
            conn.execute(classes.delete().where(classes.c.task_pk == row.pk))
            self._insert_content(conn, row.pk, names, encoded, now)
            conn.execute(
                tasks.update()
                .where(tasks.c.pk == row.pk)
                .values(n_images=len(encoded), n_bytes=n_bytes, version=row.version + 1, updated_at=now, **values)
            )
            self._take_server_space(conn, 0, n_bytes - row.n_bytes)
        return row.version + 1

    def check_edit_token(self, task_id: str, token) -> bool:
        """Whether ``token`` is the edit token of the task or room ``task_id``; changes nothing. Compared in
        constant time (``hmac.compare_digest`` of the digests); a token of the wrong shape is False without a
        query. ``InvalidInput`` for a malformed id and ``NotFound`` for an unknown one, as everywhere."""
        check_id(task_id)
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            return False
        with self._read() as conn:
            row = self._row(conn, task_id)
        return hmac.compare_digest(row.token_hash, digest(token))

    def delete_task(self, task_id: str, token: str) -> None:
        """Delete a task or room with everything in it; only with its edit token."""
        with self._write() as conn:
            row = self._row(conn, task_id, lock=True)
            self._check_token(row, token)
            conn.execute(tasks.delete().where(tasks.c.pk == row.pk))  # its classes and images go with it (cascade)
            self._take_server_space(conn, -1, -row.n_bytes)

    # ---- the server ----------------------------------------------------------------------------------------

    def expire(self, older_than_days: float | None = None, dry_run: bool = False) -> int:
        """Delete tasks and rooms past their own expiry, and (``older_than_days``) those unchanged for that many
        days; returns how many (``dry_run``: only counts). Also recounts the server's usage and forgets
        finished rate-limit minutes."""
        now = self.clock()
        old = tasks.c.expires_at <= now
        if older_than_days is not None:
            if not older_than_days > 0:
                raise InvalidInput(f"--days must be more than 0, not {older_than_days}")
            old = sa.or_(old, tasks.c.updated_at < now - float(older_than_days) * DAY_S)
        if dry_run:
            with self._read() as conn:
                return conn.scalar(sa.select(sa.func.count()).select_from(tasks).where(old))
        with self._write() as conn:
            removed = conn.execute(tasks.delete().where(old)).rowcount
            conn.execute(rate_limits.delete().where(rate_limits.c.window_start <= now - RATE_WINDOW_S))
            conn.execute(sa.select(usage.c.id).where(usage.c.id == 1).with_for_update())
            counted = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(tasks.c.n_bytes), 0))).one()
            conn.execute(usage.update().where(usage.c.id == 1).values(tasks=counted[0], bytes=counted[1]))
        return removed

    def usage(self) -> dict[str, int]:
        """The server's saved tasks and rooms, and their stored bytes, beside the limits."""
        with self._read() as conn:
            held = conn.execute(sa.select(usage.c.tasks, usage.c.bytes)).one()
        return {
            "tasks": held.tasks,
            "bytes": held.bytes,
            "max_tasks": self.limits.server_tasks,
            "max_bytes": self.limits.server_bytes,
        }
