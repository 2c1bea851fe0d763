"""Meaning-based metrics with the retrieval model: similarity with the reference, groundedness.

Groundedness = the share of the answer's sentences that the cited text supports. A sentence is
supported when at least ``containment`` of its word tokens occur in one cited passage, or when its
embedding's cosine similarity with one sentence of the cited passages is at least ``similarity``.
The first catches extractive answers (reformatted copies), the second paraphrases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .text import sentences, tokens

SUPPORT_CONTAINMENT = 0.7
SUPPORT_SIMILARITY = 0.75


class Embedder(Protocol):
    """What these metrics need from the embedding model (the index's model)."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def containment(sentence: str, passage: str) -> float:
    """Share of the sentence's word tokens that occur in the passage."""
    words = tokens(sentence)
    if not words:
        return 0.0
    vocabulary = set(tokens(passage))
    return sum(w in vocabulary for w in words) / len(words)


@dataclass(frozen=True, slots=True)
class GroundingResult:
    """How many answer sentences the cited passages support, and which did not."""

    supported: int
    total: int
    unsupported: tuple[str, ...]

    @property
    def score(self) -> float | None:
        return self.supported / self.total if self.total else None


class MeaningMetrics:
    """Similarity and groundedness with one embedder.

    Args:
        embedder: the same model as the index (MiniLM by default).
        containment: token containment at or above which a sentence is supported.
        similarity: cosine similarity at or above which a sentence is supported.
    """

    def __init__(
        self, *, embedder: Embedder, containment: float = SUPPORT_CONTAINMENT, similarity: float = SUPPORT_SIMILARITY
    ) -> None:
        self.embedder = embedder
        self.containment = containment
        self.similarity = similarity

    def similarity_with(self, answer: str, reference: str) -> float:
        """Cosine similarity of the answer's and the reference's embeddings."""
        vectors = _unit(self.embedder.embed_queries([answer, reference]))
        return float(vectors[0] @ vectors[1])

    def groundedness(self, answer: str, passages: Sequence[str]) -> GroundingResult:
        claims = sentences(answer)
        if not claims:
            return GroundingResult(supported=0, total=0, unsupported=())
        if not passages:
            return GroundingResult(supported=0, total=len(claims), unsupported=tuple(claims))
        supported = [any(containment(c, p) >= self.containment for p in passages) for c in claims]
        pending = [i for i, ok in enumerate(supported) if not ok]
        source = [s for p in passages for s in sentences(p, min_words=2)]
        if pending and source:
            vectors = _unit(self.embedder.embed_queries([claims[i] for i in pending] + source))
            sims = vectors[: len(pending)] @ vectors[len(pending):].T
            for row, i in enumerate(pending):
                supported[i] = bool(sims[row].max() >= self.similarity)
        return GroundingResult(
            supported=sum(supported),
            total=len(claims),
            unsupported=tuple(c for c, ok in zip(claims, supported, strict=True) if not ok),
        )
