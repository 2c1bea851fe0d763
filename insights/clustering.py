"""Grouping message vectors into themes and naming them.

Clustering: average-linkage agglomerative clustering on cosine distance with a distance
threshold (no number of clusters to guess). Measured on the planted sample sessions it keeps
each planted theme in one pure cluster at 0.5, where HDBSCAN either split themes into
template-sized fragments (small ``min_cluster_size``) or needed a size tuned to the data.
Average linkage needs all pairwise distances, so at most ``max_fit`` messages (a seeded
sample) are clustered and the rest join the cluster with the closest centroid when it is
within the threshold; clusters smaller than ``min_size`` become noise (label -1).

Labels: c-TF-IDF (each cluster's term counts summed into one document, TF-IDF across clusters,
noise included as one more document) picks the most distinctive terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfTransformer

NOISE = -1
_TOKENS = r"(?u)\b\w[\w-]*\w\b"
_PLEASANTRIES = frozenset({"thanks", "thank", "great", "ok", "okay", "cheers", "hi", "hello", "hey", "helps",
                           "lot", "good", "morning", "yes", "perfect", "awesome", "bye", "welcome"})
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | _PLEASANTRIES | {"brewly", "question", "quick", "does", "possible", "just",
                                                         "need", "want", "like", "know", "tell", "ve", "don"})


def informative(text: str, min_words: int = 2) -> bool:
    """True when ``text`` says something beyond pleasantries ("Thanks, that helps" does not)."""
    words = [w.lower().strip(".,!?;:'\"()") for w in text.split()]
    return sum(1 for w in words if w and w not in ENGLISH_STOP_WORDS and w not in _PLEASANTRIES) >= min_words


def cluster(vectors: np.ndarray, *, threshold: float = 0.5, min_size: int = 5, max_fit: int = 4000,
            seed: int = 0) -> np.ndarray:
    """Cluster labels (0..k-1, ordered by size, largest first; -1 noise) for L2-normalized rows."""
    n = len(vectors)
    if n < max(2, min_size):
        return np.full(n, NOISE, dtype=np.int64)
    rng = np.random.default_rng(seed)
    fit = np.sort(rng.choice(n, size=max_fit, replace=False)) if n > max_fit else np.arange(n)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, metric="cosine",
                                    linkage="average")
    labels = np.full(n, NOISE, dtype=np.int64)
    labels[fit] = model.fit_predict(vectors[fit])
    if len(fit) < n:
        rest = np.setdiff1d(np.arange(n), fit)
        ids = np.unique(labels[fit])
        centroids = _normalize(np.stack([vectors[fit][labels[fit] == c].mean(axis=0) for c in ids]))
        sims = vectors[rest] @ centroids.T
        best = sims.argmax(axis=1)
        close = 1.0 - sims[np.arange(len(rest)), best] <= threshold
        labels[rest] = np.where(close, ids[best], NOISE)
    return _renumber(labels, min_size)


def _renumber(labels: np.ndarray, min_size: int) -> np.ndarray:
    ids, counts = np.unique(labels[labels != NOISE], return_counts=True)
    keep = [int(c) for c, k in sorted(zip(ids, counts, strict=True), key=lambda p: (-p[1], p[0])) if k >= min_size]
    mapping = {old: new for new, old in enumerate(keep)}
    return np.array([mapping.get(int(label), NOISE) for label in labels], dtype=np.int64)


def _normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def centroids(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The normalized mean vector of each cluster 0..k-1."""
    return _normalize(np.stack([vectors[labels == c].mean(axis=0) for c in range(k)]))


class ClusterTerms(NamedTuple):
    """A cluster's distinctive terms (words and phrases) and its single most distinctive word."""

    terms: list[str]
    keyword: str | None


def distinctive_terms(texts: Sequence[str], labels: np.ndarray, k: int, *, top: int = 5) -> list[ClusterTerms]:
    """The ``top`` most distinctive terms (words and bigrams) of each cluster 0..k-1 (c-TF-IDF).

    Terms are counted per message (so bigrams never span two messages), summed per cluster,
    then weighted by TF-IDF across clusters (noise counts as one more cluster).
    """
    if k == 0:
        return []
    counter = CountVectorizer(stop_words=STOP_WORDS, token_pattern=_TOKENS, ngram_range=(1, 2), lowercase=True)
    try:
        counts = counter.fit_transform(texts)
    except ValueError:  # nothing but stop words
        return [ClusterTerms([], None) for _ in range(k)]
    groups = np.where(labels == NOISE, k, labels)
    membership = csr_matrix((np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(k + 1, len(groups)))
    totals = (membership @ counts).toarray()
    weights = TfidfTransformer(sublinear_tf=True).fit_transform(totals).toarray()
    vocabulary = [str(v) for v in counter.get_feature_names_out()]
    words = np.array([" " not in v for v in vocabulary])
    out = []
    for c in range(k):
        single = np.where(words, weights[c], 0.0)
        keyword = vocabulary[int(single.argmax())] if single.max() > 0 else None
        out.append(ClusterTerms(_pick(weights[c], totals[c], vocabulary, top), keyword))
    return out


def _pick(weights: np.ndarray, counts: np.ndarray, vocabulary: list[str], top: int,
          phrase: float = 0.7) -> list[str]:
    """The best terms by weight, without repeating a word; a word gives way to the phrase it
    occurs in at least ``phrase`` of the time ("oat milk" rather than "milk")."""
    picked: list[str] = []
    used: set[str] = set()
    order = [int(i) for i in np.argsort(-weights, kind="stable") if weights[i] > 0]
    for index in order:
        if len(picked) == top:
            break
        term = vocabulary[index]
        if " " not in term:
            term = next((vocabulary[j] for j in order if " " in vocabulary[j] and term in vocabulary[j].split()
                         and counts[j] >= phrase * counts[index]), term)
        words = set(term.split())
        if words & used:
            continue
        picked.append(term)
        used |= words
    return picked
