"""Hybrid search: a dense and a BM25 candidate list per query, filtered per workspace, then the
stages of ``retrieval.stages`` (fusion, long-question combination, diversification, cap).

Every list carries the workspace condition, so a workspace never sees another's chunks. Results
are diversified and capped per document so one long document cannot fill the whole answer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from qdrant_client import models

from core.errors import InvalidInput
from core.models import MAX_TOP_K, PUBLIC, Channel, DocumentKind, Hit, Viewer
from core.settings import SearchSettings
from retrieval.candidates import ListQuery, Pool, heading_text, list_at, to_hit
from retrieval.points import DENSE, SPARSE, workspace_filter
from retrieval.protocols import CandidateSearch
from retrieval.similarity import REFERENCE, scale_for
from retrieval.sparse import DEFAULT_LANGUAGE, BM25Encoder, guess_languages, is_language_tag
from retrieval.stages import (
    LATE_MODEL,
    Features,
    QueryAnalysis,
    Ranking,
    RankParams,
    analyze,
    cap_groups,
    combine,
    combine_groups,
    diversify,
    fuse,
    heading_candidates,
    keyword_weak,
    rerank,
    stage_params,
)

logger = logging.getLogger(__name__)

#: The most hits one search returns (CLI ``--top-k``, HTTP ``top_k``).
#: Heading vectors kept per searcher (384 floats each: ~30 MB).
HEADING_CACHE = 20_000


class QueryEmbedder(Protocol):
    """What search needs from an embedder."""

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class Reranker(Protocol):
    """What the second ranking stage needs: its features of some candidates for a query."""

    def features(self, query: str, payloads: Mapping[str, Mapping[str, Any]],
                 keys: Iterable[str]) -> dict[str, Features]: ...


class StoredChunkTokens(Protocol):
    """Chunks' token vectors stored at ingest (``retrieval.tokens.StoredTokens``)."""

    def get(self, payloads: Mapping[str, Mapping[str, Any]], keys: Mapping[str, str]) -> dict[str, np.ndarray]: ...


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

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | list[str] | None) -> str | list[str] | None:
        unknown = [v for v in ([value] if isinstance(value, str) else value or []) if not is_language_tag(v)]
        if unknown:
            raise ValueError(f"unknown language code {unknown[0]!r}; give ISO 639 codes such as en, de or pt-BR")
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

    def to_filter(self, workspace: str, viewer: Viewer = PUBLIC) -> models.Filter:
        """The Qdrant filter: the workspace, the keyword filters, the channel restriction and what
        ``viewer`` may see (``audience_filter``)."""
        flt = workspace_filter(workspace, self.conditions())
        must: list[models.Condition] = [flt]
        if self.channel is not None:
            must.append(models.Filter(should=[
                models.FieldCondition(key="meta.channels", match=models.MatchText(text=self.channel)),
                models.IsEmptyCondition(is_empty=models.PayloadField(key="meta.channels")),
            ]))
        visible = audience_filter(viewer)
        if visible is not None:
            must.append(visible)
        return flt if len(must) == 1 else models.Filter(must=must)

    def languages(self, query: str = "") -> list[str]:
        """Languages to stem the query for: the language filter, plus English; without a language
        filter, the languages the query's own stop words point at (``guess_languages``), plus English."""
        given = [self.language] if isinstance(self.language, str) else list(self.language or [])
        if not given and query:
            given = guess_languages(query)
        return list(dict.fromkeys([*given, DEFAULT_LANGUAGE]))


FILTER_KEYS = tuple(SearchFilters.model_fields)


def audience_filter(viewer: Viewer) -> models.Filter | None:
    """Points ``viewer`` may see: public ones (an empty ``audience``) and those naming one of its
    labels; None (no condition) for ``Viewer.everyone()``."""
    if viewer.everything:
        return None
    public: list[models.Condition] = [models.IsEmptyCondition(is_empty=models.PayloadField(key="audience"))]
    if viewer.labels:
        public.append(models.FieldCondition(key="audience", match=models.MatchAny(any=list(viewer.labels))))
    return models.Filter(should=public)


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


