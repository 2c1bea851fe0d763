"""Reading a window of sessions from the agent's tables; storing runs and message vectors."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from agent.sessions import Role
from agent.tables import HandoffRow, MessageRow, SessionRow
from core.db import Database, insert_ignore
from core.errors import ConfigError
from core.tables import WorkspaceRow, utcnow

from .models import CustomerMessage, Insight, InsightRun, SessionFacts, Window
from .tables import InsightRunRow, InsightVectorRow

T = TypeVar("T")


class InsightStore:
    """Sessions in, runs out. Construct with ``InsightStore(db=...)``."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def customer_messages(self, workspace: str, start: datetime, end: datetime) -> list[CustomerMessage]:
        """Customer messages created in ``[start, end)``, oldest first."""
        with self.db.session() as s:
            rows = s.execute(
                select(MessageRow.id, MessageRow.session_id, MessageRow.text, MessageRow.created_at)
                .where(MessageRow.workspace == workspace, MessageRow.role == Role.CUSTOMER.value,
                       MessageRow.created_at >= start, MessageRow.created_at < end)
                .order_by(MessageRow.created_at, MessageRow.id)
            ).all()
        return [CustomerMessage(id=r[0], session_id=r[1], text=r[2], created_at=r[3]) for r in rows]

    def session_facts(self, workspace: str, session_ids: Iterable[str]) -> dict[str, SessionFacts]:
        """Channel, first handoff reason and its assignee of each session."""
        ids = sorted(set(session_ids))
        facts: dict[str, SessionFacts] = {}
        with self.db.session() as s:
            for part in _chunks(ids, 500):
                channels = dict(s.execute(
                    select(SessionRow.id, SessionRow.channel).where(SessionRow.id.in_(part))).tuples().all())
                handoffs = s.execute(
                    select(HandoffRow.session_id, HandoffRow.reason, HandoffRow.assignee)
                    .where(HandoffRow.workspace == workspace, HandoffRow.session_id.in_(part))
                    .order_by(HandoffRow.created_at.desc())
                ).all()
                first = {sid: reason for sid, reason, _ in handoffs}  # the loop ends on the earliest
                who = {sid: assignee for sid, _, assignee in handoffs}
                for sid in part:
                    facts[sid] = SessionFacts(session_id=sid, channel=channels.get(sid, "web"),
                                              handoff_reason=first.get(sid), assignee=who.get(sid))
        return facts

    # -- vectors ---------------------------------------------------------------------------------
    def vectors(self, model: str, hashes: Mapping[int, str]) -> dict[int, np.ndarray]:
        """Stored vectors under ``model`` of the messages in ``hashes`` (message id -> content hash)
        whose stored hash is still the message's: a changed text or another model is a miss."""
        found: dict[int, np.ndarray] = {}
        with self.db.session() as s:
            for part in _chunks(list(hashes), 900):
                rows = s.execute(select(InsightVectorRow.message_id, InsightVectorRow.content_hash,
                                        InsightVectorRow.vector)
                                 .where(InsightVectorRow.model == model, InsightVectorRow.message_id.in_(part)))
                for mid, digest, blob in rows:
                    if hashes[int(mid)] == digest:
                        found[int(mid)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def save_vectors(self, workspace: str, model: str, vectors: Mapping[int, tuple[str, np.ndarray]]) -> None:
        """Store (content hash, vector) per message id under ``model``, replacing what a message had;
        rows of ``workspace`` under any other model are dropped (they can never match again)."""
        rows = [{"model": model, "message_id": mid, "workspace": workspace, "content_hash": digest,
                 "vector": np.asarray(vector, dtype=np.float32).tobytes()} for mid, (digest, vector) in vectors.items()]
        table = InsightVectorRow.__table__
        with self.db.session() as s:
            s.execute(delete(InsightVectorRow).where(InsightVectorRow.workspace == workspace,
                                                     InsightVectorRow.model != model))
            for part in _chunks(rows, 500):
                upsert = _insert(s)(table).values(part)
                s.execute(upsert.on_conflict_do_update(
                    index_elements=[table.c.model, table.c.message_id],
                    set_={"workspace": upsert.excluded.workspace, "content_hash": upsert.excluded.content_hash,
                          "vector": upsert.excluded.vector}))

    # -- runs ------------------------------------------------------------------------------------
    def save_run(self, run: InsightRun) -> None:
        with self.db.session() as s:
            insert_ignore(s, WorkspaceRow.__table__, id=run.workspace, name=run.workspace, created_at=utcnow())
            s.add(InsightRunRow(
                id=run.id, workspace=run.workspace, since=run.since, window_start=run.window.start,
                window_end=run.window.end, computed_at=run.computed_at, messages=run.messages,
                sessions=run.sessions, clustered=run.clustered, seconds=run.seconds,
                embed_seconds=run.embed_seconds, insights=[i.model_dump(mode="json") for i in run.insights],
            ))

    def latest(self, workspace: str, since: str | None = None) -> InsightRun | None:
        """The newest stored run of ``workspace`` (for the window ``since`` when given)."""
        with self.db.session() as s:
            q = select(InsightRunRow).where(InsightRunRow.workspace == workspace)
            if since:
                q = q.where(InsightRunRow.since == since)
            row = s.scalars(q.order_by(InsightRunRow.computed_at.desc()).limit(1)).first()
            return _run(row) if row else None


def new_run_id() -> str:
    return str(uuid.uuid4())


def _run(row: InsightRunRow) -> InsightRun:
    return InsightRun(
        id=row.id, workspace=row.workspace, since=row.since,
        window=Window(start=row.window_start, end=row.window_end), computed_at=row.computed_at,
        messages=row.messages, sessions=row.sessions, clustered=row.clustered, seconds=row.seconds,
        embed_seconds=row.embed_seconds, insights=[Insight.model_validate(i) for i in row.insights],
    )


def _insert(session: Session) -> Any:
    """The dialect's INSERT construct (both have ``on_conflict_do_update``)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert
    if dialect == "sqlite":
        return sqlite_insert
    raise ConfigError(f"unsupported database dialect {dialect!r}; use SQLite or PostgreSQL")


def _chunks(items: Sequence[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield list(items[i: i + size])
