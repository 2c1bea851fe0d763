"""Matching by meaning with the retrieval model: cached phrase vectors and cosine scores.

Plain-language lists (topics to reply to or skip, prohibited topics, ways to ask for a human)
are embedded once with the same model as the index and compared with the message and its
clauses. Vectors are L2-normalized, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from retrieval.similarity import REFERENCE, SimilarityScale, scale_for


class Embedder(Protocol):
    """What the agent needs from the embedding model (``retrieval.embedding`` satisfies it)."""

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


_CLAUSE = re.compile(r"(?<=[.!?;])\s+|\s*[,;:]\s*|\s+(?:but|however|though|instead)\s+", re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """The message split into clauses (sentences, then commas and contrastive conjunctions)."""
    parts = [p.strip(" .!?") for p in _CLAUSE.split(text)]
    return [p for p in parts if len(p.split()) >= 2]


@dataclass(frozen=True, slots=True)
class Match:
    """The best-matching phrase of a list and its similarity."""

    phrase: str
    score: float


class VectorCache:
    """An LRU cache of phrase vectors, so fixed lists and repeated sentences are embedded once."""

    def __init__(self, *, embedder: Embedder, size: int = 20000, scale: SimilarityScale | None = None) -> None:
        self.embedder = embedder
        #: cosines are read on the reference model's scale, so the agent's thresholds hold for any model
        self.scale = scale if scale is not None else scale_for(str(getattr(embedder, "model_id", REFERENCE)),
                                                                  "query-query")
        self._size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` (rows in order), embedding only the ones not cached yet."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            fresh = np.asarray(self.embedder.embed_queries(missing), dtype=np.float32)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    self._vectors[text] = vector
                while len(self._vectors) > self._size:
                    self._vectors.popitem(last=False)
        with self._lock:
            rows = []
            for t in texts:
                vector = self._vectors.get(t)
                if vector is None:  # evicted between the two locks: embed it alone
                    vector = np.asarray(self.embedder.embed_query(t), dtype=np.float32)
                else:
                    self._vectors.move_to_end(t)
                rows.append(vector)
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(rows)

    def similarities(self, texts: Sequence[str], vector: np.ndarray) -> np.ndarray:
        """Cosine of each text with ``vector``, on the reference model's scale."""
        return self.scale(self.vectors(texts) @ np.asarray(vector, dtype=np.float32))

    def best(self, vector: np.ndarray, phrases: Sequence[str]) -> Match | None:
        """The phrase most similar to ``vector``, or None for an empty list."""
        if not phrases:
            return None
        sims = self.similarities(phrases, vector)
        i = int(np.argmax(sims))
        return Match(phrase=phrases[i], score=float(sims[i]))

    def best_of_many(self, vectors: np.ndarray, phrases: Sequence[str]) -> tuple[int, Match] | None:
        """Over several query vectors (message and clauses): the best (row, phrase) pair."""
        if not phrases or len(vectors) == 0:
            return None
        sims = self.scale(np.asarray(vectors, dtype=np.float32) @ self.vectors(phrases).T)
        row, col = np.unravel_index(int(np.argmax(sims)), sims.shape)
        return int(row), Match(phrase=phrases[int(col)], score=float(sims[row, col]))
