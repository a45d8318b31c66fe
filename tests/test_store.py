"""The store of saved tasks and rooms (app/store), against SQLite always and a real PostgreSQL when one can be had.

PostgreSQL: ``$HYPERMAML_TEST_POSTGRES_URL`` (a SQLAlchemy URL of a database the tests may create schemas in),
else a throwaway cluster started from Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``) on a
unix socket in a temporary folder. Neither: the PostgreSQL half is skipped, saying why, unless ``$CI`` is set,
where it fails (CI installs the package, so the half must run there)."""

from __future__ import annotations

import ast
import glob
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from app.store import (
    QUERIES,
    BadImage,
    Forbidden,
    InvalidInput,
    LimitError,
    Limits,
    NotFound,
    RateLimited,
    RoomClosed,
    Store,
    StoreError,
    db,
)
from app.store.__main__ import main as store_command
from app.user_task import Picture, TaskClass
from hypermaml.data import ImageError, image_from_bytes

ROOT = Path(__file__).resolve().parents[1]
ROOMY = Limits(task_images=10_000, task_bytes=2**30, server_tasks=10_000, server_bytes=2**32, additions_per_minute=10**6)


def png(seed: int, size: tuple[int, int] = (40, 40), mode: str = "L") -> bytes:
    """A dark stroke on light paper, different for every seed."""
    rng = np.random.default_rng(seed)
    arr = np.full(size[::-1], 255, np.uint8)
    r, c = rng.integers(2, min(size) - 10, 2)
    arr[r : r + 8, c : c + 3] = 0
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"))


