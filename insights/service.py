"""Computing insights for a workspace: load the window, embed (cached), cluster, match
knowledge gaps with existing articles, store the run.

Example::

    service = InsightsService(db=db, embedder=embedder, articles=SearchArticles(retriever=searcher))
    run = service.refresh("default", since="7d")
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import numpy as np
from pydantic import Field

from core.db import Database
from core.ids import content_hash
from core.models import Frozen, Hit
from core.tables import utcnow
from retrieval.search import SearchFilters

from .classify import Classifier
from .clustering import informative
from .engine import EngineOptions, build_insights
from .models import ArticleMatch, CustomerMessage, Insight, InsightKind, InsightRun, Window, parse_since
from .store import InsightStore, new_run_id

log = logging.getLogger(__name__)
MAX_WORDS = 100


class Embedder(Protocol):
    """What insights need from the embedding model (``retrieval.embedding`` satisfies it)."""

    @property
    def model_id(self) -> str: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...


class ArticleFinder(Protocol):
    """Finds the existing articles closest to a question, noting which of ``terms`` they mention."""

    def find(self, query: str, *, workspace: str, top_k: int, terms: Sequence[str] = ()) -> list[ArticleMatch]: ...


class Searcher(Protocol):
    def search(self, query: str, *, workspace: str, filters: SearchFilters | None = None, top_k: int = 5,
               per_document: int | None = None) -> list[Hit]: ...


class SearchArticles:
    """``ArticleFinder`` over hybrid search restricted to ``kind=article`` (dense cosine as score)."""

    def __init__(self, *, retriever: Searcher) -> None:
        self.retriever = retriever

    def find(self, query: str, *, workspace: str, top_k: int, terms: Sequence[str] = ()) -> list[ArticleMatch]:
        hits = self.retriever.search(query, workspace=workspace, filters=SearchFilters(kind="article"),
                                     top_k=top_k * 2, per_document=1)
        matches = [ArticleMatch(document_id=h.document_id, title=h.title, uri=h.uri,
                                score=round(float(h.dense_score if h.dense_score is not None else h.score), 4),
                                mentions=[t for t in terms if _mentions(h.title + " " + h.text, t)])
                   for h in hits]
        return sorted(matches, key=lambda m: -m.score)[:top_k]


def _mentions(text: str, term: str) -> bool:
    return re.search(rf"\b{re.escape(term)}\b", text, re.IGNORECASE) is not None


class InsightSettings(Frozen):
    """Parameters of a refresh. A knowledge gap's closest article is worth extending when its
    score reaches ``article_threshold``, or comes within ``mention_margin`` of it while naming the
    theme's most distinctive term; otherwise a new article should be written."""

    engine: EngineOptions = EngineOptions()
    article_threshold: float = Field(default=0.55, ge=-1.0, le=1.0)
    mention_margin: float = Field(default=0.15, ge=0.0, le=1.0)
    articles: int = Field(default=3, ge=1, le=10)


class InsightsService:
    """Computes, stores and reads insights.

    Args:
        db: the state database. embedder: the same model as retrieval.
        articles: finds articles for knowledge gaps (None: gaps get no suggestion).
        settings: thresholds.
    """

    def __init__(self, *, db: Database, embedder: Embedder, articles: ArticleFinder | None = None,
                 settings: InsightSettings | None = None, classifier: Classifier | None = None) -> None:
        self.store = InsightStore(db=db)
        self.embedder = embedder
        self.articles = articles
        self.settings = settings or InsightSettings()
        self.classifier = classifier or Classifier()

    def refresh(self, workspace: str, *, since: str = "7d", now: datetime | None = None) -> InsightRun:
        """Compute the insights of the last ``since`` (vs the window before it) and store them."""
        started = time.perf_counter()
        window = Window.ending(now or utcnow(), parse_since(since))
        messages = [m for m in self.store.customer_messages(workspace, window.previous_start, window.end)
                    if informative(m.text)]
        embed_started = time.perf_counter()
        vectors = self.vectors(workspace, messages)
        embed_seconds = time.perf_counter() - embed_started
        facts = self.store.session_facts(workspace, {m.session_id for m in messages})
        insights = build_insights(messages, vectors, facts, window, classifier=self.classifier,
                                  options=self.settings.engine)
        insights = [self._with_articles(workspace, i) for i in insights]
        current = [m for m in messages if m.created_at >= window.start]
        run = InsightRun(
            id=new_run_id(), workspace=workspace, since=since.strip(), window=window, computed_at=utcnow(),
            messages=len(current), sessions=len({m.session_id for m in current}),
            clustered=sum(i.size for i in insights), seconds=round(time.perf_counter() - started, 3),
            embed_seconds=round(embed_seconds, 3), insights=insights,
        )
        self.store.save_run(run)
        log.info("insights of %s over %s: %d themes from %d messages in %.1fs", workspace, since,
                 len(insights), len(current), run.seconds)
        return run

    def latest(self, workspace: str, since: str | None = None) -> InsightRun | None:
        return self.store.latest(workspace, since)

    def vectors(self, workspace: str, messages: Sequence[CustomerMessage]) -> np.ndarray:
        """Vectors of ``messages`` in order. Stored ones are read when they were computed by this
        model from this text (message id, content hash and model id match); only the others are
        embedded (each distinct text once) and stored, so a refresh encodes what is new or changed."""
        model = self.embedder.model_id
        hashes = {m.id: content_hash(m.text) for m in messages}
        found = self.store.vectors(model, hashes)
        missing = [m for m in messages if m.id not in found]
        if missing:
            fitted = {m.id: self.embedded_text(m.text) for m in missing}
            texts = list(dict.fromkeys(fitted.values()))
            fresh = dict(zip(texts, self.embedder.embed_documents(texts), strict=True))
            new = {m.id: (hashes[m.id], fresh[fitted[m.id]]) for m in missing}
            self.store.save_vectors(workspace, model, new)
            found.update({mid: vector for mid, (_, vector) in new.items()})
            log.info("insights of %s: %d of %d message vectors embedded (%d texts)", workspace, len(missing),
                     len(messages), len(texts))
        if not messages:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([found[m.id] for m in messages]).astype(np.float32)

    def embedded_text(self, text: str) -> str:
        """The text cut to what the model embeds without truncating."""
        words = text.split()[:MAX_WORDS]
        while len(words) > 1 and self.embedder.count_tokens(" ".join(words)) > self.embedder.max_tokens:
            words = words[: len(words) // 2]
        return " ".join(words)

    def _with_articles(self, workspace: str, insight: Insight) -> Insight:
        if insight.kind != InsightKind.KNOWLEDGE_GAP or self.articles is None:
            return insight
        key = [insight.keyword] if insight.keyword else []
        matches = self.articles.find(insight.representative, workspace=workspace, top_k=self.settings.articles,
                                     terms=key)
        s = self.settings
        best = matches[0] if matches else None
        close = best is not None and (best.score >= s.article_threshold or (
            best.score >= s.article_threshold - s.mention_margin and bool(best.mentions)))
        suggestion = "extend" if close else "write"
        return insight.model_copy(update={"articles": matches, "suggestion": suggestion})
