"""Stored parsed content: what a sync wrote, kept so a re-index re-chunks and re-embeds without
fetching the source again (``ingest.sync.ContentStore``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from app.tables import DocumentContentRow
from core.db import Database, insert_ignore
from core.models import Document, ParsedDocument
from core.tables import DocumentRow, utcnow

log = logging.getLogger(__name__)
_BATCH = 200


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as the sync wrote it (without its raw bytes) and its parsed content."""

    document: Document
    parsed: ParsedDocument


class SqlContentStore:
    """Parsed content per document in the state database.

    Args:
        db: the state database.
    """

    def __init__(self, *, db: Database) -> None:
        self._db = db

    def save(self, document: Document, parsed: ParsedDocument) -> None:
        """Keep ``parsed`` for ``document`` (replaces what was kept)."""
        meta = document.model_dump(mode="json", exclude={"content", "id"})
        body = parsed.model_dump(mode="json")
        with self._db.session() as s:
            insert_ignore(s, DocumentContentRow, workspace=document.workspace, document_id=document.id,
                          source_name=document.source_id, document=meta, parsed=body,
                          content_hash=parsed.content_hash, updated_at=utcnow())
            s.execute(update(DocumentContentRow)
                      .where(DocumentContentRow.workspace == document.workspace,
                             DocumentContentRow.document_id == document.id)
                      .values(document=meta, parsed=body, content_hash=parsed.content_hash,
                              source_name=document.source_id, updated_at=utcnow()))

    def forget(self, workspace: str, document_ids: list[str]) -> None:
        with self._db.session() as s:
            for start in range(0, len(document_ids), 500):
                s.execute(delete(DocumentContentRow).where(
                    DocumentContentRow.workspace == workspace,
                    DocumentContentRow.document_id.in_(document_ids[start:start + 500])))

    def forget_source(self, workspace: str, source: str) -> None:
        with self._db.session() as s:
            s.execute(delete(DocumentContentRow).where(DocumentContentRow.workspace == workspace,
                                                       DocumentContentRow.source_name == source))

    def indexed_ids(self, workspace: str, source: str) -> set[str]:
        """Ids of the source's documents marked done in the sync state."""
        with self._db.session() as s:
            return set(s.scalars(select(DocumentRow.document_id).where(
                DocumentRow.workspace == workspace, DocumentRow.source_name == source,
                DocumentRow.status == "done")))

    def changed_since(self, workspace: str, source: str, since: datetime) -> set[str]:
        """Documents of the source whose content was saved at or after ``since``."""
        with self._db.session() as s:
            return set(s.scalars(select(DocumentContentRow.document_id).where(
                DocumentContentRow.workspace == workspace, DocumentContentRow.source_name == source,
                DocumentContentRow.updated_at >= since)))

    def missing(self, workspace: str, source: str) -> list[str]:
        """Indexed documents with no stored content (synced before content was stored)."""
        with self._db.session() as s:
            stored = set(s.scalars(select(DocumentContentRow.document_id).where(
                DocumentContentRow.workspace == workspace, DocumentContentRow.source_name == source)))
        return sorted(self.indexed_ids(workspace, source) - stored)

    def stored(self, workspace: str, source: str, only: set[str] | None = None) -> Iterator[StoredDocument]:
        """Stored content of the source's indexed documents (all, or the ids in ``only``), in batches."""
        ids = sorted(self.indexed_ids(workspace, source) if only is None else only)
        for start in range(0, len(ids), _BATCH):
            with self._db.session() as s:
                rows = list(s.scalars(select(DocumentContentRow).where(
                    DocumentContentRow.workspace == workspace,
                    DocumentContentRow.document_id.in_(ids[start:start + _BATCH]))))
            for row in rows:
                yield StoredDocument(document=Document.model_validate(row.document),
                                     parsed=ParsedDocument.model_validate(row.parsed))

    def invalidate(self, workspace: str, document_ids: list[str]) -> None:
        """Make the next full sync re-fetch and re-parse these documents (their content is not stored)."""
        with self._db.session() as s:
            for start in range(0, len(document_ids), 500):
                s.execute(update(DocumentRow).where(
                    DocumentRow.workspace == workspace,
                    DocumentRow.document_id.in_(document_ids[start:start + 500]))
                    .values(fingerprint=None, chunker_version=""))

    def mark_versions(self, workspace: str, versions: dict[str, int], *, chunker_version: str,
                      model_id: str) -> None:
        """Record that these documents (id -> chunk count) are now indexed with the given versions."""
        with self._db.session() as s:
            for doc_id, count in versions.items():
                s.execute(update(DocumentRow).where(DocumentRow.workspace == workspace,
                                                    DocumentRow.document_id == doc_id)
                          .values(chunker_version=chunker_version, model_id=model_id, chunk_count=count))
