"""The one document writer: embed, mark pending, replace the points, mark done, keep the content;
and the matching deletes (points, sync state, stored content).

Every producer of index content writes through it: the sync (``ingest.sync``), help-center
publishing (``helpcenter.publisher``), training scenarios (``training.indexing``), actions
(``actions.indexing``) and the re-index (``app.reindex``, which passes no sync state: it builds a
collection beside the live one and records the versions itself).

A document is 'pending' in the sync state while its points are being replaced and 'done' after,
so a run killed in between redoes it instead of skipping it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from core.ids import content_hash
from core.models import Chunk, Document, ParsedDocument
from ingest.protocols import Embedder, IndexWriter, TokenEmbedder, TokenWriter
from ingest.state import SyncState

log = logging.getLogger(__name__)


class ContentStore(Protocol):
    """Where each written document's parsed content is kept, so a re-index needs no fetch
    (``app.content.SqlContentStore``)."""

    def save(self, document: Document, parsed: ParsedDocument) -> None: ...

    def forget(self, workspace: str, document_ids: list[str]) -> None: ...


def indexed_hash(doc: Document, parsed: ParsedDocument) -> str:
    """The text and every field that reaches the index: a rename or a move rewrites the document
    (its citation and payload change), cosmetic byte changes with equal text do not. The sync and
    help-center publishing compare it with the sync state's ``content_hash`` to skip a rewrite."""
    return content_hash(
        parsed.content_hash, doc.title, doc.uri or "", doc.kind, doc.language or "", "/".join(doc.topic),
        ",".join(doc.audience), repr(sorted(doc.metadata.items())),
    )


@dataclass(frozen=True, slots=True)
class WriteItem:
    """One document to write, with its chunks.

    Args:
        content_hash: what the sync state records to skip an unchanged document next time.
        parsed: kept in the content store when given (a re-index rebuilds from it).
        fingerprint: the connector's fingerprint, when the sync filled in fields (default: the document's).
        previous_chunks: the chunk count of the last complete write, when known.
        first, last: a large document streams through the sync as several items, its chunks'
            indexes continuing from one to the next: the first replaces the document's points and
            marks it pending, the others add theirs, the last marks it done (an item on its own is
            both).
    """

    document: Document
    chunks: list[Chunk]
    content_hash: str = ""
    parsed: ParsedDocument | None = None
    fingerprint: str | None = None
    previous_chunks: int | None = None
    first: bool = True
    last: bool = True


class Embedded(NamedTuple):
    """One item's chunk vectors (n, dimension) and, when the index keeps them, each chunk's token
    vectors from the same forward pass (``TokenWriter``; opaque here)."""

    vectors: np.ndarray
    tokens: list[Any] | None = None


@dataclass(slots=True)
class WriteStats:
    """What ``DocumentWriter.write`` did."""

    written: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    #: chunks whose token vectors were kept for the late stage (``TokenWriter``)
    chunks_tokens: int = 0
    #: reused chunks (vector kept) whose token vectors were missing and computed (``TokenWriter``)
    chunks_tokens_filled: int = 0
    #: document id -> chunk count, of the documents written
    chunks: dict[str, int] = field(default_factory=dict)


