"""Knowledge CI for syncs: a sync of a gated source (``KNOWDESK_KNOWLEDGE_CI__SYNCS``) that changes
documents writes into a staged collection instead of the live one, and goes live only once the
replay lets it through (or a person accepts it).

1. The source's documents' state rows and its cursor are read before the run (a document's kept
   content just before the run first writes it). The run writes through ``StagingWriter``: the
   first write or delete copies the workspace's live points into a staged collection
   (``retrieval.staging``) and every write goes there; a run that changes nothing never copies
   anything (an unchanged sync costs one read of the state rows). A bad page is a failure in the
   report as in any run; the rest is reviewed.
2. The state the run left (``after``) is read and the state before is put back, so the state
   always describes the live index. The staged collection is reviewed like any change.
3. Passed or accepted: the touched documents' live points are replaced by their staged points,
   ``after`` becomes the state, the staged collection is dropped. Held: the staged collection stays
   until the change is decided; meanwhile syncs of the source are refused (409). Rejected: the
   staged collection is dropped and the changed documents' fingerprints are kept, so later syncs
   skip them until they change again at the source (the live index keeps the old text).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, select, update

from app.knowledge_ci.models import ChangeKind, ChangeStatus
from app.tables import DocumentContentRow
from core.db import Database
from core.errors import Conflict, KnowdeskError
from core.models import Chunk, Document, RunReport, Source
from core.tables import Base, DocumentRow, SourceRow
from ingest.protocols import IndexWriter
from ingest.sync import Pipeline
from retrieval.staging import StagedIndex, staged_name

if TYPE_CHECKING:
    from app.knowledge_ci.service import KnowledgeCI
    from app.runtime import Runtime

log = logging.getLogger(__name__)
_TABLES: tuple[type[Base], ...] = (DocumentRow, DocumentContentRow)
_DATETIME = "$datetime"  # how a timestamp is kept in a row's JSON


class SourceState:
    """Sync state of some of a source's documents as JSON (their rows in ``_TABLES``), and its cursor."""

    def __init__(self, rows: Mapping[str, list[dict[str, Any]]], cursor: dict[str, Any] | None) -> None:
        self.rows = {k: list(v) for k, v in rows.items()}
        self.cursor = cursor

    @classmethod
    def take(cls, db: Database, workspace: str, source: str, *, documents: Sequence[str] | None = None,
             tables: Sequence[type[Base]] = _TABLES) -> SourceState:
        """The rows of ``documents`` (every document of the source when None) in ``tables``."""
        rows: dict[str, list[dict[str, Any]]] = {}
        with db.session() as s:
            for table in tables:
                where = [table.workspace == workspace, table.source_name == source]  # type: ignore[attr-defined]
                found: list[Base] = []
                if documents is None:
                    found = list(s.scalars(select(table).where(*where)))
                else:
                    for batch in _batches(documents):
                        found += s.scalars(select(table).where(*where, table.document_id.in_(batch)))  # type: ignore[attr-defined]
                rows[table.__tablename__] = [_row_json(table, r) for r in found]
            cursor = s.scalar(select(SourceRow.cursor).where(SourceRow.workspace == workspace,
                                                             SourceRow.name == source))
        return cls(rows, cursor)

    def only(self, documents: Sequence[str]) -> SourceState:
        keep = set(documents)
        return SourceState({k: [r for r in v if r["document_id"] in keep] for k, v in self.rows.items()}, self.cursor)

    def merged(self, other: SourceState) -> SourceState:
        return SourceState({**self.rows, **other.rows}, self.cursor)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceState:
        return cls(data.get("rows", {}), data.get("cursor"))

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "cursor": self.cursor}

    def put(self, db: Database, workspace: str, source: str, documents: Sequence[str]) -> None:
        """Make the stored state of ``documents`` (and the source's cursor) exactly this one."""
        wanted = set(documents)
        with db.session() as s:
            for table in _TABLES:
                for batch in _batches(documents):
                    s.execute(delete(table).where(table.workspace == workspace,  # type: ignore[attr-defined]
                                                  table.document_id.in_(batch)))  # type: ignore[attr-defined]
                for row in self.rows.get(table.__tablename__, []):
                    if row["document_id"] in wanted:
                        s.add(table(**_row_values(table, row)))
            s.execute(update(SourceRow).where(SourceRow.workspace == workspace, SourceRow.name == source)
                      .values(cursor=self.cursor))

    def fingerprints(self) -> dict[str, str | None]:
        return {r["document_id"]: r.get("fingerprint") for r in self.rows.get(DocumentRow.__tablename__, [])}


