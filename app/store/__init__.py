"""Saved tasks and classroom rooms: a database the studio's pages call (and that never imports streamlit).

Where: ``$HYPERMAML_STUDIO_DB`` (a SQLAlchemy URL: ``postgresql+psycopg://user:password@host/db`` lets several
studio servers share one PostgreSQL), else one SQLite file, ``studio.sqlite3`` in ``$HYPERMAML_STUDIO_DIR`` or
the per-user data folder (``~/.local/share/hypermaml/studio`` on Linux), created on first use. The schema is
versioned (``db.MIGRATIONS``); a new studio migrates an older database when it starts.

    store = Store.from_env()                      # once per process (a page: st.cache_resource); thread-safe
    task_id, edit_token = store.save_task(classes, queries, polarity="auto", title="Letters")
    saved = store.load_task(task_id)              # SavedTask: classes in order, PNG bytes, queries, polarity
    classes, queries = saved.to_session()         # the page's TaskClass / Picture lists (copies)
    store.update_task(task_id, edit_token, classes, queries, polarity="keep")   # replace the content
    store.delete_task(task_id, edit_token)

    room_id, edit_token = store.open_room(["alpha", "beta", "gamma"], polarity="auto", title="Period 3")
    image_id = store.add_image(room_id, 1, file_bytes, visitor_id, name="my drawing")   # or target QUERIES
    snap = store.room_snapshot(room_id, since_version=snap.version)   # snap.changed False: one small query
    pngs = store.image_pngs(room_id, [ids not shown yet])             # images never change once stored
    store.remove_image(room_id, edit_token, image_id); store.close_room(room_id, edit_token)
    store.expire(older_than_days=90)              # -> how many tasks and rooms were deleted

A task's link carries its id; anyone with it may read (``load_task``, ``room_snapshot``) and, while the room is
open, add to a room; every change to a task needs the edit token. Ids are ``secrets.token_urlsafe(16)`` (128
random bits), edit tokens ``token_urlsafe(24)`` (192 bits); both are stored only as sha256 digests, tokens
compared with ``hmac.compare_digest``, and an id's shape is checked before any query (all queries bind their
parameters). Images are decoded with the studio's upload checks and re-encoded as grey PNGs of at most 256
pixels a side (``images.to_png``). An addition to a room is committed before ``add_image`` returns.

Errors are ``StoreError`` subclasses with a plain sentence to show (as text): ``InvalidInput`` (a malformed
id, name or polarity; ``BadImage``, also an ``ImageError``, for a file the uploads refuse), ``NotFound``,
``Forbidden`` (no or a wrong edit token), ``RoomClosed``, ``LimitError`` (``RateLimited``: one visitor's
additions per minute) and ``Unavailable`` (the database did not answer).

Limits (``Limits``; environment ``HYPERMAML_STUDIO_MAX_TASK_IMAGES`` (200), ``..._TASK_BYTES`` (8 MB),
``..._SERVER_TASKS`` (10,000), ``..._SERVER_BYTES`` (1 GB), ``..._ADDITIONS_PER_MINUTE`` (20)).

Expiry, for whoever runs the studio (cron, say):

    python -m app.store expire --days 90     # delete tasks and rooms unchanged for 90 days; prints how many
    python -m app.store expire --days 90 --dry-run   # only count them
    python -m app.store usage                # tasks, rooms and bytes held, beside the limits
"""

from .core import Store, check_id
from .db import make_engine, url_from_env
from .model import (
    QUERIES,
    BadImage,
    Forbidden,
    InvalidInput,
    LimitError,
    Limits,
    NotFound,
    RateLimited,
    RoomClosed,
    RoomSnapshot,
    SavedClass,
    SavedTask,
    StoredImage,
    StoreError,
    Unavailable,
)

__all__ = [
    "QUERIES",
    "BadImage",
    "Forbidden",
    "InvalidInput",
    "LimitError",
    "Limits",
    "NotFound",
    "RateLimited",
    "RoomClosed",
    "RoomSnapshot",
    "SavedClass",
    "SavedTask",
    "Store",
    "StoreError",
    "StoredImage",
    "Unavailable",
    "check_id",
    "make_engine",
    "url_from_env",
]
