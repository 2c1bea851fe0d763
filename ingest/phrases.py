"""Documents whose chunks are short phrases, each embedded on its own (action phrasings, scenario
triggers): one base that checks currency, writes through the one document writer and removes.

Subclasses set ``chunker_version`` and pass their source id; the public ``index`` of each
subclass decides what to write and calls ``write_phrases``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from core.db import Database
from core.ids import content_hash
from core.models import Chunk, Document
from ingest.state import SyncState
from ingest.sync import Pipeline
from ingest.write import DocumentWriter, WriteItem


class PhraseIndexer:
    """Tracks phrase documents in the state database like a source's documents.

    Args:
        pipeline: returns the live embedder and index writer (called per write, so a switch of the
            live index is followed; the parser and chunker are not used).
        db: the state database.
        source_id: the source the documents are filed under.
    """

    chunker_version = "phrases-1"

    def __init__(self, *, pipeline: Callable[[], Pipeline], db: Database, source_id: str) -> None:
        self._pipeline = pipeline
        self._db = db
        self.source_id = source_id

    def state(self, workspace: str) -> SyncState:
        return SyncState(db=self._db, workspace=workspace, source=self.source_id)

    def write_phrases(self, doc: Document, phrases: list[str]) -> bool:
        """Embed and write ``doc`` with one chunk per phrase unless it is current; returns whether it was written."""
        state = self.state(doc.workspace)
        writer = self._writer(state)
        known = state.get(doc.id)
        if known and known.is_current(chunker_version=self.chunker_version, model_id=writer.embedder.model_id) \
                and known.fingerprint == doc.fingerprint:
            return False
        writer.write([self.item(doc, phrases, writer=writer)])
        return True

    def item(self, doc: Document, phrases: list[str], *, writer: DocumentWriter | None = None) -> WriteItem:
        """What writing ``doc`` hands the document writer: one chunk per phrase (also what knowledge CI
        writes into a staged index)."""
        count = (writer.embedder if writer else self._pipeline().embedder).count_tokens
        chunks = [Chunk(document_id=doc.id, index=i, text=t, embed_text=t, section=(), token_count=count(t))
                  for i, t in enumerate(phrases)]
        return WriteItem(document=doc, chunks=chunks, content_hash=content_hash(*phrases))

    def remove(self, workspace: str, native_ids: Iterable[str]) -> int:
        """Delete documents from the index by native id; returns how many were indexed."""
        state = self.state(workspace)
        indexed = state.indexed()
        doc_ids = [indexed[n] for n in native_ids if n in indexed]
        self._writer(state).delete(workspace, doc_ids)
        return len(doc_ids)

    def _writer(self, state: SyncState) -> DocumentWriter:
        return self._pipeline().document_writer(state, chunker_version=self.chunker_version, keep_content=False)