class DocumentWriter:
    """Writes documents' chunks into one index and records them in one source's sync state.

    Args:
        embedder: the index's model.
        index: where the points go.
        chunker_version: recorded with each document (its chunks' version).
        state: the source's sync state (None: record nothing, e.g. a re-index's new collection).
        content: keeps parsed content of written documents (optional).
        batch_chunks: chunks embedded per model call, across documents.
        reuse_vectors: take the vectors of chunks whose text is already in the index (a sync).

    Example::

        writer = DocumentWriter(embedder=embedder, index=index, chunker_version=chunker.version,
                                state=SyncState(db=db, workspace="default", source="docs"))
        writer.write([WriteItem(document=doc, chunks=chunks, content_hash=parsed.content_hash)])
        writer.delete("default", ["docs:old.md"])
    """

    def __init__(self, *, embedder: Embedder, index: IndexWriter, chunker_version: str,
                 state: SyncState | None = None, content: ContentStore | None = None, batch_chunks: int = 256,
                 reuse_vectors: bool = False) -> None:
        self.embedder = embedder
        self.index = index
        self.chunker_version = chunker_version
        self.state = state
        self.content = content
        self.batch_chunks = max(1, batch_chunks)
        self.reuse_vectors = reuse_vectors
        self._ensured = False
        # index calls from the sync's two threads (vector look-ups while embedding, writes in its
        # writer thread) take turns: Qdrant's local mode is not safe for concurrent use
        self._index_lock = threading.RLock()

    def ensure(self) -> None:
        """Prepare the index once per writer."""
        with self._index_lock:
            if not self._ensured:
                self.index.ensure_collection()
                self._ensured = True

    def write(self, items: Iterable[WriteItem]) -> WriteStats:
        """Embed and write the items, ``batch_chunks`` chunks per model call; items without chunks
        are skipped."""
        stats = WriteStats()
        for group in _groups(items, self.batch_chunks):
            self.store(group, self.embed(group, stats), stats)
        return stats

    def _keeps_tokens(self) -> bool:
        """Whether the index keeps token vectors of this embedder's model (``TokenWriter``), and the
        embedder hands them out with its vectors (``TokenEmbedder``): the default MiniLM does; the
        int8 and e5 encoders do not, and then the late stage computes them at query time."""
        model = getattr(self.index, "token_model", None)
        return (model is not None and model == getattr(self.embedder, "token_model", None)
                and isinstance(self.embedder, TokenEmbedder) and isinstance(self.index, TokenWriter))

    def embed(self, group: list[WriteItem], stats: WriteStats) -> list[Embedded]:
        """The vectors of each item's chunks (one model call for the group; with ``reuse_vectors``,
        chunks whose text is already in the index take the stored vector), with their token vectors
        when the index keeps them (from the same forward pass, or reused with the stored vector; a
        reused chunk without stored token vectors gets them from that forward pass, its vector kept)."""
        if not group:
            return []
        self.ensure()
        workspace = group[0].document.workspace
        keep = self._keeps_tokens()
        stored: Mapping[str, np.ndarray] = {}
        stored_tokens: Mapping[str, Any] = {}
        if self.reuse_vectors:
            hashes = [c.hash for g in group for c in g.chunks]
            with self._index_lock:
                stored = self.index.existing_vectors(workspace, hashes)
                if keep and isinstance(self.index, TokenWriter):
                    stored_tokens = self.index.existing_tokens(workspace, [h for h in hashes if h in stored])
        vectors: list[list[np.ndarray | None]] = [[stored.get(c.hash) for c in g.chunks] for g in group]
        tokens: list[list[Any]] = [[stored_tokens.get(c.hash) for c in g.chunks] for g in group]
        todo = [(i, j) for i, vs in enumerate(vectors) for j, v in enumerate(vs) if v is None]
        # a reused vector whose chunk has no token vectors (an index written before they were stored):
        # its tokens come from the same forward pass as the new chunks', its stored vector is kept
        fill = [(i, j) for i, ts in enumerate(tokens) for j, t in enumerate(ts)
                if keep and t is None and vectors[i][j] is not None]
        if todo or fill:
            texts = [group[i].chunks[j].embed_text for i, j in [*todo, *fill]]
            fresh_tokens: Sequence[Any]
            if keep:
                fresh, fresh_tokens = self.embedder.embed_documents_with_tokens(texts)  # type: ignore[attr-defined]
            else:
                fresh, fresh_tokens = self.embedder.embed_documents(texts), [None] * len(todo)
            for n, ((i, j), found) in enumerate(zip([*todo, *fill], fresh_tokens, strict=True)):
                if n < len(todo):
                    vectors[i][j] = fresh[n]
                tokens[i][j] = found
        stats.chunks_embedded += len(todo)
        stats.chunks_tokens_filled += len(fill)
        stats.chunks_reused += sum(len(g.chunks) for g in group) - len(todo)
        return [Embedded(np.stack([v for v in vs if v is not None]), ts if keep else None)
                for vs, ts in zip(vectors, tokens, strict=True)]

    def store(self, group: list[WriteItem], vectors: list[Embedded], stats: WriteStats) -> None:
        """Write embedded items in order: pending, points, done (and the content), per document."""
        with self._index_lock:
            self._store(group, vectors, stats)

    def _store(self, group: list[WriteItem], vectors: list[Embedded], stats: WriteStats) -> None:
        self.ensure()
        for item, (stacked, tokens) in zip(group, vectors, strict=True):
            document = item.document
            if item.first:
                if self.state is not None:
                    self.state.begin_write(document)
                self.index.replace_document(document, item.chunks, stacked, previous_chunks=item.previous_chunks)
            else:
                self.index.add_chunks(document, item.chunks, stacked)
            if tokens is not None and isinstance(self.index, TokenWriter):
                self.index.write_tokens(document, item.chunks, tokens)
                stats.chunks_tokens += sum(1 for t in tokens if t is not None)
            if not item.last:
                continue
            n = item.chunks[-1].index + 1
            if self.state is not None:
                self.state.mark_done(document, content_hash=item.content_hash, chunk_count=n,
                                     chunker_version=self.chunker_version, model_id=self.embedder.model_id,
                                     fingerprint=item.fingerprint)
            if self.content is not None and item.parsed is not None:
                self.content.save(document, item.parsed)
            stats.written += 1
            stats.chunks[document.id] = n

    def delete(self, workspace: str, document_ids: list[str]) -> None:
        """Remove these documents' points, their sync state and their stored content."""
        if not document_ids:
            return
        self.ensure()
        with self._index_lock:
            self.index.delete_documents(workspace, document_ids)
        if self.state is not None:
            self.state.forget(document_ids)
        if self.content is not None:
            self.content.forget(workspace, document_ids)


def _groups(items: Iterable[WriteItem], batch_chunks: int) -> Iterator[list[WriteItem]]:
    group: list[WriteItem] = []
    size = 0
    for item in items:
        if not item.chunks:
            continue
        group.append(item)
        size += len(item.chunks)
        if size >= batch_chunks:
            yield group
            group, size = [], 0
    if group:
        yield group