def own_task(shots: int = 2, n_queries: int = 1) -> tuple[list[TaskClass], list[Picture]]:
    classes = [TaskClass(f"class {i}", [Picture(f"{i}-{j}.png", png(10 * i + j)) for j in range(shots)]) for i in range(5)]
    return classes, [Picture(f"q{j}.png", png(1000 + j)) for j in range(n_queries)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


# ---- the databases -----------------------------------------------------------------------------------------


def _start_cluster(folder: str) -> tuple[str | None, str, list[str]]:
    """(URL, why not, the command prefix to run as the cluster's owner) of a new cluster in ``folder``."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        return None, "no /usr/lib/postgresql/*/bin/initdb", []
    bin_dir = Path(binaries[-1]).parent
    as_owner: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the package's own user runs it
        if shutil.which("runuser") is None:
            return None, "running as root and runuser is missing", []
        shutil.chown(folder, user="postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data = f"{folder}/data"
    steps = [
        [str(bin_dir / "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
        [str(bin_dir / "pg_ctl"), "-D", data, "-l", f"{folder}/log", "-w", "-t", "30", "start", "-o", f"-k {folder} -c listen_addresses='' -F"],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(as_owner + step, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return None, f"{Path(step[0]).name} failed: {(done.stderr or done.stdout).strip()[-300:]}", as_owner
    return f"postgresql+psycopg://postgres@/postgres?host={folder}", "", as_owner


@pytest.fixture(scope="session")
def postgres_url():
    url = os.environ.get("HYPERMAML_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="pg")  # short: a unix socket's path has at most 107 bytes
    try:
        url, why, as_owner = _start_cluster(folder)
    except (OSError, subprocess.SubprocessError, LookupError) as exc:
        url, why, as_owner = None, str(exc), []
    try:
        if url is None:
            message = (
                f"no PostgreSQL for the store's tests ({why}): install Debian's postgresql or set HYPERMAML_TEST_POSTGRES_URL"
            )
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        yield url
    finally:
        if url is not None:
            pg_ctl = str(Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]))
            subprocess.run(as_owner + [pg_ctl, "-D", f"{folder}/data", "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studio.sqlite3'}"
        return
    base = sa.make_url(request.getfixturevalue("postgres_url"))
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def make_store(db_url):
    made: list[Store] = []

    def make(limits: Limits = ROOMY, clock=None) -> Store:
        store = Store.from_url(db_url, limits=limits, **({"clock": clock} if clock else {}))
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store) -> Store:
    return make_store()


# ---- saved tasks -------------------------------------------------------------------------------------------


def test_a_saved_task_comes_back_as_it_was_saved(store):
    classes, queries = own_task(shots=2, n_queries=2)
    classes[2].name = "naïve ✓ <b>bold</b>"
    task_id, token = store.save_task(classes, queries, polarity="invert", title="My letters")
    assert len(task_id) == 22 and len(token) == 32 and task_id != token
    saved = store.load_task(task_id)
    assert (saved.id, saved.kind, saved.title, saved.polarity, saved.is_open) == (task_id, "task", "My letters", "invert", False)
    assert saved.class_names == [c.name for c in classes]  # in their order, names exactly as given
    for c, s in zip(classes, saved.classes):
        assert [i.name for i in s.images] == [p.name for p in c.pictures]
        for picture, image in zip(c.pictures, s.images):  # the same pixels, as a grey PNG
            assert image.png.startswith(b"\x89PNG") and np.array_equal(pixels(image.png), pixels(picture.data))
    assert [q.name for q in saved.queries] == ["q0.png", "q1.png"]
    session_classes, session_queries = saved.to_session()
    assert [c.name for c in session_classes] == saved.class_names and len(session_queries) == 2
    for c, s in zip(classes, session_classes):  # what the models see is what they saw before saving
        for before, after in zip(c.pictures, s.pictures):
            assert np.allclose(image_from_bytes(before.data, polarity="invert"), image_from_bytes(after.data, polarity="invert"))


def test_the_read_only_link_cannot_change_the_task(store):
    classes, queries = own_task()
    task_id, token = store.save_task(classes, queries)
    other_id, other_token = store.save_task(*own_task(shots=1))
    before = store.load_task(task_id)
    image_id = before.classes[0].images[0].id
    for wrong in (None, "", "x" * 32, other_token, token[:-1] + ("A" if token[-1] != "A" else "B")):
        with pytest.raises(Forbidden):
            store.update_task(task_id, wrong, *own_task(shots=1))
        with pytest.raises(Forbidden):
            store.delete_task(task_id, wrong)
        with pytest.raises(Forbidden):
            store.remove_image(task_id, wrong, image_id)
    with pytest.raises(RoomClosed, match="saved task, not a room"):
        store.add_image(task_id, 0, png(5), "visitor")
    with pytest.raises(NotFound):  # another task's image, even with that task's token
        store.remove_image(other_id, other_token, image_id)
    with pytest.raises(AttributeError):
        before.title = "changed"  # frozen: a visitor's page cannot change what it loaded
    session_classes, _ = before.to_session()
    session_classes[0].pictures.clear()  # a visitor's own changes stay on the page
    assert store.load_task(task_id) == before


def test_the_edit_token_changes_and_deletes_the_task(store):
    task_id, token = store.save_task(*own_task(shots=1), title="first")
    classes, queries = own_task(shots=3, n_queries=0)
    assert store.update_task(task_id, token, classes, queries, polarity="keep") == 2
    saved = store.load_task(task_id)
    assert saved.title == "first" and saved.polarity == "keep" and saved.version == 2
    assert [len(c.images) for c in saved.classes] == [3] * 5 and saved.queries == ()
    first = saved.classes[0].images[0].id
    store.remove_image(task_id, token, first)
    assert [len(c.images) for c in store.load_task(task_id).classes] == [2, 3, 3, 3, 3]
    store.delete_task(task_id, token)
    with pytest.raises(NotFound, match="deleted, or expired"):
        store.load_task(task_id)
    assert store.usage()["tasks"] == 0 and store.usage()["bytes"] == 0


def test_check_edit_token_says_whether_a_token_is_the_tasks_and_changes_nothing(store):
    task_id, token = store.save_task(*own_task(shots=1), title="mine")
    other_id, other_token = store.save_task(*own_task(shots=1))
    room_id, room_token = store.open_room(["a", "b"])
    before = store.load_task(task_id), store.room_snapshot(room_id)
    assert store.check_edit_token(task_id, token) and store.check_edit_token(room_id, room_token)
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    for wrong in (None, "", 42, "x" * 32, token[:-1], token + "A", near, other_token, room_token, " " + token[1:]):
        assert store.check_edit_token(task_id, wrong) is False, wrong
    assert (store.load_task(task_id), store.room_snapshot(room_id)) == before  # asking changes no version
    with pytest.raises(InvalidInput, match="not a task or room id"):
        store.check_edit_token("../../etc", token)
    store.delete_task(other_id, other_token)
    with pytest.raises(NotFound):
        store.check_edit_token(other_id, other_token)


def test_check_edit_token_compares_in_constant_time():
    import inspect

    from app.store.core import Store as StoreClass

    source = inspect.getsource(StoreClass.check_edit_token)
    assert "hmac.compare_digest" in source and "==" not in source


def test_expiry_removes_old_and_expired_tasks_and_keeps_the_others(make_store, db_url, capsys):
    clock = Clock()
    store = make_store(clock=clock)
    old, _ = store.save_task(*own_task(shots=1))
    room, room_token = store.open_room(["a", "b"])
    short, _ = store.save_task(*own_task(shots=1), expires_in_days=1)
    clock.now += 10 * 86_400
    fresh, _ = store.save_task(*own_task(shots=1))
    store.add_image(room, 0, png(1), "visitor")  # a room in use is not old
    assert store.expire(dry_run=True) == 1  # only the one past its own expiry
    assert store.expire(older_than_days=5, dry_run=True) == 2
    assert store.expire(older_than_days=5) == 2
    for gone in (old, short):
        with pytest.raises(NotFound):
            store.load_task(gone)
    assert store.load_task(fresh) and store.room_snapshot(room).n_images == 1
    assert store.usage()["tasks"] == 2
    with pytest.raises(InvalidInput):
        store.expire(older_than_days=0)
    # the documented command (in-process: the clock is real there, so nothing is 1000 days old yet)
    assert store_command(["--db", db_url, "expire", "--days", "1000"]) == 0
    assert "removed 0 " in capsys.readouterr().out
    assert store_command(["--db", db_url, "expire", "--days", "-1"]) == 1
    assert "error: --days must be more than 0" in capsys.readouterr().err
    assert store_command(["--db", db_url, "usage"]) == 0 and "2 of 10000 tasks" in capsys.readouterr().out


def test_limits_are_refused_with_the_numbers_and_what_to_do(store):
    clock = Clock()

    def limited(**limits) -> Store:  # the same database, other limits
        return Store(store.engine, Limits(**{**vars(ROOMY), **limits}), clock)

    with pytest.raises(LimitError, match=r"The task has 11 images; one task may hold at most 6 on this server. Remove 5"):
        limited(task_images=6).save_task(*own_task(shots=2))
    big = [TaskClass("a", [Picture("big.png", png(1, size=(256, 256)))])]
    with pytest.raises(
        LimitError, match=r"The task's images take \d+ (bytes|kB) as stored, more than the 100 bytes one task may hold"
    ):
        limited(task_bytes=100).save_task(big)
    store.save_task(*own_task(shots=1, n_queries=0))
    held = store.usage()["bytes"]
    with pytest.raises(
        LimitError,
        match=r"holds \d+ (bytes|kB) of images; \d+ (bytes|kB) more would pass its limit .* HYPERMAML_STUDIO_MAX_SERVER_BYTES",
    ):
        limited(server_bytes=held + 100).save_task(*own_task(shots=1, n_queries=1))
    room, token = store.open_room(["a", "b"])
    with pytest.raises(LimitError, match=r"already keeps 2 saved tasks and rooms, the most it may keep \(2\).*expire --days N"):
        limited(server_tasks=2).open_room(["d"])
    rated = limited(additions_per_minute=3)
    for i in range(3):
        rated.add_image(room, 0, png(100 + i), "student")
    with pytest.raises(RateLimited, match=r"You have added 3 images in the last minute, the most one person may. Wait 60 s"):
        rated.add_image(room, 0, png(200), "student")
    rated.add_image(room, 1, png(201), "another student")  # one visitor's limit is not another's
    clock.now += 61
    rated.add_image(room, 1, png(202), "student")  # a new minute
    with pytest.raises(LimitError, match=r"This room already holds 5 images, the most one room may hold on this server \(5\)"):
        limited(task_images=5).add_image(room, 0, png(300), "s")
    room_bytes = store.room_snapshot(room).n_images and store.load_task(room)
    n_bytes = sum(len(i.png) for c in room_bytes.classes for i in c.images)
    with pytest.raises(
        LimitError, match=r"Adding x.png \(\d+ bytes\) would bring this room to \d+ (bytes|kB), over the \d+ (bytes|kB) one room"
    ):
        limited(task_bytes=n_bytes + 10).add_image(room, 0, png(301), "s", name="x.png")
    with pytest.raises(LimitError, match=r"more would pass its limit"):
        limited(server_bytes=store.usage()["bytes"] + 10).add_image(room, 0, png(302), "s")
    assert store.load_task(room).version == 6  # opened, then 5 additions: the refused ones left nothing behind
    assert store.usage()["bytes"] == held + n_bytes


def test_a_malformed_or_unknown_id_gives_a_plain_message(store):
    task_id, token = store.save_task(*own_task(shots=1))
    malformed = [None, "", "abc", 42, "a" * 23, "'; DROP TABLE tasks; --aaa", "../../../../etc/passwd", "ä" * 22, "x" * 10_000]
    for bad in malformed:
        for call in (
            lambda bad=bad: store.load_task(bad),
            lambda bad=bad: store.room_snapshot(bad),
            lambda bad=bad: store.add_image(bad, 0, png(1), "v"),
            lambda bad=bad: store.delete_task(bad, token),
        ):
            with pytest.raises(InvalidInput) as caught:
                call()
            message = str(caught.value)
            assert "is not a task or room id" in message and len(message) < 200 and "Traceback" not in message
    unknown = "A" * 22
    with pytest.raises(NotFound, match=f"There is no saved task or room with the id {unknown}"):
        store.load_task(unknown)
    with pytest.raises(NotFound):
        store.update_task(unknown, token, *own_task(shots=1))
    for bad_target in (-1, 7, "class 1", 1.0, True, None):
        with pytest.raises(InvalidInput):
            room, _ = store.open_room(["a", "b"])
            store.add_image(room, bad_target, png(1), "v")
    assert store.load_task(task_id)  # nothing above touched it


def test_a_room_takes_additions_only_while_open_and_only_into_its_classes(store):
    room, token = store.open_room(["alpha", "beta"], polarity="keep", title="Period 3")
    first = store.add_image(room, 0, png(1), "ann", name="ann's drawing")
    store.add_image(room, 1, png(2), "bob")
    store.add_image(room, QUERIES, png(3), "bob", name="which one?")
    with pytest.raises(InvalidInput, match="this room has 2 classes"):
        store.add_image(room, 2, png(4), "bob")
    with pytest.raises(BadImage) as caught:
        store.add_image(room, 0, b"GIF89a not really", "bob", name="evil.gif")
    assert isinstance(caught.value, ImageError) and "evil.gif" in str(caught.value)
    store.remove_image(room, token, first)
    store.close_room(room, token)
    with pytest.raises(RoomClosed, match="This room is closed"):
        store.add_image(room, 0, png(5), "ann")
    saved = store.load_task(room)
    assert (saved.kind, saved.is_open, saved.polarity, saved.title) == ("room", False, "keep", "Period 3")
    assert [[i.name for i in c.images] for c in saved.classes] == [[], ["image"]]
    assert [q.name for q in saved.queries] == ["which one?"]
    store.reopen_room(room, token)
    store.add_image(room, 0, png(6), "ann")
    with pytest.raises(InvalidInput, match="'a' is used twice"):
        store.open_room(["a", "A "])
    with pytest.raises(InvalidInput, match="is empty"):
        store.open_room(["a", " \n "])


def test_a_student_without_the_rooms_edit_key_cannot_remove_close_or_reopen(store):
    """A room's link reaches every student; only its edit key (the teacher's) changes what is in it or whether it
    is open. A missing, wrong, near-miss or another room's key is refused and changes nothing."""
    room, token = store.open_room(["alpha", "beta"])
    other_room, other_token = store.open_room(["z"])
    task_id, task_token = store.save_task(*own_task(shots=1))
    image_id = store.add_image(room, 0, png(1), "ann")
    near_miss = token[:-1] + ("A" if token[-1] != "A" else "B")
    for open_ in (True, False):
        if not open_:
            store.close_room(room, token)
        before = store.room_snapshot(room)
        for wrong in (None, "", "x" * 32, other_token, task_token, near_miss):
            with pytest.raises(Forbidden):
                store.remove_image(room, wrong, image_id)
            with pytest.raises(Forbidden):
                store.close_room(room, wrong)
            with pytest.raises(Forbidden):
                store.reopen_room(room, wrong)
        after = store.room_snapshot(room)
        assert (after.version, after.n_images) == (before.version, 1)
        assert store.load_task(room).is_open is open_
    store.reopen_room(room, token)  # the teacher's key still works after all that
    store.remove_image(room, token, image_id)
    assert store.room_snapshot(room).n_images == 0
    assert store.load_task(task_id) and store.load_task(other_room).is_open