def _batches(ids: Sequence[str], size: int = 500) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


def _row_json(table: type[Base], row: Base) -> dict[str, Any]:
    out = {}
    for column in table.__table__.columns:
        value = getattr(row, column.name)
        out[column.name] = {_DATETIME: value.isoformat()} if isinstance(value, datetime) else value
    return out


def _row_values(table: type[Base], data: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for column in table.__table__.columns:
        value = data.get(column.name)
        if isinstance(value, dict) and set(value) == {_DATETIME}:
            value = datetime.fromisoformat(value[_DATETIME])
        out[column.name] = value
    return out


class StagingWriter:
    """An ``IndexWriter`` that leaves the live index alone: the first write or delete creates the
    staged collection (``make``: a copy of the live points) and every write goes there.

    Args:
        live: the live index (created if missing; read for vectors to reuse until staging starts).
        make: creates the staged collection.
    """

    def __init__(self, *, live: IndexWriter, make: Callable[[], StagedIndex],
                 touching: Callable[[Sequence[str]], None]) -> None:
        self.live = live
        self.make = make
        self.touching = touching
        self.staged: StagedIndex | None = None
        self.touched: dict[str, None] = {}

    def _target(self, document_ids: Sequence[str]) -> StagedIndex:
        if self.staged is None:
            self.staged = self.make()
        new = [d for d in document_ids if d not in self.touched]
        if new:
            self.touching(new)  # before their kept content changes
            self.touched.update(dict.fromkeys(new))
        return self.staged

    def ensure_collection(self) -> None:
        self.live.ensure_collection()

    def replace_document(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
                         previous_chunks: int | None = None) -> None:
        self._target([document.id]).replace_document(document, chunks, vectors, previous_chunks=previous_chunks)

    def add_chunks(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self._target([document.id]).add_chunks(document, chunks, vectors)

    def delete_documents(self, workspace: str, document_ids: Sequence[str]) -> None:
        if not document_ids:
            return
        self._target(document_ids).delete_documents(workspace, document_ids)

    def existing_vectors(self, workspace: str, chunk_hashes: Sequence[str]) -> Mapping[str, np.ndarray]:
        return (self.staged or self.live).existing_vectors(workspace, chunk_hashes)


def gated_sync(rt: Runtime, ci: KnowledgeCI, source: Source, run: Callable[[Pipeline], RunReport]) -> RunReport:
    """Run ``run`` (one sync of ``source``) through knowledge CI (see the module docstring).

    Raises:
        Conflict: a held change of this source waits for a decision. KnowdeskError: the run or the
            review failed (the state and the live index are as before the run).
    """
    workspace, name = source.workspace, source.name
    live = rt.engine.live_collection()
    if live is None:  # nothing is live yet: nothing to compare answers with
        return run(rt.pipeline())
    waiting = [c for c in ci.list(workspace, status=ChangeStatus.PENDING, limit=1000)
               if c.kind is ChangeKind.SYNC and c.change.get("source") == name]
    if waiting:
        raise Conflict(f"a sync of {name!r} is held by knowledge CI as {waiting[0].id}; accept or reject it "
                       f"(`knowdesk knowledge-ci show {waiting[0].id}`) before syncing the source again",
                       change=waiting[0].id, source=name)
    # the documents' rows change before their first index write, their kept content after it
    rows_before = SourceState.take(rt.db, workspace, name, tables=(DocumentRow,))
    content_before: list[SourceState] = []
    change_id = "kc" + secrets.token_hex(8)
    c = rt.components

    def make() -> StagedIndex:
        staged = rt.engine.staged_index(name=staged_name(live, change_id), model_id=c.embedder.model_id,
                                        dimension=c.embedder.dimension, chunker_version=c.chunker.version,
                                        sparse=rt.sparse)
        staged.copy_from(live, workspace)
        return staged

    def touching(documents: Sequence[str]) -> None:
        content_before.append(SourceState.take(rt.db, workspace, name, documents=documents,
                                               tables=(DocumentContentRow,)))

    def before() -> SourceState:
        content = [r for part in content_before for r in part.rows.get(DocumentContentRow.__tablename__, [])]
        return rows_before.only(touched).merged(SourceState({DocumentContentRow.__tablename__: content}, None))

    writer = StagingWriter(live=c.ensured_index, make=make, touching=touching)
    touched: list[str] = []
    try:
        report = run(replace(rt.pipeline(), writer=writer))
    except BaseException:
        touched = list(writer.touched)
        before().put(rt.db, workspace, name, touched)
        _drop(writer.staged)
        raise
    staged = writer.staged
    if staged is None:
        return report  # no document changed: nothing to review
    touched = list(writer.touched)
    after = SourceState.take(rt.db, workspace, name, documents=touched)
    was = before()
    was.put(rt.db, workspace, name, touched)
    change = {"source": name, "live": live, "staged": staged.collection_name, "documents": touched,
              "before": was.to_json(), "after": after.to_json()}
    subject = f"sync {name}: {report.written} written, {report.deleted} deleted"
    try:
        reviewed = ci.review_staged(workspace, kind=ChangeKind.SYNC, subject=subject, searcher_of=staged,
                                    documents=touched, change=change, change_id=change_id)
    except BaseException:
        _drop(staged)
        raise
    if reviewed.status is ChangeStatus.PENDING:
        report.notes.append(f"HELD by knowledge CI as {reviewed.id}: {len(reviewed.report.changed)} answers changed; "
                            f"the live index is as before. See `knowdesk knowledge-ci show {reviewed.id}`")
        return report
    promote(rt, workspace, change, staged=staged)
    ci.went_live(workspace)
    return report


def promote(rt: Runtime, workspace: str, change: Mapping[str, Any], *, staged: StagedIndex | None = None) -> None:
    """Make a reviewed sync live: its documents' staged points replace the live ones and the state it
    left becomes the source's state; the staged collection is dropped.

    Raises:
        Conflict: the live collection changed (a model switch) or the staged one is gone since the review.
    """
    live = rt.engine.live_collection()
    if live is None or live != change["live"]:
        raise Conflict(f"the live index changed ({change['live']} -> {live}) since this sync was held; reject it "
                       "and sync the source again", live=live)
    staged = staged or _open(rt, str(change["staged"]))
    documents = list(change["documents"])
    rt.index.delete_documents(workspace, documents)
    copied = staged.copy_into(live, workspace, documents)
    SourceState.from_json(change["after"]).put(rt.db, workspace, str(change["source"]), documents)
    rt.engine.after_writes(rt.index)
    log.info("sync of %s went live: %d documents, %d points", change["source"], len(documents), copied)
    _drop(staged)


def accept_sync(rt: Runtime, workspace: str, change: dict[str, Any]) -> None:
    """Apply an accepted sync (``promote``), refused when the source's state moved since it was held."""
    now = SourceState.take(rt.db, workspace, str(change["source"]), documents=list(change["documents"]),
                           tables=(DocumentRow,))
    if now.fingerprints() != SourceState.from_json(change["before"]).fingerprints():
        raise Conflict(f"source {change['source']!r} changed since this sync was held; reject it and sync again",
                       source=change["source"])
    promote(rt, workspace, change)


def reject_sync(rt: Runtime, workspace: str, change: dict[str, Any]) -> None:
    """Drop a rejected sync's staged collection and keep its documents' new fingerprints, so later
    syncs skip them until they change at the source again (the live index keeps the old text)."""
    with _suppressed("drop the staged collection"):
        _drop(_open(rt, str(change["staged"])))
    after = SourceState.from_json(change["after"]).fingerprints()
    known = SourceState.take(rt.db, workspace, str(change["source"]), documents=list(change["documents"]),
                             tables=(DocumentRow,)).fingerprints()
    _keep_fingerprints(rt.db, workspace, {d: f for d, f in after.items() if d in known and f and known[d] != f})


def _keep_fingerprints(db: Database, workspace: str, fingerprints: Mapping[str, str | None]) -> None:
    with db.session() as s:
        for document_id, fingerprint in fingerprints.items():
            s.execute(update(DocumentRow).where(DocumentRow.workspace == workspace,
                                                DocumentRow.document_id == document_id, DocumentRow.status == "done")
                      .values(fingerprint=fingerprint))


def _open(rt: Runtime, name: str) -> StagedIndex:
    c = rt.components
    staged = rt.engine.staged_index(name=name, model_id=c.embedder.model_id, dimension=c.embedder.dimension,
                                    chunker_version=c.chunker.version, sparse=rt.sparse)
    if not rt.engine.collection_exists(name):
        raise Conflict(f"the staged collection {name} of this change is gone; reject it and sync the source again",
                       collection=name)
    return staged


def _drop(staged: StagedIndex | None) -> None:
    if staged is None:
        return
    try:
        staged.drop()
    except KnowdeskError as exc:
        log.warning("could not drop the staged collection %s: %s", staged.collection_name, exc.message)


class _suppressed:
    """Log and go on when a ``KnowdeskError`` is raised inside (cleaning up what may be gone already)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, KnowdeskError):
            log.info("could not %s: %s", self.what, exc.message)
            return True
        return False

