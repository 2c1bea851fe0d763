"""Index generations: which collection (built with which model and chunk settings) is live.

Every collection an alias has pointed to is a row of ``index_generations``. The ``live`` row
tells every process which model embeds queries and which chunk settings new syncs use, so
after ``knowdesk reindex --model NEW`` no setting has to change; ``KNOWDESK_EMBEDDING__MODEL``
and ``KNOWDESK_CHUNKING__*`` only choose the first generation of a fresh index.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from qdrant_client import models
from sqlalchemy import Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Database, insert_ignore
from core.settings import Settings
from core.tables import Base, utcnow
from retrieval.edge import EdgeIndex, EdgeStore
from retrieval.index import QdrantIndex, alias_target, qdrant_errors

log = logging.getLogger(__name__)
QdrantClientOrStore = Any  # a qdrant_client.QdrantClient, or an EdgeStore with KNOWDESK_QDRANT__ENGINE=edge


class IndexGenerationRow(Base):
    """``index_generations`` (migration 0600): the collections built for an alias with the model and
    chunk settings that built them; the ``live`` one tells every process which model embeds queries."""

    __tablename__ = "index_generations"

    collection: Mapped[str] = mapped_column(String(400), primary_key=True)
    alias: Mapped[str] = mapped_column(String(200), index=True)
    model: Mapped[str] = mapped_column(Text)
    max_tokens: Mapped[int] = mapped_column(Integer)
    overlap_tokens: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="building")
    documents: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    switched_at: Mapped[datetime | None] = mapped_column(default=None)


class IndexSpec(BaseModel):
    """The model and chunk bounds one collection is built with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    max_tokens: int = Field(ge=32, le=8192)
    overlap_tokens: int = Field(ge=0, le=1024)

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexSpec:
        return cls(model=settings.embedding.model, max_tokens=settings.chunking.max_tokens,
                   overlap_tokens=settings.chunking.overlap_tokens)


class Generations:
    """The generations of one alias in the state database.

    Args:
        db: the state database.
        alias: the Qdrant alias queries go through.
    """

    def __init__(self, *, db: Database, alias: str) -> None:
        self._db = db
        self.alias = alias

    def live(self) -> tuple[str, IndexSpec] | None:
        """(collection, spec) of the live generation, or None when none was ever recorded."""
        with self._db.session() as s:
            row = s.scalar(select(IndexGenerationRow).where(IndexGenerationRow.alias == self.alias,
                                                            IndexGenerationRow.status == "live"))
            if row is None:
                return None
            return row.collection, IndexSpec(model=row.model, max_tokens=row.max_tokens,
                                             overlap_tokens=row.overlap_tokens)

    def record(self, collection: str, spec: IndexSpec, status: str, message: str = "", documents: int = 0) -> None:
        with self._db.session() as s:
            insert_ignore(s, IndexGenerationRow, collection=collection, alias=self.alias, model=spec.model,
                          max_tokens=spec.max_tokens, overlap_tokens=spec.overlap_tokens, status=status,
                          documents=documents, message=message, created_at=utcnow())
            s.execute(update(IndexGenerationRow).where(IndexGenerationRow.collection == collection)
                      .values(model=spec.model, max_tokens=spec.max_tokens, overlap_tokens=spec.overlap_tokens,
                              status=status, message=message, documents=documents))

    def make_live(self, collection: str) -> None:
        """Mark ``collection`` live and every other generation of the alias retired."""
        with self._db.session() as s:
            s.execute(update(IndexGenerationRow)
                      .where(IndexGenerationRow.alias == self.alias, IndexGenerationRow.status == "live",
                             IndexGenerationRow.collection != collection)
                      .values(status="retired"))
            s.execute(update(IndexGenerationRow).where(IndexGenerationRow.collection == collection)
                      .values(status="live", switched_at=utcnow()))

    def mark(self, collection: str, status: str) -> None:
        with self._db.session() as s:
            s.execute(update(IndexGenerationRow).where(IndexGenerationRow.collection == collection)
                      .values(status=status))

    def list(self) -> list[dict[str, Any]]:
        with self._db.session() as s:
            rows = s.scalars(select(IndexGenerationRow).where(IndexGenerationRow.alias == self.alias)
                             .order_by(IndexGenerationRow.created_at.desc()))
            return [{"collection": r.collection, "model": r.model, "max_tokens": r.max_tokens,
                     "overlap_tokens": r.overlap_tokens, "status": r.status, "documents": r.documents,
                     "message": r.message, "created_at": r.created_at.isoformat(),
                     "switched_at": r.switched_at.isoformat() if r.switched_at else None} for r in rows]


class BuildIndex(QdrantIndex):
    """A ``QdrantIndex`` that writes into its own new collection and leaves the alias alone,
    so a re-index builds beside the live collection; ``switch_alias`` makes it live."""

    def ensure_collection(self) -> None:
        with qdrant_errors("prepare the new collection"):
            if not self.client.collection_exists(self.collection_name):
                self._create()
            self._create_payload_indexes()
        self._target = self.collection_name

    def recreate(self) -> None:
        """Drop what an earlier, failed build left behind and create the collection anew."""
        with qdrant_errors("drop a failed build"):
            if self.client.collection_exists(self.collection_name):
                self.client.delete_collection(self.collection_name)
        self._drop_tokens()
        self.ensure_collection()

    def switch_alias(self) -> str | None:
        """Point the alias at this collection in one atomic alias update; returns the old target."""
        with qdrant_errors("switch the alias"):
            old = alias_target(self.client, self.alias)
            ops: list[Any] = []
            if old is not None:
                ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias)))
            ops.append(models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=self.collection_name, alias_name=self.alias)))
            self.client.update_collection_aliases(change_aliases_operations=ops)
        log.info("alias %s: %s -> %s", self.alias, old, self.collection_name)
        return old

    def drop(self) -> None:
        with qdrant_errors("drop a collection"):
            if self.client.collection_exists(self.collection_name):
                self.client.delete_collection(self.collection_name)
        self._drop_tokens()

    def _drop_tokens(self) -> None:
        if self.tokens is not None:
            self.tokens.drop(self.collection_name)


class EdgeBuildIndex(EdgeIndex):
    """``BuildIndex`` on Qdrant Edge: a new shard beside the live one; ``switch_alias`` rewrites
    the alias pointer file atomically (readers see the old or the new collection, never none)."""

    def ensure_collection(self) -> None:
        self._create_shard()
        self._target = self.collection_name

    def recreate(self) -> None:
        """Drop what an earlier, failed build left behind and create the shard anew."""
        self.store.delete_collection(self.collection_name)
        self._drop_tokens()
        self.ensure_collection()

    def switch_alias(self) -> str | None:
        """Point the alias at this collection; returns the old target."""
        old = self.store.alias_target(self.alias)
        self.store.set_alias(self.alias, self.collection_name)
        log.info("alias %s: %s -> %s", self.alias, old, self.collection_name)
        return old

    def drop(self) -> None:
        self.store.delete_collection(self.collection_name)
        self._drop_tokens()

    def _drop_tokens(self) -> None:
        if self.tokens is not None:
            self.tokens.drop(self.collection_name)


def live_collection(engine: QdrantClientOrStore, alias: str) -> str | None:
    """The collection ``alias`` points to, on a qdrant-client client or an Edge store."""
    if isinstance(engine, EdgeStore):
        return engine.alias_target(alias)
    return alias_target(engine, alias)
