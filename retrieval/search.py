"""Hybrid search: dense and BM25 prefetches fused with RRF in Qdrant, filtered per workspace.

Every query carries the workspace condition, in the prefetches and in the fused query, so a
workspace never sees another's chunks. Results are capped per document so one long document
cannot fill the whole answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from qdrant_client import QdrantClient, models

from core.errors import InvalidInput
from core.models import Channel, DocumentKind, Hit
from retrieval.index import DENSE, SPARSE, alias_target, qdrant_errors, workspace_filter
from retrieval.sparse import DEFAULT_LANGUAGE, BM25Encoder

logger = logging.getLogger(__name__)

MAX_TOP_K = 100
#: Candidates fetched before the per-document cap, as a multiple of top_k.
OVERFETCH = 4
MIN_PREFETCH = 50


class QueryEmbedder(Protocol):
    """What search needs from an embedder."""

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class SearchFilters(BaseModel):
    """Keyword filters on the point payload; a list matches any of its values.

    Example::

        SearchFilters(kind="article", language=["en", "de"])
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str | list[str] | None = None
    kind: str | list[str] | None = None
    language: str | list[str] | None = None
    topic: str | list[str] | None = None
    document_id: str | list[str] | None = None
    audience: str | list[str] | None = None
    #: Points allowed on this channel: ``meta.channels`` (space-separated) names it, or is absent.
    channel: str | None = None

    @field_validator("*")
    @classmethod
    def _not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        values = [value] if isinstance(value, str) else value or []
        if value is not None and (not values or any(not v.strip() for v in values)):
            raise ValueError("give at least one non-empty value")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str | list[str] | None) -> str | list[str] | None:
        allowed = {k.value for k in DocumentKind}
        unknown = [v for v in ([value] if isinstance(value, str) else value or []) if v not in allowed]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}; one of {', '.join(sorted(allowed))}")
        return value

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str | None) -> str | None:
        allowed = {c.value for c in Channel}
        if value is not None and value not in allowed:
            raise ValueError(f"unknown channel {value!r}; one of {', '.join(sorted(allowed))}")
        return value

    def conditions(self) -> dict[str, str | list[str] | None]:
        """The set keyword filters, by payload key (``channel`` is applied by ``to_filter``)."""
        return {key: value for key, value in self.model_dump(exclude={"channel"}).items() if value is not None}

    def to_filter(self, workspace: str) -> models.Filter:
        """The Qdrant filter: the workspace, the keyword filters and the channel restriction."""
        flt = workspace_filter(workspace, self.conditions())
        if self.channel is None:
            return flt
        allowed = models.Filter(should=[
            models.FieldCondition(key="meta.channels", match=models.MatchText(text=self.channel)),
            models.IsEmptyCondition(is_empty=models.PayloadField(key="meta.channels")),
        ])
        return models.Filter(must=[flt, allowed])

    def languages(self) -> list[str]:
        """Languages to stem the query for: the language filter, plus English."""
        given = [self.language] if isinstance(self.language, str) else list(self.language or [])
        return list(dict.fromkeys([*given, DEFAULT_LANGUAGE]))


FILTER_KEYS = tuple(SearchFilters.model_fields)


def parse_filters(pairs: Sequence[str] | Mapping[str, Any] | None) -> SearchFilters:
    """Filters from ``["kind=article", "language=en,de"]`` (CLI) or a mapping (HTTP API).

    A repeated key or a comma-separated value matches any of the values.

    Raises:
        InvalidInput: an unknown key, a pair without ``=``, or an invalid value.
    """
    values: dict[str, list[str]] = {}
    items: list[tuple[str, Any]]
    if pairs is None:
        items = []
    elif isinstance(pairs, Mapping):
        items = list(pairs.items())
    else:
        items = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise InvalidInput(f"filter {pair!r} is not key=value (e.g. kind=article)", filter=pair)
            items.append((key, value))
    for key, value in items:
        key = key.strip()
        if key not in FILTER_KEYS:
            raise InvalidInput(
                f"unknown filter {key!r}; allowed: {', '.join(FILTER_KEYS)}", filter=key, allowed=FILTER_KEYS
            )
        if value is None:
            continue
        parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
        values.setdefault(key, []).extend(p.strip() for p in parts if p.strip())
    try:
        return SearchFilters(**{k: v[0] if len(v) == 1 else v for k, v in values.items()})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid filters: {problems}") from exc


