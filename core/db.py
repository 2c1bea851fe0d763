"""Opening the state database and bringing its schema up to date with Alembic.

``open_database(url)`` returns a ready ``Database``: SQLite files get WAL, foreign keys and a
busy timeout (several threads of one process write at once); PostgreSQL is used as is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError

log = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).with_name("migrations")
_lock = threading.Lock()
_open: dict[str, Database] = {}


class Database:
    """An engine plus a session factory. Use ``with db.session() as s:`` (commits on success)."""

    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    except Exception as exc:
        raise ConfigError(f"cannot use database url {url!r}: {exc}") from exc


def migrate(engine: Engine) -> None:
    """Upgrade the schema to every head (packages add independent migration branches)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def open_database(url: str) -> Database:
    """The process's ``Database`` for ``url``, migrated on first open."""
    with _lock:
        db = _open.get(url)
        if db is None:
            engine = make_engine(url)
            try:
                migrate(engine)
            except OperationalError as exc:
                hint = ("Check KNOWDESK_DATABASE_URL, or unset it to use SQLite under KNOWDESK_HOME."
                        if not url.startswith("sqlite") else
                        "Its folder (KNOWDESK_HOME) is read-only or not writable by you: point KNOWDESK_HOME at a "
                        "folder you can write to." if "readonly" in str(exc.orig) or "unable to open" in str(exc.orig)
                        else "Check KNOWDESK_HOME.")
                raise ConfigError(
                    f"cannot open the state database {engine.url.render_as_string(hide_password=True)}: "
                    f"{exc.orig}. {hint}"
                ) from exc
            db = _open[url] = Database(engine=engine)
        return db


def close_all() -> None:
    """Dispose every engine this process opened (tests, shutdown)."""
    with _lock:
        for db in _open.values():
            db.engine.dispose()
        _open.clear()


def insert_ignore(session: Session, table: Any, **values: Any) -> None:
    """INSERT that does nothing when the primary key exists: race-free on SQLite and PostgreSQL,
    where several workers may create the same row at once."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - other engines are not supported
        raise ConfigError(f"unsupported database dialect {dialect!r}; use SQLite or PostgreSQL")
