"""Opening ledger databases: URLs, SQLite pragmas, write locks and the schema check.

A ``--db`` value is either a SQLAlchemy URL (``postgresql://…``, ``sqlite:///…``) or
a plain path to a SQLite file. SQLite runs in WAL mode with ``synchronous=FULL``:
a committed entry survives a crash, so a lost tail can only mean truncation.
Writers take the database write lock before reading the head (``BEGIN IMMEDIATE``
on SQLite, ``SELECT … FOR UPDATE`` of the head row on PostgreSQL, inside the
server function ``scimtrail_append`` for plain appends).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from evidence.errors import DatabaseUnavailable, NotALedger, SchemaOutdated

DEFAULT_DB = "scimtrail.db"


def resolve_db(db: str | None) -> str:
    """The database to use: the argument, else ``SCIMTRAIL_DB``, else ./scimtrail.db."""
    return db or os.environ.get("SCIMTRAIL_DB") or DEFAULT_DB


def to_url(db: str) -> str:
    if "://" not in db:
        return f"sqlite:///{Path(db).expanduser()}"
    for prefix in ("postgres://", "postgresql://"):
        if db.startswith(prefix):
            return "postgresql+psycopg://" + db[len(prefix) :]
    return db


def display(db: str) -> str:
    """The database as it may be shown to people: never with a password."""
    if "://" not in db:
        return db
    try:
        return make_url(to_url(db)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # SQLAlchemy's own transactions (schema, metadata); appends take their lock
        # with BEGIN IMMEDIATE on the driver connection (evidence/ledger.py)
        conn.exec_driver_sql("BEGIN")


def make_engine(db: str, *, must_exist: bool = True) -> Engine:
    url = to_url(db)
    shown = display(db)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(shown, "not a database URL or path") from exc
    path = sqlite_path(url)
    if path is not None:
        if not path.parent.exists():
            raise DatabaseUnavailable(shown, f"directory {path.parent} does not exist")
        if must_exist and not path.exists():
            raise DatabaseUnavailable(shown, "no such file")
        if path.exists() and path.is_dir():
            raise DatabaseUnavailable(shown, "is a directory")
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 60}
    elif parsed.get_backend_name() == "postgresql":
        options = "-c synchronous_commit=on"
        extra = parsed.query.get("options")
        if extra:
            options += " " + (extra if isinstance(extra, str) else " ".join(extra))
            url = parsed.difference_update_query(["options"]).render_as_string(hide_password=False)
        kwargs["connect_args"] = {"options": options, "connect_timeout": 10}
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(shown, str(exc).splitlines()[0]) from exc
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine)
    return engine


@contextlib.contextmanager
def connect(engine: Engine, shown: str) -> Iterator[Connection]:
    try:
        conn = engine.connect()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise DatabaseUnavailable(shown, reason) from exc
    try:
        yield conn
    finally:
        conn.close()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    """The migration scripts, read once per process (every open checks the revision)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, shown: str) -> tuple[str | None, str]:
    """Bring the database to the latest revision; return (before, after)."""
    from alembic import command

    with connect(engine, shown) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseUnavailable(shown, f"migration failed: {reason}") from exc
    return before, head_revision()


def check_schema(conn: Connection, shown: str) -> None:
    """Refuse databases that are not at the latest revision."""
    try:
        current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise NotALedger(shown, "unreadable") from exc
    head = head_revision()
    if current == head:
        return
    if current is None:
        tables = set(inspect(conn).get_table_names())
        if tables - {"alembic_version"}:
            raise NotALedger(
                shown, "none (it holds other tables: " + ", ".join(sorted(tables)[:5]) + ")"
            )
    script = _scripts()
    if current is not None:
        try:
            script.get_revision(current)
        except Exception as exc:  # alembic raises several types for unknown ids
            raise NotALedger(shown, current) from exc
    raise SchemaOutdated(shown, current, head)