class Searcher:
    """Hybrid retrieval over the live alias; satisfies the ``Retriever`` role.

    Args:
        client: from ``retrieval.index.open_client``.
        alias: the alias ``QdrantIndex`` maintains.
        embedder: anything with ``embed_query``/``embed_queries`` (same model as the index).
        sparse: the BM25 encoder the index used.

    Raises:
        InvalidInput: (from ``search``) an empty query or top_k outside 1..100.
        IndexError_: Qdrant failed or is unreachable.

    Example::

        searcher = Searcher(client=client, alias="knowdesk", embedder=embedder, sparse=BM25Encoder())
        hits = searcher.search("cancel my plan", workspace="default", filters=SearchFilters(kind="article"))
    """

    def __init__(
        self, *, client: QdrantClient, alias: str = "knowdesk", embedder: QueryEmbedder, sparse: BM25Encoder
    ) -> None:
        self.client = client
        self.alias = alias
        self.embedder = embedder
        self.sparse = sparse
        self._ready = False

    def search(
        self,
        query: str,
        *,
        workspace: str,
        filters: SearchFilters | None = None,
        top_k: int = 5,
        per_document: int = 2,
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The ``top_k`` best chunks for ``query``, at most ``per_document`` from one document."""
        self._check(query, top_k, per_document)
        if not self._alias_exists():
            return []
        vector = self.embedder.embed_query(query) if query_vector is None else query_vector
        [points] = self._run([self._plan(query, vector, workspace, filters, top_k)])
        return _cap(points, vector, top_k, per_document)

    def search_many(
        self, queries: Sequence[tuple[str, SearchFilters | None, int]], workspace: str, per_document: int = 2
    ) -> list[list[Hit]]:
        """Several searches: queries embedded in one batch, sent in one batch request."""
        for query, _, top_k in queries:
            self._check(query, top_k, per_document)
        if not queries or not self._alias_exists():
            return [[] for _ in queries]
        vectors = self.embedder.embed_queries([q for q, _, _ in queries])
        plans = [
            self._plan(query, vector, workspace, filters, top_k)
            for (query, filters, top_k), vector in zip(queries, vectors, strict=True)
        ]
        return [
            _cap(points, vector, top_k, per_document)
            for points, vector, (_, _, top_k) in zip(self._run(plans), vectors, queries, strict=True)
        ]

    def _run(self, plans: Sequence[_Plan]) -> list[Sequence[Any]]:
        """Execute planned queries (one batch request); the engine-specific step of a search."""
        requests = [
            models.QueryRequest(
                prefetch=plan.prefetch,
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                limit=plan.limit,
                # no outer filter: fusion only ranks the prefetched candidates, already filtered (the
                # workspace included), and in local mode every filter pass is a scan of all points
                with_payload=True,
                with_vector=[DENSE],
            )
            for plan in plans
        ]
        with qdrant_errors("search"):
            return [response.points for response in self.client.query_batch_points(self.alias, requests=requests)]

    @staticmethod
    def _check(query: str, top_k: int, per_document: int) -> None:
        if not query or not query.strip():
            raise InvalidInput("the query is empty; type a question or keywords")
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidInput(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}", top_k=top_k)
        if per_document < 1:
            raise InvalidInput(f"per_document must be at least 1, got {per_document}")

    def _alias_exists(self) -> bool:
        # Nothing ingested yet means no alias: an empty answer, not an error. Once seen, it stays.
        if not self._ready:
            with qdrant_errors("look up the index"):
                self._ready = alias_target(self.client, self.alias) is not None or (
                    self.client.collection_exists(self.alias)
                )
        return self._ready

    def _plan(
        self, query: str, vector: np.ndarray, workspace: str, filters: SearchFilters | None, top_k: int
    ) -> _Plan:
        filters = filters or SearchFilters()
        flt = filters.to_filter(workspace)
        limit = min(max(top_k * OVERFETCH, 20), MAX_TOP_K * OVERFETCH)
        prefetch_limit = max(limit, MIN_PREFETCH)
        dense = np.asarray(vector, dtype=np.float32).tolist()
        sparse = self.sparse.encode_query(query, filters.languages())
        prefetch = [models.Prefetch(query=dense, using=DENSE, limit=prefetch_limit, filter=flt)]
        if sparse.indices:  # a query of stop words only has no BM25 side
            prefetch.append(models.Prefetch(query=sparse, using=SPARSE, limit=prefetch_limit, filter=flt))
        return _Plan(prefetch=prefetch, filter=flt, limit=limit)


class _Plan(NamedTuple):
    prefetch: list[models.Prefetch]
    filter: models.Filter
    limit: int


def _cap(
    points: Sequence[models.ScoredPoint], vector: np.ndarray, top_k: int, per_document: int
) -> list[Hit]:
    query = np.asarray(vector, dtype=np.float32)
    hits: list[Hit] = []
    taken: dict[str, int] = {}
    for point in points:
        payload = point.payload or {}
        document_id = str(payload.get("document_id", ""))
        if taken.get(document_id, 0) >= per_document:
            continue
        taken[document_id] = taken.get(document_id, 0) + 1
        hits.append(_hit(payload, point.score, _cosine(query, point.vector)))
        if len(hits) == top_k:
            break
    return hits


def _cosine(query: np.ndarray, stored: Any) -> float | None:
    dense = stored.get(DENSE) if isinstance(stored, dict) else None
    if dense is None:
        return None
    other = np.asarray(dense, dtype=np.float32)
    norm = float(np.linalg.norm(query) * np.linalg.norm(other))
    return float(np.dot(query, other) / norm) if norm else 0.0


def _hit(payload: dict[str, Any], score: float, dense_score: float | None) -> Hit:
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


#: What customer-facing retrieval returns when no kind is asked for: knowledge, not the agent's
#: training scenarios or action descriptions.
KNOWLEDGE_KINDS = [DocumentKind.ARTICLE.value, DocumentKind.PAGE.value, DocumentKind.FILE.value]


def knowledge_by_default(filters: SearchFilters | None) -> SearchFilters:
    """``filters`` with ``kind`` set to the knowledge kinds when it names none."""
    filters = filters or SearchFilters()
    return filters if filters.kind is not None else filters.model_copy(update={"kind": KNOWLEDGE_KINDS})