def test_a_presenter_refresh_of_an_unchanged_room_reads_only_the_room(store):
    room, token = store.open_room(["a", "b"])
    snap = store.room_snapshot(room)
    assert snap.changed and [c.images for c in snap.classes] == [(), ()]
    assert not store.room_snapshot(room, since_version=snap.version).changed
    image_id = store.add_image(room, 1, png(1), "v", name="x.png")
    now = store.room_snapshot(room, since_version=snap.version)
    assert now.changed and now.version > snap.version and now.n_images == 1
    assert [i.id for i in now.classes[1].images] == [image_id] and now.classes[1].images[0].png is None
    pngs = store.image_pngs(room, [image_id, image_id + 1000])
    assert list(pngs) == [image_id] and pngs[image_id].startswith(b"\x89PNG")
    other, _ = store.open_room(["z"])
    assert store.image_pngs(other, [image_id]) == {}  # another room's image is not reachable through this one
    store.close_room(room, token)
    assert store.room_snapshot(room, since_version=now.version).changed  # closing is a change too


def test_files_are_decoded_and_reencoded_before_storage(store):
    room, _ = store.open_room(["a"])
    photo = Image.new("RGB", (1200, 300), "white")
    photo.paste((0, 0, 0), (100, 100, 400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90°": the stored picture is upright, as the studio shows it
    exif[0x010E] = "secret description"
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", exif=exif.tobytes())
    image_id = store.add_image(room, 0, buf.getvalue(), "v", name="photo.jpg")
    stored = store.image_pngs(room, [image_id])[image_id]
    with Image.open(io.BytesIO(stored)) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (64, 256) and not im.getexif()
    assert b"secret" not in stored
    thin = Image.new("L", (2000, 40), 255)
    thin.paste(0, (0, 10, 2000, 30))  # a long dash, a fraction of a pixel across at 28 px (yet not blank)
    buf = io.BytesIO()
    thin.save(buf, format="PNG")
    thin_id = store.add_image(room, 0, buf.getvalue(), "v")
    with Image.open(io.BytesIO(store.image_pngs(room, [thin_id])[thin_id])) as im:
        assert im.size == (256, 8)  # never below the studio's smallest side, so it reads back
    buf = io.BytesIO()
    Image.new("L", (5, 40), 255).save(buf, format="PNG")
    for bad, why in ((b"hello", "not an image file"), (buf.getvalue(), "too small"), (png(1)[:60], "corrupt")):
        with pytest.raises(BadImage, match=why):
            store.add_image(room, 0, bad, "v", name="f.png")


def test_names_a_visitor_gives_are_stored_as_plain_text(store):
    room, _ = store.open_room(["a\x00b", "c\u202ed"], title="t\x00\r\nitle " + "é" * 10)
    image_id = store.add_image(room, 0, png(1), "v\x00", name="x\x00y\ud800.png" + "z" * 500)
    saved = store.load_task(room)
    assert saved.class_names == ["a b", "cd"] and saved.title == "t itle " + "é" * 10
    image = saved.classes[0].images[0]
    assert image.id == image_id and image.name.startswith("x y .png") and len(image.name) == 200
    with pytest.raises(InvalidInput, match="at most 100"):
        store.open_room(["n" * 101])
    with pytest.raises(InvalidInput, match="polarity must be one of auto, keep, invert"):
        store.open_room(["a"], polarity="dark")


def test_concurrent_additions_from_many_threads_are_each_stored_exactly_once(store):
    room, _ = store.open_room([f"class {i}" for i in range(4)])
    threads_n, each = 12, 6
    acked: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def student(k: int) -> None:
        try:
            start.wait()
            for j in range(each):
                acked.append(store.add_image(room, (k + j) % 4, png(k * 100 + j), f"student {k}", name=f"{k}-{j}"))
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            failures.append(exc)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    saved = store.load_task(room)
    names = sorted(i.name for c in saved.classes for i in c.images)
    assert names == sorted(f"{k}-{j}" for k in range(threads_n) for j in range(each))
    assert sorted(i.id for c in saved.classes for i in c.images) == sorted(acked) and len(set(acked)) == threads_n * each
    snap = store.room_snapshot(room)
    assert snap.n_images == threads_n * each and snap.version == 1 + threads_n * each


def test_two_stores_starting_at_once_on_a_new_database_both_work(db_url):
    stores: list[Store] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def start() -> None:
        try:
            gate.wait()
            stores.append(Store.from_url(db_url, limits=ROOMY))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        task_id, _ = stores[0].save_task(*own_task(shots=1))
        assert stores[3].load_task(task_id).class_names == [f"class {i}" for i in range(5)]
        with stores[0].engine.connect() as conn:
            assert conn.execute(sa.select(db.schema_version.c.version)).scalars().all() == [1]
    finally:
        for s in stores:
            s.close()


def test_a_database_from_a_newer_studio_is_refused_plainly(store, db_url):
    with store.engine.begin() as conn:
        conn.execute(sa.insert(db.schema_version).values(version=99, applied_at=0.0))
    with pytest.raises(StoreError, match="schema version 99, newer than this studio knows"):
        Store.from_url(db_url, limits=ROOMY).close()


# ---- SQLite on disk ----------------------------------------------------------------------------------------


def test_the_default_database_is_a_wal_sqlite_file_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(db.DB_ENV, raising=False)
    monkeypatch.setenv(db.DIR_ENV, str(tmp_path / "studio data"))
    store = Store.from_env(limits=ROOMY)
    try:
        task_id, _ = store.save_task(*own_task(shots=1))
        with store.engine.connect() as conn:
            settings = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys", "busy_timeout")]
        assert settings == ["wal", 1, db.BUSY_TIMEOUT_MS]
    finally:
        store.close()
    assert (tmp_path / "studio data" / "studio.sqlite3").is_file()
    assert Store.from_env(limits=ROOMY).load_task(task_id)
    monkeypatch.setenv(db.DB_ENV, "mysql://nobody@nowhere/x")
    with pytest.raises(ValueError, match="supports SQLite and PostgreSQL"):
        Store.from_env()


WRITER = """
import sys
from app.store import Limits, Store
store = Store.from_url(sys.argv[1], limits=Limits(task_images=10**6, task_bytes=2**40, server_bytes=2**40, additions_per_minute=10**9))
picture = open(sys.argv[3], "rb").read()
print("ready", flush=True)
n = 0
while True:
    image_id = store.add_image(sys.argv[2], n % 2, picture, "writer", name=f"n{n}")
    print(image_id, flush=True)  # acknowledged: add_image returned, so it is committed
    n += 1
"""


def test_a_killed_writer_loses_nothing_it_had_committed(tmp_path):
    url = f"sqlite:///{tmp_path / 'studio.sqlite3'}"
    setup = Store.from_url(url, limits=ROOMY)
    room, _ = setup.open_room(["a", "b"])
    setup.close()
    (tmp_path / "picture.png").write_bytes(png(7))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, room, str(tmp_path / "picture.png")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and sum(s.strip().isdigit() for s in lines) < 40:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-write, most likely: it writes in a tight loop
    proc.wait()
    reader.join(5)
    acked = [int(s) for s in lines if s.strip().isdigit()]
    assert len(acked) >= 40, (lines[-5:], proc.stderr.read()[-2000:])
    with sqlite3.connect(tmp_path / "studio.sqlite3") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened = Store.from_url(url, limits=ROOMY)
    try:
        saved = reopened.load_task(room)
        stored = {i.id for c in saved.classes for i in c.images}
        assert set(acked) <= stored and len(stored) - len(acked) <= 1  # at most the one in flight, whole or not at all
        snap = reopened.room_snapshot(room)
        assert snap.n_images == len(stored)  # the counters were committed with the images
        assert reopened.usage()["bytes"] == sum(len(p) for p in reopened.image_pngs(room, sorted(stored)).values())
    finally:
        reopened.close()


def test_the_store_never_imports_streamlit():
    for path in sorted((ROOT / "app" / "store").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                assert not any(n.split(".")[0] == "streamlit" for n in names), path
