"""What every index engine offers (qdrant-client's ``QdrantIndex`` and ``QdrantCandidates``, Qdrant
Edge's ``EdgeIndex`` and ``EdgeCandidates``), so callers hold an ``Index`` or a ``Searcher`` from
``retrieval.factory`` and never a concrete engine class. The engines share code through plain
functions (``retrieval.points``), not through a base class.

The write side matches ``ingest.protocols.IndexWriter``, which the sync consumes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from core.models import Chunk, Document, Hit
from retrieval.candidates import ListQuery


class Index(Protocol):
    """One collection of the alias: per-document writes and deletes, counts, chunk listings.

    Example::

        index.ensure_collection()
        index.replace_document(document, chunks, vectors)
        index.count("default", source_id="docs")
    """

    alias: str
    #: The collection this model and chunker write (``<alias>__<model>__<chunker>__d<dimension>``).
    collection_name: str

    @property
    def target(self) -> str:
        """The collection writes go to (after ``ensure_collection``)."""
        ...

    def ensure_collection(self) -> None:
        """Create the collection, its payload indexes and the alias when missing. Idempotent."""
        ...

    def replace_document(
        self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray, previous_chunks: int | None = None
    ) -> None:
        """Replace the document's points with one point per chunk."""
        ...

    def add_chunks(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Upsert one point per chunk and delete nothing: the later parts of a document streamed
        in parts, after ``replace_document`` wrote its first part."""
        ...

    def delete_documents(self, workspace: str, document_ids: Sequence[str]) -> None:
        """Remove every point of these documents in the workspace."""
        ...

    def delete_source(self, workspace: str, source_id: str) -> None:
        """Remove every point of one source in the workspace."""
        ...

    def count(self, workspace: str, **filters: str | Sequence[str] | None) -> int:
        """Points in the workspace matching keyword filters."""
        ...

    def document_chunk_ids(self, workspace: str, document_id: str) -> list[str]:
        """Chunk ids of a document, in chunk order."""
        ...

    def stored_chunks(self, workspace: str, kinds: Sequence[str] = ...) -> Iterator[tuple[Hit, np.ndarray]]:
        """Every chunk of the workspace of these kinds (default: knowledge) with its dense vector."""
        ...

    def existing_vectors(self, workspace: str, chunk_hashes: Sequence[str]) -> Mapping[str, np.ndarray]:
        """Dense vectors already stored for these chunk hashes, for reuse."""
        ...


class NewIndex(Index, Protocol):
    """A collection built beside the live one (a re-index) and made live by one alias switch."""

    def recreate(self) -> None:
        """Drop what an earlier, failed build left behind and create the collection anew."""
        ...

    def switch_alias(self) -> str | None:
        """Point the alias at this collection atomically; returns the previous target."""
        ...

    def drop(self) -> None:
        """Delete this collection (a failed build)."""
        ...


class CandidateSearch(Protocol):
    """The engine's part of a search: ``retrieval.search.Searcher`` runs the stages around it.

    Example::

        if source.exists():
            results = source.run(lists)  # one list of scored points per ``ListQuery``
    """

    #: The alias searched, or a collection's own name.
    alias: str

    def exists(self) -> bool:
        """Whether the alias (or collection) exists yet: nothing indexed means empty answers."""
        ...

    def run(self, lists: Sequence[ListQuery]) -> list[Sequence[Any]]:
        """The candidate lists run as one batch: points with ``id``, ``score``, ``payload``, ``vector``."""
        ...
