"""The peers knowdesk is measured against, on the very units knowdesk indexed.

- ``bm25``: bm25s (Lucene BM25, English stop words, Snowball stemming) over each unit's embed text.
- ``minilm``: the bundled MiniLM (sentence-transformers), exact cosine over each unit's embed text.
- ``llamaindex``: LlamaIndex's default ``VectorStoreIndex`` pipeline (default node parser, in-memory
  vector store, default retriever) over the units given as Documents with their page, title and
  section as metadata, embedding with the same MiniLM through ``MiniLMEmbedding``.

Every peer returns ``question -> [(chunk_id, score)]`` so hits are judged like knowdesk's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.retrieval.sets import Unit

Retrieve = Callable[[str], list[tuple[str, float]]]
PEERS = ("bm25", "minilm", "llamaindex")


class VectorCache:
    """Document vectors of the peers by text (sha1), kept in the cache dir between runs: the
    peers embed thousands of chunks, queries are always embedded (and timed) afresh."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path) as stored:
                self.vectors = {key: stored[key] for key in stored.files}
        self._loaded = len(self.vectors)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.vectors))
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            encoded = sentence_model().encode([by_key[k] for k in missing], batch_size=32,
                                              normalize_embeddings=True, convert_to_numpy=True,
                                              show_progress_bar=False)
            self.vectors.update(zip(missing, np.asarray(encoded, dtype=np.float32), strict=True))
        return np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)

    def save(self) -> None:
        if self.path is not None and len(self.vectors) != self._loaded:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, **self.vectors)  # type: ignore[arg-type]
            tmp.replace(self.path)
            self._loaded = len(self.vectors)


_cache = VectorCache()


def use_cache(cache: VectorCache) -> None:
    """Where the peers keep their document vectors (one per set; ``VectorCache()`` = memory only)."""
    global _cache
    _cache = cache


def current_cache() -> VectorCache:
    return _cache


def sentence_model() -> Any:
    """The bundled MiniLM, loaded once, as a plain ``SentenceTransformer``."""
    from retrieval.embedding import load_model, resolve_model

    path, _ = resolve_model("all-MiniLM-L6-v2")
    return load_model(str(path), "cpu")


def build(name: str, units: Sequence[Unit], top_k: int) -> Retrieve:
    builders: dict[str, Callable[[Sequence[Unit], int], Retrieve]] = {
        "bm25": bm25, "minilm": minilm, "llamaindex": llamaindex}
    return builders[name](units, top_k)


def bm25(units: Sequence[Unit], top_k: int) -> Retrieve:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    index = bm25s.BM25()
    index.index(bm25s.tokenize([u.embed_text for u in units], stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False)
    ids = [u.chunk_id for u in units]
    k = min(top_k, len(units))

    def run(question: str) -> list[tuple[str, float]]:
        tokens = bm25s.tokenize([question], stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = index.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    return run


def minilm(units: Sequence[Unit], top_k: int) -> Retrieve:
    model = sentence_model()
    matrix = _cache.encode([u.embed_text for u in units])
    ids = [u.chunk_id for u in units]

    def run(question: str) -> list[tuple[str, float]]:
        query = model.encode([question], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        scores = matrix @ query
        best = np.argsort(-scores)[:top_k]
        return [(ids[int(i)], float(scores[i])) for i in best]

    return run


def llamaindex(units: Sequence[Unit], top_k: int) -> Retrieve:
    from llama_index.core import Document, Settings, VectorStoreIndex

    Settings.embed_model = minilm_embedding()
    Settings.llm = None  # never an LLM (and never OpenAI): retrieval only
    documents = [
        Document(text=u.text, doc_id=u.chunk_id,
                 metadata={"page": u.page, "title": u.title, "section": " > ".join(u.section)})
        for u in units
    ]
    index = VectorStoreIndex.from_documents(documents)
    engine = index.as_retriever(similarity_top_k=top_k)

    def run(question: str) -> list[tuple[str, float]]:
        nodes = engine.retrieve(question)
        return [(str(n.node.ref_doc_id), float(n.score or 0.0)) for n in nodes]

    return run


def _embedding_class() -> type:
    from llama_index.core.embeddings import BaseEmbedding

    class MiniLMEmbedding(BaseEmbedding):
        """LlamaIndex embed model over the bundled MiniLM (normalized, so the store's cosine holds)."""

        model_name: str = "all-MiniLM-L6-v2"

        def _encode(self, texts: list[str]) -> list[list[float]]:
            return [list(map(float, v)) for v in _cache.encode(texts)]

        def _get_query_embedding(self, query: str) -> list[float]:
            vector = sentence_model().encode([query], normalize_embeddings=True, convert_to_numpy=True,
                                             show_progress_bar=False)[0]
            return list(map(float, vector))

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._encode([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._encode(texts)

    return MiniLMEmbedding


def minilm_embedding() -> Any:
    """An instance of the adapter (the class is built on first use: llama-index loads lazily)."""
    return _embedding_class()()