class Retrieval(BaseModel):
    """One query's answer: the hits, how many distinct documents they come from, and notes (such
    as a query cut to its first part)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hits: list[Hit]
    documents: int
    notes: tuple[str, ...] = ()


class Searcher:
    """The search pipeline over the live alias, on either engine; satisfies the ``Retriever`` role.

    Stages (``retrieval.stages``, switched by ``SearchSettings``): query analysis -> candidates
    (a dense and a BM25 list per (sub-)query, one batch request) -> second stage (fusion) ->
    sub-query combination -> diversification over documents with the per-document cap -> hits.
    Only the candidate lists are the engine's (``engine``); ``retrieval.factory`` chooses it.

    Args:
        engine: runs the candidate lists over an alias: ``retrieval.index.QdrantCandidates`` or
            ``retrieval.edge.EdgeCandidates``.
        embedder: anything with ``embed_query``/``embed_queries`` (same model as the index).
        sparse: the BM25 encoder the index used.
        config: the stages' settings (``Settings.search``); defaults when omitted.
        reranker: the second ranking stage's features (``retrieval.rerank.LateReranker`` over the
            bundled MiniLM, built on first use when omitted and the stage is on).
        tokens: the chunks' token vectors stored at ingest (``retrieval.tokens.StoredTokens``), which the
            built reranker reads before computing any; None: computed at query time.

    Raises:
        InvalidInput: (from ``search``) an empty query or top_k outside 1..200.
        IndexError_: Qdrant failed or is unreachable.

    Example::

        searcher = Searcher(engine=QdrantCandidates(client=client, alias="knowdesk"), embedder=embedder,
                            sparse=BM25Encoder())
        hits = searcher.search("cancel my plan", workspace="default", filters=SearchFilters(kind="article"))
    """

    def __init__(
        self,
        *,
        engine: CandidateSearch,
        embedder: QueryEmbedder,
        sparse: BM25Encoder,
        config: SearchSettings | None = None,
        reranker: Reranker | None = None,
        tokens: StoredChunkTokens | None = None,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.sparse = sparse
        self.config = config or SearchSettings()
        model = getattr(embedder, "model_id", None)
        self.params = RankParams.from_settings(self.config, model_id=str(model) if model is not None else None)
        self._ready = False
        self._headings: OrderedDict[str, np.ndarray] = OrderedDict()
        self._headings_lock = threading.Lock()
        self._reranker = reranker
        self._reranker_lock = threading.Lock()
        self.tokens = tokens
        #: queries ranked without the second stage because a candidate had no token vectors
        self.rerank_skipped = 0

    def search(
        self,
        query: str,
        *,
        workspace: str,
        filters: SearchFilters | None = None,
        top_k: int = 5,
        per_document: int | None = None,
        query_vector: np.ndarray | None = None,
        viewer: Viewer = PUBLIC,
    ) -> list[Hit]:
        """The ``top_k`` best chunks for ``query`` that ``viewer`` may see (public ones unless told),
        at most ``per_document`` from one document (unset: the settings' cap, ``RankParams.cap``
        chunks per document or per section)."""
        return self.retrieve(
            query, workspace=workspace, filters=filters, top_k=top_k, per_document=per_document,
            query_vector=query_vector, viewer=viewer,
        ).hits

    def retrieve(
        self,
        query: str,
        *,
        workspace: str,
        filters: SearchFilters | None = None,
        top_k: int = 5,
        per_document: int | None = None,
        query_vector: np.ndarray | None = None,
        viewer: Viewer = PUBLIC,
    ) -> Retrieval:
        """``search`` with the number of distinct documents and the query's notes."""
        [result] = self._search([(query, filters, top_k)], workspace, per_document, query_vector, viewer)
        return result

    def search_many(
        self, queries: Sequence[tuple[str, SearchFilters | None, int]], workspace: str, per_document: int | None = None,
        viewer: Viewer = PUBLIC,
    ) -> list[list[Hit]]:
        """Several searches: queries embedded in one batch, sent in one batch request."""
        return [r.hits for r in self._search(queries, workspace, per_document, None, viewer)]

    def _search(
        self,
        queries: Sequence[tuple[str, SearchFilters | None, int]],
        workspace: str,
        per_document: int | None,
        query_vector: np.ndarray | None,
        viewer: Viewer,
    ) -> list[Retrieval]:
        for query, _, top_k in queries:
            self._check(query, top_k, per_document)
        c = self.config
        analyses = [
            analyze(q, max_chars=c.max_query_chars, split=self.params.split,
                    min_sentences=self.params.split_min_sentences)
            for q, _, _ in queries
        ]
        if not queries or not self.engine.exists():
            return [Retrieval(hits=[], documents=0, notes=a.notes) for a in analyses]
        pools = self.candidates(analyses, [f for _, f, _ in queries], workspace, query_vector, viewer=viewer)
        return [
            self._rank(pool, top_k, per_document, analysis.notes)
            for pool, analysis, (_, _, top_k) in zip(pools, analyses, queries, strict=True)
        ]

    def candidates(
        self,
        analyses: Sequence[QueryAnalysis],
        filters: Sequence[SearchFilters | None],
        workspace: str,
        query_vector: np.ndarray | None = None,
        headings: bool = False,
        viewer: Viewer = PUBLIC,
    ) -> list[Pool]:
        """The candidate stage: a dense and a BM25 list for each query and each of its parts, all
        embedded in one batch and run as one batch request. ``query_vector`` (one query only) is
        the whole query's vector when the caller has it already. ``headings``: compute every
        candidate's heading cosine now (``rank`` otherwise computes those it needs). ``viewer``: whose
        audience restrictions apply (public documents only by default)."""
        texts: list[str] = []
        for i, analysis in enumerate(analyses):
            if query_vector is None or i > 0:
                texts.append(analysis.text)
            texts.extend(analysis.parts)
        embedded = iter(self.embedder.embed_queries(texts) if texts else [])
        vectors: list[list[np.ndarray]] = []
        for i, analysis in enumerate(analyses):
            whole = np.asarray(query_vector, dtype=np.float32) if query_vector is not None and i == 0 else next(
                embedded)
            vectors.append([whole, *(next(embedded) for _ in analysis.parts)])
        lists: list[ListQuery] = []
        spans: list[list[tuple[int | None, int | None]]] = []
        counts: list[list[int]] = []
        languages: list[list[list[str]]] = []
        want = self.config.lists
        for analysis, flts, vecs in zip(analyses, filters, vectors, strict=True):
            flts = flts or SearchFilters()
            flt = flts.to_filter(workspace, viewer)
            spans.append([])
            counts.append([])
            languages.append([])
            for text, vector in zip([analysis.text, *analysis.parts], vecs, strict=True):
                dense_at: int | None = None
                sparse_at: int | None = None
                if want != "sparse":
                    dense_at = len(lists)
                    dense = np.asarray(vector, dtype=np.float32).tolist()
                    lists.append(ListQuery(dense, DENSE, flt, self.config.candidates))
                languages[-1].append(flts.languages(text))
                terms = self.sparse.encode_query(text, languages[-1][-1])
                if want != "dense" and terms.indices:  # a query of stop words only has no BM25 side
                    sparse_at = len(lists)
                    lists.append(ListQuery(terms, SPARSE, flt, self.config.candidates))
                spans[-1].append((dense_at, sparse_at))
                counts[-1].append(len(terms.indices))
        # nothing indexed yet: empty lists, not an error
        results = self.engine.run(lists) if self.engine.exists() else [[] for _ in lists]
        pools = [
            Pool.build([(list_at(results, d), list_at(results, s)) for d, s in span], vecs, n)
            for span, vecs, n in zip(spans, vectors, counts, strict=True)
        ]
        for pool, analysis, langs in zip(pools, analyses, languages, strict=True):
            pool.text = analysis.text
            pool.texts, pool.languages = (analysis.text, *analysis.parts), langs
        if headings:  # every candidate's heading (the fitting replays the stages on these pools)
            known = self._heading_vectors(set().union(*(pool.headings() for pool in pools)))
            pools = [pool.with_headings(known) for pool in pools]
        return pools

    def _heading_vectors(self, headings: set[str]) -> dict[str, np.ndarray]:
        """Vectors of candidates' headings, embedded once per process (LRU of ``HEADING_CACHE``)."""
        cache = self._headings
        with self._headings_lock:  # searches run in several threads (the HTTP API)
            missing = sorted(h for h in headings if h and h not in cache)
        embedded = list(self.embedder.embed_queries(missing)) if missing else []
        with self._headings_lock:
            found = {h: cache[h] for h in headings if h in cache}
            found |= {text: np.asarray(v, dtype=np.float32) for text, v in zip(missing, embedded, strict=True)}
            for text, vector in found.items():
                cache[text] = vector
                cache.move_to_end(text)
            while len(cache) > HEADING_CACHE:
                cache.popitem(last=False)
        return found

    def rank(self, pool: Pool, top_k: int, per_document: int | None, params: RankParams | None = None) -> list[Hit]:
        """The stages after the candidates: fusion, sub-query combination, diversification, cap
        (``per_document`` chunks a document; unset: ``params.cap`` per ``params.cap_scope``)."""
        p = params or self.params
        if self.config.lists != "both":  # one list: its own order (RRF over a single list)
            p = p.model_copy(update={"fusion": "rrf", "heading_weight": 0.0})
        scored = pool.scored if p.split else pool.scored[:1]
        # the share of each (sub-)query's terms its best BM25 candidates hold: only when a rule reads it
        covers = pool.term_covers() if p.bm25_cover > 0 else [None] * len(pool.scored)
        if p.heading_weight > 0 and not pool.has_headings:
            keys = heading_candidates(scored, p, pool.terms, covers)
            pool.with_headings(self._heading_vectors({heading_text(pool.payloads[k]) for k in keys}))
            scored = pool.scored if p.split else pool.scored[:1]
        rankings = [fuse(items, p, n, c) for items, n, c in zip(scored, pool.terms, covers, strict=False)]
        grouped = p.group_weight > 0 and len(rankings) > 1
        # the second stage on each (sub-)query's own candidates, with its own text, before they are combined
        each = grouped and p.rerank and p.part_rerank and len(pool.texts) >= len(rankings)
        if grouped:  # a long question: each need's groups (documents or sections) brought up
            if each:
                rankings = [self._reranked(pool, i, r, p, covers[i]) for i, r in enumerate(rankings)]
            groups = cap_groups(pool.payloads, {key for r in rankings for key, _ in r}, p.cap_scope)
            ranked = combine_groups(rankings[0], rankings[1:], groups, p)
        else:
            ranked = combine(rankings[0], rankings[1:], p)
        if p.rerank and pool.text and not each:
            ranked = self._reranked(pool, 0, ranked, p, covers[0] if covers else None)
        scope = "document" if per_document is not None else p.cap_scope
        groups = cap_groups(pool.payloads, (key for key, _ in ranked), scope)
        chosen = diversify(ranked, groups, penalty=p.diversity, per_document=per_document or p.cap, top_k=top_k)
        scale = scale_for(str(getattr(self.embedder, "model_id", REFERENCE)))  # reported cosines on MiniLM's scale
        return [to_hit(pool.payloads[key], score, None if (c := pool.cosine(key)) is None else scale(c))
                for key, score in chosen]

    def _reranked(self, pool: Pool, i: int, ranked: Ranking, p: RankParams, cover: float | None) -> Ranking:
        """``ranked`` after the second ranking stage with the (sub-)query ``i``'s text (0: the whole query's);
        as it is when a candidate has no token vectors (see ``SearchSettings.rerank_missing``)."""
        head = [key for key, _ in ranked[:p.rerank_depth]]
        features = self._features(pool, head, i)
        if not all(key in features for key in head):
            with self._reranker_lock:
                self.rerank_skipped += 1
            return ranked
        weak = len(pool.scored) > i and keyword_weak(pool.scored[i], p, pool.terms[i], cover)
        return rerank(ranked, features, stage_params(p, weak))

    def _features(self, pool: Pool, keys: Sequence[str], i: int = 0) -> dict[str, Features]:
        """The second ranking stage's features of ``keys`` for the (sub-)query ``i`` (0: the whole query),
        computed once per pool."""
        if i == 0:
            known = pool.features if pool.features is not None else {}
        else:
            if pool.part_features is None:
                pool.part_features = {}
            known = pool.part_features.setdefault(i, {})
        missing = [key for key in keys if key not in known]
        if missing:
            known |= self.reranker.features(pool.text if i == 0 else pool.texts[i], pool.payloads, missing)
        if i == 0:
            pool.features = known
        return known

    @property
    def computes_missing_tokens(self) -> bool:
        """Whether the built reranker computes at query time the token vectors a candidate has none of
        (``SearchSettings.rerank_missing``; unset: only when this index keeps none, the int8 and e5 encoders').

        Why the default skips the stage for the whole query rather than scoring the candidates that have
        vectors among those that have none: the late score is min-max normalized over the re-ranked
        candidates and weighs 4x the fused score (``retrieval/fitted/rerank.json``), so no value given to a
        candidate without one (0, the mean) ranks it fairly, and re-ranking only some of them would make a
        chunk's place depend on which neighbours happen to be stored. The fused order is the ranking the fit
        measured as ``off``; an index written before token vectors were stored ranks so until they are
        filled (``knowdesk reindex --tokens``, and every sync for its own source), then as a fresh one."""
        setting = self.config.rerank_missing
        if setting is not None:
            return setting == "compute"
        model = getattr(self.embedder, "model_id", None)
        return self.tokens is None or (model is not None and str(model) != LATE_MODEL)

    @property
    def reranker(self) -> Reranker:
        """The second ranking stage's features (the bundled MiniLM's token vectors), built on first use."""
        with self._reranker_lock:
            if self._reranker is None:
                from retrieval.rerank import LateReranker

                self._reranker = LateReranker(cache=self.config.rerank_cache, stored=self.tokens,
                                              queries=getattr(self.embedder, "query_tokens", None),
                                              compute=self.computes_missing_tokens)
            return self._reranker

    def _rank(self, pool: Pool, top_k: int, per_document: int | None, notes: tuple[str, ...]) -> Retrieval:
        hits = self.rank(pool, top_k, per_document)
        return Retrieval(hits=hits, documents=len({h.document_id for h in hits}), notes=notes)

    @staticmethod
    def _check(query: str, top_k: int, per_document: int | None) -> None:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("the query is empty; type a question or keywords")
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidInput(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}", top_k=top_k)
        if per_document is not None and per_document < 1:
            raise InvalidInput(f"per_document must be at least 1, got {per_document}")


#: What customer-facing retrieval returns when no kind is asked for: knowledge, not the agent's
#: training scenarios or action descriptions.
KNOWLEDGE_KINDS = [DocumentKind.ARTICLE.value, DocumentKind.PAGE.value, DocumentKind.FILE.value]


def knowledge_by_default(filters: SearchFilters | None) -> SearchFilters:
    """``filters`` with ``kind`` set to the knowledge kinds when it names none."""
    filters = filters or SearchFilters()
    return filters if filters.kind is not None else filters.model_copy(update={"kind": KNOWLEDGE_KINDS})
