"""Sync state: per-document hashes and versions, source cursors, and run records.

A document is 'done' only after its index write succeeded: ``begin_write`` marks it 'pending'
(forgetting its fingerprint) before the index is touched and ``mark_done`` records the new
state after, so a run killed in between redoes the document next time instead of skipping it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.db import Database, insert_ignore
from core.models import Document, RunReport
from core.tables import ConnectorStateRow, DocumentRow, RunRow, SourceRow, utcnow


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What the state database remembers of one indexed document."""

    document_id: str
    native_id: str
    fingerprint: str | None
    content_hash: str | None
    chunker_version: str
    model_id: str
    chunk_count: int
    status: str

    def is_current(self, *, chunker_version: str, model_id: str) -> bool:
        return self.status == "done" and self.chunker_version == chunker_version and self.model_id == model_id


class SyncState:
    """The sync state of one source.

    Args:
        db: the state database.
        workspace: the source's workspace.
        source: the source's name (its source id).
    """

    def __init__(self, *, db: Database, workspace: str, source: str) -> None:
        self._db = db
        self.workspace = workspace
        self.source = source

    # -- documents -------------------------------------------------------------------------
    def get(self, document_id: str) -> DocumentState | None:
        with self._db.session() as s:
            row = s.get(DocumentRow, (self.workspace, document_id))
            return _state(row) if row else None

    def get_many(self, document_ids: Sequence[str]) -> dict[str, DocumentState]:
        if not document_ids:
            return {}
        with self._db.session() as s:
            rows = s.scalars(
                select(DocumentRow).where(
                    DocumentRow.workspace == self.workspace, DocumentRow.document_id.in_(document_ids)
                )
            )
            return {r.document_id: _state(r) for r in rows}

    def begin_write(self, document: Document) -> None:
        """Record that the document's index write starts: it is 'pending' until ``mark_done``."""
        with self._db.session() as s:
            self._ensure_row(s, document)
            s.execute(
                update(DocumentRow)
                .where(DocumentRow.workspace == self.workspace, DocumentRow.document_id == document.id)
                .values(status="pending", fingerprint=None)
            )

    def _ensure_row(self, s: Session, document: Document) -> None:
        insert_ignore(
            s,
            DocumentRow,
            workspace=self.workspace,
            document_id=document.id,
            source_name=self.source,
            native_id=document.native_id,
            title=document.title,
            kind=str(document.kind),
            chunker_version="",
            model_id="",
            chunk_count=0,
            status="pending",
        )

    def mark_done(
        self,
        document: Document,
        *,
        content_hash: str,
        chunk_count: int,
        chunker_version: str,
        model_id: str,
        fingerprint: str | None = None,
    ) -> None:
        """Record a successful index write of ``document``. ``fingerprint`` defaults to the
        document's own; pass the connector's original when the sync filled in fields."""
        with self._db.session() as s:
            self._ensure_row(s, document)
            row = s.get(DocumentRow, (self.workspace, document.id), with_for_update=True)
            assert row is not None
            row.source_name = self.source
            row.native_id = document.native_id
            row.title = document.title
            row.uri = document.uri
            row.kind = str(document.kind)
            row.language = document.language
            row.fingerprint = fingerprint or document.fingerprint
            row.content_hash = content_hash
            row.chunker_version = chunker_version
            row.model_id = model_id
            row.chunk_count = chunk_count
            row.status = "done"
            row.source_updated_at = document.updated_at
            row.synced_at = utcnow()

    def touch_fingerprint(self, document: Document) -> None:
        """The raw bytes changed but the parsed text did not: remember the new fingerprint."""
        with self._db.session() as s:
            s.execute(
                update(DocumentRow)
                .where(DocumentRow.workspace == self.workspace, DocumentRow.document_id == document.id)
                .values(fingerprint=document.fingerprint, title=document.title, uri=document.uri, synced_at=utcnow())
            )

    def forget(self, document_ids: Iterable[str]) -> None:
        ids = list(document_ids)
        with self._db.session() as s:
            for start in range(0, len(ids), 500):
                s.execute(
                    delete(DocumentRow).where(
                        DocumentRow.workspace == self.workspace,
                        DocumentRow.document_id.in_(ids[start : start + 500]),
                    )
                )

    def indexed(self) -> dict[str, str]:
        """native id -> document id of every document of this source in the state."""
        with self._db.session() as s:
            rows = s.execute(
                select(DocumentRow.native_id, DocumentRow.document_id).where(
                    DocumentRow.workspace == self.workspace, DocumentRow.source_name == self.source
                )
            )
            return {native: doc for native, doc in rows}

    def count(self) -> int:
        with self._db.session() as s:
            return int(
                s.scalar(
                    select(func.count()).where(
                        DocumentRow.workspace == self.workspace, DocumentRow.source_name == self.source
                    )
                )
                or 0
            )

    # -- cursor ------------------------------------------------------------------------------
    def cursor(self) -> dict[str, Any] | None:
        with self._db.session() as s:
            return s.scalar(
                select(SourceRow.cursor).where(SourceRow.workspace == self.workspace, SourceRow.name == self.source)
            )

    def save_cursor(self, cursor: dict[str, Any] | None) -> None:
        with self._db.session() as s:
            s.execute(
                update(SourceRow)
                .where(SourceRow.workspace == self.workspace, SourceRow.name == self.source)
                .values(cursor=cursor)
            )

    # -- runs --------------------------------------------------------------------------------
    def start_run(self, report: RunReport) -> str:
        """Record a new run; earlier runs of the source still 'running' are closed as 'interrupted'.

        Called while holding the source's lease (one sync per source at a time), so a run still
        marked running belongs to a process that ended without finishing it (SIGKILL, a power cut, a
        lost container), never to a live one.
        """
        run_id = str(uuid.uuid4())
        with self._db.session() as s:
            stale = s.scalars(select(RunRow).where(RunRow.workspace == self.workspace,
                                                   RunRow.source_name == self.source, RunRow.status == "running"))
            for row in stale:
                notes = [*row.report.get("notes", []), INTERRUPTED_NOTE]
                row.status, row.finished_at = "interrupted", utcnow()
                row.report = {**row.report, "status": "interrupted", "notes": notes}
            s.add(
                RunRow(
                    id=run_id,
                    workspace=self.workspace,
                    source_name=self.source,
                    mode=report.mode,
                    status="running",
                    report=report.summary(),
                )
            )
        return run_id

    def update_run(self, run_id: str, report: RunReport) -> None:
        """Save a running run's counts so far (its status stays 'running')."""
        with self._db.session() as s:
            s.execute(update(RunRow).where(RunRow.id == run_id, RunRow.status == "running")
                      .values(report=report.summary() | {"status": "running"}))

    def finish_run(self, run_id: str, report: RunReport) -> None:
        with self._db.session() as s:
            s.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(status=report.status, finished_at=utcnow(), report=report.summary())
            )

    def forget_runs(self) -> int:
        """Delete every run record of this source (the source is being removed); returns how many."""
        with self._db.session() as s:
            result = s.execute(delete(RunRow).where(RunRow.workspace == self.workspace,
                                                    RunRow.source_name == self.source))
            return int(getattr(result, "rowcount", 0) or 0)

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._db.session() as s:
            rows = s.scalars(
                select(RunRow)
                .where(RunRow.workspace == self.workspace, RunRow.source_name == self.source)
                .order_by(RunRow.started_at.desc())
                .limit(limit)
            )
            return [_run(r) for r in rows]


