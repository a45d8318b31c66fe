"""A classroom's load on the store: N students adding M drawings each to one room while the projector refreshes.

    .venv/bin/python -m benchmarks.classroom_load                       # 30 students x 5 images within 60 s
    .venv/bin/python -m benchmarks.classroom_load --window 10 --students 60
    .venv/bin/python -m benchmarks.classroom_load --db postgresql+psycopg://user@host/db   # default: a new SQLite file

Through the store's own interface and the same code paths as the studio's pages: every student is a thread
that, at M random moments within ``--window`` seconds, draws a character (a 280x280 canvas PNG, sent as the
page's canvas sends it: a data URL, read by ``app.user_task.picture_from_data_url``) into a random class and
calls ``Store.add_image`` (rate limit, decoding and re-encoding, the limits, the commit). The presenter is one
more thread calling ``Store.room_snapshot(since_version=...)`` every ``--refresh`` seconds and fetching the
bytes of the images it has not shown yet (``Store.image_pngs``), as the projector's page does. The default
limits apply (``Limits.from_env``), so a student adding faster than the rate limit would be refused.

Timed: one addition (``add_image``, from the call until it returned: the image is committed) and one presenter
refresh (snapshot plus new images). ``lost``: additions acknowledged with an id but missing from the room
afterwards or from the presenter's last view; ``errors``: additions refused or failed. Goals on the project's
2-core machines: lost == 0, errors == 0, p95 of an addition <= 2 s, presenter refresh p95 <= 2 s. Last line:
one JSON object (seconds).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from app.store import Limits, Store
from app.user_task import picture_from_data_url

CANVAS = 280  # the page's drawing canvas, in pixels
STROKE = 18  # its pen width


def drawing(rng: random.Random) -> str:
    """A character drawn on the page's canvas, as the canvas sends it (a PNG data URL)."""
    im = Image.new("RGB", (CANVAS, CANVAS), "white")
    pen = ImageDraw.Draw(im)
    points = [(rng.uniform(40, 240), rng.uniform(40, 240)) for _ in range(rng.randint(3, 7))]
    pen.line(points, fill="black", width=STROKE, joint="curve")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 4) if values else 0.0


def run(store: Store, students: int, images: int, window: float, refresh: float, seed: int) -> dict:
    room, _ = store.open_room([f"class {i + 1}" for i in range(5)], title="classroom load")
    lock = threading.Lock()
    acked: list[int] = []
    latencies: list[float] = []
    errors: list[str] = []
    refreshes: list[float] = []
    shown: dict[int, bytes] = {}  # the presenter's images, by id
    done = threading.Event()
    start = time.perf_counter() + 0.5

    def student(k: int) -> None:
        rng = random.Random(seed * 100_003 + k)
        moments = sorted(rng.uniform(0, window) for _ in range(images))
        for j, moment in enumerate(moments):
            url = drawing(rng)  # drawn before the moment: the time a student spends drawing is not the server's
            time.sleep(max(0.0, start + moment - time.perf_counter()))
            began = time.perf_counter()
            try:
                picture = picture_from_data_url(url, f"drawing {j + 1}")
                image_id = store.add_image(room, rng.randrange(5), picture.data, f"student-{k}", name=picture.name)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                with lock:
                    errors.append(f"student {k}: {type(exc).__name__}: {exc}")
                continue
            took = time.perf_counter() - began
            with lock:
                acked.append(image_id)
                latencies.append(took)

    def presenter() -> None:
        version = None
        while True:
            last = done.is_set()  # one refresh after every student finished: the final view
            began = time.perf_counter()
            snap = store.room_snapshot(room, since_version=version)
            if snap.changed:
                ids = [i.id for c in snap.classes for i in c.images]
                new = [i for i in ids if i not in shown]
                for first in range(0, len(new), 100):
                    shown.update(store.image_pngs(room, new[first : first + 100]))
                version = snap.version
            refreshes.append(time.perf_counter() - began)
            if last:
                return
            done.wait(refresh)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(students)]
    watcher = threading.Thread(target=presenter)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    saved = store.load_task(room)
    stored = {i.id for c in saved.classes for i in c.images}
    lost = len(set(acked) - stored) + len(set(acked) - set(shown))
    for message in errors[:5]:
        print(message)
    print(
        f"{students} students x {images} images within {window:g} s: {len(acked)} acknowledged, {len(stored)} stored, "
        f"{len(shown)} on the projector after {len(refreshes)} refreshes; addition p50 {percentile(latencies, 50):.3f} s, "
        f"p95 {percentile(latencies, 95):.3f} s, max {max(latencies, default=0):.3f} s; refresh p95 {percentile(refreshes, 95):.3f} s"
    )
    return {
        "students": students,
        "images_sent": students * images,
        "images_stored": len(stored),
        "lost": lost,
        "errors": len(errors),
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "presenter_refresh_p95_s": percentile(refreshes, 95),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--images", type=int, default=5, help="images each student adds")
    parser.add_argument("--window", type=float, default=60.0, help="seconds within which the additions fall")
    parser.add_argument("--refresh", type=float, default=1.0, help="seconds between the presenter's refreshes")
    parser.add_argument("--db", help="a SQLAlchemy URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="classroom-") as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'studio.sqlite3'}"
        store = Store.from_url(url, limits=Limits.from_env())
        try:
            result = run(store, args.students, args.images, args.window, args.refresh, args.seed)
        finally:
            store.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
