"""Fakes for plumbing tests. Anything that claims retrieval quality uses the real model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """A deterministic bag-of-words embedder: each word adds to a hashed dimension.

    Counts every text it embeds in ``embedded`` so tests can prove what was (not) embedded.
    """

    model_id = "hash-embedder"

    def __init__(self, dimension: int = 64, max_tokens: int = 254) -> None:
        self._dim = dimension
        self._max = max_tokens
        self.embedded = 0
        self.calls = 0

    @property
    def dimension(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dim] += 1.0
        norm = float(np.linalg.norm(v))
        if norm == 0:
            v[0] = 1.0
            norm = 1.0
        return v / norm

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])


def hash_indexed(client: Any, documents: Mapping[str, Sequence[str]], *, workspace: str = "w",
                 alias: str = "kd") -> HashEmbedder:
    """Index ``documents`` (native id -> chunk texts, source ``kb``, articles) into ``client`` under
    ``alias`` with a ``HashEmbedder``, and return the embedder."""
    from core.models import Chunk, Document, DocumentKind
    from retrieval.index import QdrantIndex
    from retrieval.sparse import BM25Encoder

    embedder = HashEmbedder()
    index = QdrantIndex(client=client, alias=alias, model_id="hash", dimension=embedder.dimension,
                        chunker_version="t", sparse=BM25Encoder())
    index.ensure_collection()
    for name, texts in documents.items():
        doc = Document(workspace=workspace, source_id="kb", native_id=name, title=name, kind=DocumentKind.ARTICLE)
        chunks = [Chunk(document_id=doc.id, index=i, text=t, embed_text=t, token_count=4) for i, t in enumerate(texts)]
        index.replace_document(doc, chunks, embedder.embed_documents(texts))
    return embedder


def word_rows(text: str) -> np.ndarray:
    """Token vectors of a text for tests of the late stage: one unit row per word, seeded by the word."""
    seeds = [int(hashlib.md5(w.encode()).hexdigest()[:8], 16) for w in text.split()]
    rows = np.stack([np.random.default_rng(seed).standard_normal(8) for seed in seeds])
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