INTERRUPTED_NOTE = ("interrupted: its process ended without finishing the run (killed?); the documents it wrote "
                    "are kept, nothing was deleted, and the next sync redid the rest")


def _state(row: DocumentRow) -> DocumentState:
    return DocumentState(
        document_id=row.document_id,
        native_id=row.native_id,
        fingerprint=row.fingerprint,
        content_hash=row.content_hash,
        chunker_version=row.chunker_version,
        model_id=row.model_id,
        chunk_count=row.chunk_count,
        status=row.status,
    )


def _run(row: RunRow) -> dict[str, Any]:
    finished: datetime | None = row.finished_at
    return {
        "id": row.id,
        "source": row.source_name,
        "mode": row.mode,
        "status": row.status,
        "started_at": row.started_at.isoformat(),
        "finished_at": finished.isoformat() if finished else None,
        "report": row.report,
    }


class SqlConnectorStore:
    """The ``ConnectorStore`` of one source, in the state database."""

    def __init__(self, *, db: Database, workspace: str, source: str) -> None:
        self._db = db
        self._where = (ConnectorStateRow.workspace == workspace, ConnectorStateRow.source_name == source)
        self._ws, self._source = workspace, source

    def get(self, key: str) -> dict[str, Any] | None:
        with self._db.session() as s:
            row = s.get(ConnectorStateRow, (self._ws, self._source, key))
            return dict(row.value) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.put_many({key: value})

    def put_many(self, values: Mapping[str, dict[str, Any]]) -> None:
        with self._db.session() as s:
            for key, value in values.items():
                insert_ignore(
                    s,
                    ConnectorStateRow,
                    workspace=self._ws,
                    source_name=self._source,
                    key=key,
                    value=value,
                    updated_at=utcnow(),
                )
                s.execute(
                    update(ConnectorStateRow)
                    .where(*self._where, ConnectorStateRow.key == key)
                    .values(value=value, updated_at=utcnow())
                )

    def delete(self, keys: list[str]) -> None:
        with self._db.session() as s:
            for start in range(0, len(keys), 500):
                s.execute(
                    delete(ConnectorStateRow).where(*self._where, ConnectorStateRow.key.in_(keys[start : start + 500]))
                )

    def keys(self) -> list[str]:
        with self._db.session() as s:
            return list(s.scalars(select(ConnectorStateRow.key).where(*self._where)))

    def clear(self) -> None:
        with self._db.session() as s:
            s.execute(delete(ConnectorStateRow).where(*self._where))
