"""The candidate stage's data: the lists a search asks the engine for, and the pool of candidates
one query got back (payloads, stored vectors, and each (sub-)query's ``Scored`` candidates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from qdrant_client import models

from core.models import DocumentKind, Hit
from retrieval.points import DENSE
from retrieval.sparse import term_cover
from retrieval.stages import COVER_DEPTH, Features, Scored


class ListQuery(NamedTuple):
    """One candidate list: a dense vector or BM25 terms, on the named vector, filtered."""

    query: list[float] | models.SparseVector
    using: str
    filter: models.Filter
    limit: int


class Pool:
    """The candidates of one query: payloads and stored vectors by chunk id, and for the whole
    query and each part the ``Scored`` candidates (cosine with that text's vector, BM25 score)."""

    #: whether ``Scored.heading`` holds the heading cosines (``with_headings``)
    has_headings = False
    #: the (possibly cut) whole query's text, for the second ranking stage ("" when unknown)
    text = ""
    #: the second ranking stage's features of candidates already looked at (``Searcher.rank`` fills it)
    features: dict[str, Features] | None = None
    #: the same for each sentence ``i >= 1`` of a long question (``SearchSettings.part_rerank``)
    part_features: dict[int, dict[str, Features]] | None = None
    #: each (sub-)query's text (whole query first) and the languages its BM25 terms were stemmed for
    texts: Sequence[str] = ()
    languages: Sequence[Sequence[str]] = ()
    #: each (sub-)query's term cover (``term_covers``; None: not computed yet)
    cover: list[float | None] | None = None

    def __init__(self, payloads: dict[str, dict[str, Any]], vectors: dict[str, np.ndarray],
                 scored: list[list[Scored]], queries: Sequence[np.ndarray], terms: Sequence[int] = (),
                 cover: Sequence[float | None] = ()) -> None:
        self.payloads = payloads
        self.vectors = vectors
        self.scored = scored
        self.queries = [np.asarray(q, dtype=np.float32) for q in queries]
        self.query = self.queries[0]
        #: each (sub-)query's number of BM25 terms (0 when unknown), for the fusion's per-query weight
        self.terms = [*terms, *([0] * (len(scored) - len(terms)))]
        if cover:
            self.cover = [*cover, *([None] * (len(scored) - len(cover)))]

    def bm25_best(self, i: int, depth: int) -> list[str]:
        """The (sub-)query ``i``'s best ``depth`` BM25 candidates, best first."""
        listed = [c for c in self.scored[i] if c.sparse_rank is not None]
        return [c.key for c in sorted(listed, key=lambda c: c.sparse_rank or 0)[:depth]]

    def term_covers(self) -> list[float | None]:
        """Each (sub-)query's term cover (computed once): ``retrieval.sparse.term_cover`` of its text over
        its best ``COVER_DEPTH`` BM25 candidates' heading and text (what the BM25 side indexed); None for a
        (sub-)query without a text, without BM25 terms or without a BM25 list."""
        if self.cover is None:
            covers: list[float | None] = []
            for i in range(len(self.scored)):
                text = self.texts[i] if i < len(self.texts) else ""
                best = self.bm25_best(i, COVER_DEPTH)
                if not text or not best or not self.terms[i]:
                    covers.append(None)
                    continue
                languages = self.languages[i] if i < len(self.languages) else ()
                documents = [(indexed_text(self.payloads[key]), self.payloads[key].get("language")) for key in best]
                covers.append(term_cover(text, languages, documents))
            self.cover = covers
        return self.cover

    def headings(self) -> set[str]:
        """The candidates' heading texts (``heading_text``)."""
        return {heading_text(p) for p in self.payloads.values()}

    def with_headings(self, vectors: Mapping[str, np.ndarray]) -> Pool:
        """Each candidate's ``heading``: the cosine of its (sub-)query with its heading's vector."""
        keyed = {key: vectors.get(heading_text(p)) for key, p in self.payloads.items()}
        self.scored = [
            [c._replace(heading=_cosine(q, keyed.get(c.key))) for c in items]
            for items, q in zip(self.scored, self.queries, strict=True)
        ]
        self.has_headings = True
        return self

    @classmethod
    def build(cls, lists: Sequence[tuple[Sequence[Any], Sequence[Any]]], vectors: Sequence[np.ndarray],
              terms: Sequence[int] = ()) -> Pool:
        """From each text's (dense, BM25) result lists, whole query first (an absent list is empty),
        and each text's number of BM25 query terms."""
        payloads: dict[str, dict[str, Any]] = {}
        stored: dict[str, np.ndarray] = {}
        scored: list[list[Scored]] = []
        for (dense_list, sparse_list), vector in zip(lists, vectors, strict=True):
            ranks: dict[str, list[Any]] = {}
            for n, which in ((0, dense_list), (1, sparse_list)):
                for rank, point in enumerate(which):
                    payload = point.payload or {}
                    key = str(payload.get("chunk_id", point.id))
                    if key not in payloads:
                        payloads[key] = payload
                        vec = point.vector.get(DENSE) if isinstance(point.vector, dict) else None
                        if vec is not None:
                            stored[key] = np.asarray(vec, dtype=np.float32)
                    slot = ranks.setdefault(key, [None, None, None])
                    slot[n] = rank
                    if n == 1:
                        slot[2] = float(point.score)
            q = np.asarray(vector, dtype=np.float32)
            scored.append([
                Scored(key, _cosine(q, stored.get(key)), r[2] or 0.0, r[0], r[1]) for key, r in ranks.items()
            ])
        return cls(payloads, stored, scored, vectors, terms)

    def cosine(self, key: str) -> float | None:
        """The whole query's cosine with a candidate (None without its stored vector)."""
        vector = self.vectors.get(key)
        return None if vector is None else _cosine(self.query, vector)


def indexed_text(payload: Mapping[str, Any]) -> str:
    """A chunk's heading and text, as the BM25 side indexed them (the chunker's embedded text)."""
    head = heading_text(payload)
    body = str(payload.get("text") or "")
    return f"{head}\n\n{body}" if head else body


def heading_text(payload: Mapping[str, Any]) -> str:
    """A chunk's heading as the chunker writes it into the embedded text: title, then section path."""
    path = " > ".join(str(s) for s in payload.get("section") or ())
    return "\n".join(line for line in (str(payload.get("title") or ""), path) if line)


def list_at(results: Sequence[Sequence[Any]], i: int | None) -> Sequence[Any]:
    return results[i] if i is not None else []


def _cosine(query: np.ndarray, stored: np.ndarray | None) -> float:
    if stored is None:
        return 0.0
    norm = float(np.linalg.norm(query) * np.linalg.norm(stored))
    return float(np.dot(query, stored) / norm) if norm else 0.0


def to_hit(payload: dict[str, Any], score: float, dense_score: float | None) -> Hit:
    return Hit(
        chunk_id=str(payload["chunk_id"]),
        document_id=str(payload["document_id"]),
        source_id=str(payload["source_id"]),
        title=str(payload.get("title") or ""),
        uri=payload.get("uri"),
        section=tuple(payload.get("section") or ()),
        text=str(payload.get("text") or ""),
        kind=DocumentKind(payload["kind"]),
        language=payload.get("language"),
        topic=tuple(payload.get("topic") or ()),
        score=float(score),
        dense_score=dense_score,
        payload={k: v for k, v in payload.items() if k != "text"},
    )
