"""Incremental insights: stored message vectors (message id + content hash + model id) make a refresh
encode only new or changed messages, and its result equals a from-scratch run on the same messages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, update

from agent.sessions import SessionStore
from agent.tables import MessageRow
from core.db import Database, make_engine, migrate
from core.models import Channel
from core.tables import utcnow
from insights.models import InsightRun
from insights.samples import SampleHandoff, SampleSession, seed
from insights.service import InsightsService
from insights.tables import InsightVectorRow
from tests.fakes import HashEmbedder

MIGRATIONS = Path(__file__).resolve().parents[2] / "core" / "migrations"
THEMES = (("norway", "Do you ship coffee to Norway {n}?", "low_confidence"),
          ("bags", "Are the coffee bags compostable {n}?", "low_confidence"),
          ("grinder", "E-12 error again on the grinder {n}", None))


class OtherModel(HashEmbedder):
    model_id = "hash-embedder-v2"


def _sessions(first: int, count: int) -> list[SampleSession]:
    now = utcnow()
    out = []
    for n in range(first, first + count):
        for theme, text, reason in THEMES:
            at = now - timedelta(days=1, minutes=n) if n % 4 else now - timedelta(days=9, minutes=n)
            handoff = SampleHandoff(reason=reason, compound=0.0, assignee="alice") if reason else None
            out.append(SampleSession(theme=theme, channel=Channel.WEB, email=f"{theme}{n}@example.com",
                                     created_at=at, customer=(text.format(n=f"order {n}"),), handoff=handoff))
    return out


def _result(run: InsightRun) -> list[dict[str, object]]:
    return [i.model_dump() for i in run.insights]


def _stored(db: Database) -> dict[str, int]:
    with db.session() as s:
        counts = select(InsightVectorRow.model, func.count()).group_by(InsightVectorRow.model)
        return dict(s.execute(counts).tuples().all())


def test_a_refresh_encodes_only_new_and_changed_messages_and_equals_a_run_from_scratch(db: Database) -> None:
    store = SessionStore(db=db)
    seed(store, "w", _sessions(0, 10))
    embedder = HashEmbedder()
    service = InsightsService(db=db, embedder=embedder)
    first = service.refresh("w", since="7d")
    assert embedder.embedded == 30 and first.insights

    seed(store, "w", _sessions(10, 4))  # 12 new messages
    with db.session() as s:  # one message's text changes (e.g. redacted after the fact)
        text = "Do you ship coffee to Norway order 1?"
        changed = s.scalars(select(MessageRow.id).where(MessageRow.text == text)).one()
        s.execute(update(MessageRow).where(MessageRow.id == changed).values(
            text="Do you ship coffee to Norway order [redacted]?"))
    incremental = service.refresh("w", since="7d")
    assert embedder.embedded == 30 + 12 + 1

    with db.session() as s:  # from scratch: nothing stored
        s.execute(sa.delete(InsightVectorRow))
    scratch_embedder = HashEmbedder()
    scratch = InsightsService(db=db, embedder=scratch_embedder).refresh("w", since="7d")
    assert scratch_embedder.embedded == 42
    assert _result(incremental) == _result(scratch)
    assert sum(i.size + i.previous_size for i in scratch.insights) == 42


def test_another_model_invalidates_the_stored_vectors(db: Database) -> None:
    seed(SessionStore(db=db), "w", _sessions(0, 6))
    InsightsService(db=db, embedder=HashEmbedder()).refresh("w", since="7d")
    assert _stored(db) == {"hash-embedder": 18}
    other = OtherModel()
    run = InsightsService(db=db, embedder=other).refresh("w", since="7d")
    assert other.embedded == 18  # nothing computed by the first model is reused
    assert _stored(db) == {"hash-embedder-v2": 18}  # and its rows are gone
    again = InsightsService(db=db, embedder=other).refresh("w", since="7d")
    assert other.embedded == 18 and _result(again) == _result(run)


def test_vectors_stored_before_content_hashes_are_embedded_again_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    db = Database(engine=engine)
    seed(SessionStore(db=db), "w", _sessions(0, 6))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "2210@1100")
        assert "content_hash" not in {c["name"] for c in sa.inspect(conn).get_columns("insight_vectors")}
    embedder = HashEmbedder()
    vector = embedder.embed_documents(["anything"])[0].tobytes()
    with engine.begin() as conn:  # a vector of the old schema: no hash, maybe not of today's text
        mid = conn.execute(sa.text("SELECT min(id) FROM agent_messages WHERE role = 'customer'")).scalar_one()
        conn.execute(sa.text("INSERT INTO insight_vectors (model, message_id, workspace, vector) "
                             "VALUES ('hash-embedder', :m, 'w', :v)"), {"m": mid, "v": vector})
    migrate(engine)
    embedder.embedded = 0
    InsightsService(db=db, embedder=embedder).refresh("w", since="7d")
    assert embedder.embedded == 18  # the old row matched no hash and was replaced
    with db.session() as s:
        row = s.get(InsightVectorRow, ("hash-embedder", mid))
        assert row is not None and len(row.content_hash) == 64 and row.vector != vector
    engine.dispose()
