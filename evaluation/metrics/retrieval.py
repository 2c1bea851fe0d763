"""Retrieval metrics over a ranked list of documents judged relevant or not (binary relevance).

Ranks are per document: a document retrieved twice (two chunks) counts at its first rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def recall_at_k(ranked: Sequence[bool], relevant_count: int, k: int) -> float:
    """Share of the relevant documents found in the first ``k`` results."""
    if relevant_count <= 0:
        raise ValueError("recall needs at least one relevant document")
    return min(1.0, sum(ranked[:k]) / relevant_count)


def reciprocal_rank(ranked: Sequence[bool]) -> float:
    """1 / rank of the first relevant result, 0 when none was retrieved."""
    for rank, hit in enumerate(ranked, start=1):
        if hit:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[bool], relevant_count: int, k: int = 10) -> float:
    """Normalized discounted cumulative gain with binary gains: DCG@k / ideal DCG@k."""
    if relevant_count <= 0:
        raise ValueError("nDCG needs at least one relevant document")
    dcg = sum(1.0 / math.log2(rank + 1) for rank, hit in enumerate(ranked[:k], start=1) if hit)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(relevant_count, k) + 1))
    return dcg / ideal
