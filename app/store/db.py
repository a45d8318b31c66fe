"""The store's database: the engine (SQLite or PostgreSQL), its tables, and the versioned migrations.

SQLite is set up on every new connection: WAL journal (readers never wait for the writer, and a killed process
loses nothing it committed), ``synchronous=FULL`` (a commit is on disk before it is acknowledged),
``busy_timeout`` (a writer waits for another instead of failing) and foreign keys on. SQLAlchemy emits the
``BEGIN`` itself (the sqlite3 module's own transaction handling is off), so a write transaction can start
with ``BEGIN IMMEDIATE``: it takes the write lock up front, and two writers never deadlock upgrading a read
lock. Only SQLite and PostgreSQL are supported (the rate limit uses their ``INSERT ... ON CONFLICT``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

DB_ENV = "HYPERMAML_STUDIO_DB"  # a SQLAlchemy URL, e.g. postgresql+psycopg://studio:secret@dbhost/studio
DIR_ENV = "HYPERMAML_STUDIO_DIR"  # the folder of the SQLite file (when DB_ENV is not set)
SQLITE_FILE = "studio.sqlite3"
BUSY_TIMEOUT_MS = 10_000  # a writer waits this long for another process's transaction before giving up
WRITE = {"store_write": True}  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)
MIGRATION_LOCK = 0x68794D414D4C  # PostgreSQL advisory-lock key ("hyMAML"): one process migrates at a time


def data_dir() -> Path:
    """``$HYPERMAML_STUDIO_DIR``, else the per-user data folder's ``studio`` (``~/.local/share/hypermaml/studio``)."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("hypermaml", appauthor=False)) / "studio"


def url_from_env() -> str:
    """``$HYPERMAML_STUDIO_DB``, else SQLite at ``data_dir()/studio.sqlite3``."""
    return os.environ.get(DB_ENV) or f"sqlite:///{data_dir() / SQLITE_FILE}"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings above; the SQLite file's folder is created (owner-only)."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("the store needs a SQLite file, not an in-memory database (each connection would get its own)")
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = sa.create_engine(parsed, pool_size=8, max_overflow=32, pool_timeout=60)
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_size=8, max_overflow=32, pool_timeout=60, pool_pre_ping=True)
    raise ValueError(f"the store supports SQLite and PostgreSQL URLs, not {backend!r} ({DB_ENV})")


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN (below)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # first: the next pragma may wait for a lock
    _set_wal(cursor)
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _set_wal(cursor) -> None:
    """``PRAGMA journal_mode = WAL``, retried: switching a new database's journal needs its exclusive lock, and
    SQLite answers "database is locked" at once there instead of waiting ``busy_timeout`` (several servers or
    threads opening one new file together)."""
    import sqlite3
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("store_write") else "BEGIN")


# ---- tables ------------------------------------------------------------------------------------------------


def define_tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    """The schema as migration 1 creates it. When a later migration changes a table, freeze a copy of this
    function for migration 1 and describe the change in the new migration (ALTER TABLE), never here alone.

    A task's public id is never stored: ``id_hash`` is its sha256, so an index lookup's timing says nothing
    about ids, and a copy of the database holds no working links; the edit token is stored the same way."""
    tasks = sa.Table(
        "tasks",
        metadata,
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),  # "task" (saved) or "room" (a classroom's task)
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("polarity", sa.String(8), nullable=False),  # hypermaml.data's "auto", "keep" or "invert"
        sa.Column("is_open", sa.Boolean, nullable=False),  # a room taking additions
        sa.Column("version", sa.Integer, nullable=False),  # +1 on every change: a presenter's cheap "anything new?"
        sa.Column("n_images", sa.Integer, nullable=False),
        sa.Column("n_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),  # seconds since the epoch (UTC)
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=True),  # None: until `expire --days` finds it old
    )
    sa.Index("tasks_updated_at", tasks.c.updated_at)
    classes = sa.Table(
        "classes",
        metadata,
        sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    images = sa.Table(
        "images",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_pk", sa.Integer, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("class_position", sa.Integer, nullable=True),  # None: a query image
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("added_at", sa.Double, nullable=False),
        sa.Column("adder_hash", sa.String(64), nullable=True),  # sha256 of the visitor id that added it
        # only into a class the task has (a NULL position, a query, is not checked)
        sa.ForeignKeyConstraint(["task_pk", "class_position"], ["classes.task_pk", "classes.position"], ondelete="CASCADE"),
    )
    sa.Index("images_task", images.c.task_pk, images.c.id)
    rate_limits = sa.Table(
        "rate_limits",
        metadata,
        sa.Column("visitor_hash", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.Double, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    usage = sa.Table(  # one row: the server-wide totals the limits are checked against, kept in step atomically
        "usage",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tasks", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
    )
    return {t.name: t for t in (tasks, classes, images, rate_limits, usage)}


TABLES = define_tables(sa.MetaData())
tasks, classes, images, rate_limits, usage = (TABLES[n] for n in ("tasks", "classes", "images", "rate_limits", "usage"))

schema_version = sa.Table(
    "schema_version",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Double, nullable=False),
)


# ---- migrations --------------------------------------------------------------------------------------------


def _m1_initial(conn: Connection) -> None:
    metadata = sa.MetaData()
    define_tables(metadata)
    metadata.create_all(conn)
    conn.execute(sa.insert(metadata.tables["usage"]).values(id=1, tasks=0, bytes=0))


# In order; the database records how many have run. Append, never edit or reorder one that has shipped.
MIGRATIONS: list[Callable[[Connection], None]] = [_m1_initial]


class NewerSchema(RuntimeError):
    pass


def migrate(engine: Engine) -> int:
    """Bring the schema up to date; returns its version. Safe when several processes start at once: all of it
    is one write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock first), and DDL is
    transactional on both, so the second process finds the work done."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        schema_version.create(conn, checkfirst=True)
        current = conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0
        if current > len(MIGRATIONS):
            raise NewerSchema(
                f"the studio's database has schema version {current}, newer than this studio knows "
                f"({len(MIGRATIONS)}): update the studio, or point {DB_ENV} at another database"
            )
        for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
            step(conn)
            conn.execute(sa.insert(schema_version).values(version=version, applied_at=time.time()))
    return len(MIGRATIONS)
