"""Shared fixtures: state databases (SQLite and PostgreSQL), embedders, Qdrant clients.

PostgreSQL: tests marked ``postgres`` (and the ``db`` fixture's postgres half) use the server
at KNOWDESK_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres),
creating and dropping a scratch database per session. When it is unreachable they FAIL with
instructions; to opt out explicitly set KNOWDESK_TEST_POSTGRES_URL=off (they are then
deselected and the summary says so).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

import pytest
from qdrant_client import QdrantClient

from core.db import Database, close_all, open_database
from tests.fakes import HashEmbedder

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL = os.environ.get("KNOWDESK_TEST_POSTGRES_URL", PG_DEFAULT)
PG_OFF = PG_URL.lower() in {"off", "none", "skip"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not PG_OFF:
        return
    keep, dropped = [], []
    for item in items:
        is_pg = item.get_closest_marker("postgres") or "[postgres]" in item.nodeid
        (dropped if is_pg else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        reporter = config.pluginmanager.get_plugin("terminalreporter")  # absent on xdist workers
        if reporter is not None:
            reporter.write_line(
                f"KNOWDESK_TEST_POSTGRES_URL=off: {len(dropped)} PostgreSQL tests deselected on request"
            )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A scratch PostgreSQL database for this test session, dropped at the end."""
    if PG_OFF:
        pytest.fail("PostgreSQL tests were opted out but one still ran")
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"knowdesk_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_URL} ({exc.orig}). Start it "
            "(`pg_ctlcluster --skip-systemctl-redirect 15 main start`), point the tests at a server with "
            "KNOWDESK_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:PORT/DB, or opt out explicitly "
            "with KNOWDESK_TEST_POSTGRES_URL=off.",
            pytrace=False,
        )
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        close_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    yield db
    close_all()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The state database on both engines: SQLite (embedded) and PostgreSQL (scale-out)."""
    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        base = request.getfixturevalue("pg_url")
        database = open_database(base)
        _truncate(database)
    yield database


def _truncate(database: Database) -> None:
    from core.tables import Base

    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def memory_qdrant() -> Iterator[QdrantClient]:
    client = QdrantClient(":memory:")
    yield client
    client.close()


@pytest.fixture(scope="session")
def minilm():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 embedder, loaded once per test session."""
    from retrieval.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model="all-MiniLM-L6-v2")
