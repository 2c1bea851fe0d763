"""What the sync consumes from other packages, as capability-sized protocols.

``retrieval`` implements ``Embedder`` and ``IndexWriter``; the composition roots wire them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.models import Chunk, Document


class TokenCounter(Protocol):
    """The embedding model's own tokenizer, as the chunker needs it."""

    @property
    def max_tokens(self) -> int:
        """The most tokens (special tokens excluded) the model embeds without truncating."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` without special tokens."""
        ...


class Embedder(TokenCounter, Protocol):
    """Turns chunk texts into dense vectors (L2-normalized, float32, shape (n, dimension))."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class IndexWriter(Protocol):
    """Writes a document's chunks to the index; every call is idempotent."""

    def ensure_collection(self) -> None:
        """Create the live collection, its alias and payload indexes when missing."""
        ...

    def replace_document(
        self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray, previous_chunks: int | None = None
    ) -> None:
        """Delete the document's old points, then upsert one point per chunk. ``previous_chunks``:
        the chunk count of its last complete write, when known (lets the index delete by id)."""
        ...

    def add_chunks(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Upsert one point per chunk and delete nothing: the later parts of a document streamed
        in parts, after ``replace_document`` wrote its first part."""
        ...

    def delete_documents(self, workspace: str, document_ids: Sequence[str]) -> None:
        """Remove every point of these documents."""
        ...

    def existing_vectors(self, workspace: str, chunk_hashes: Sequence[str]) -> Mapping[str, np.ndarray]:
        """Dense vectors already stored for these chunk hashes (``Chunk.hash``), for reuse."""
        ...


@runtime_checkable
class TokenEmbedder(Protocol):
    """An embedder that hands out each chunk's token vectors from the forward pass that embedded it
    (``retrieval.embedding.SentenceTransformerEmbedder``), for the late ranking stage."""

    @property
    def token_model(self) -> str | None:
        """The model of those token vectors (None: it offers none)."""
        ...

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[Any]]:
        """``embed_documents`` and each text's token vectors (None where it has none)."""
        ...


@runtime_checkable
class TokenWriter(Protocol):
    """An index that keeps chunks' token vectors beside their points (``retrieval.tokens``) and forgets
    them with the points."""

    @property
    def token_model(self) -> str | None:
        """The model whose token vectors it keeps (None: it keeps none)."""
        ...

    def write_tokens(self, document: Document, chunks: Sequence[Chunk], tokens: Sequence[Any]) -> None:
        """Keep the chunks' token vectors (None entries: nothing for that chunk)."""
        ...

    def existing_tokens(self, workspace: str, chunk_hashes: Sequence[str]) -> Mapping[str, Any]:
        """Token vectors already kept for these chunk hashes."""
        ...
