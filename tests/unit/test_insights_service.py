"""InsightsService plumbing with the hash embedder: reading the window from the session store,
the vector cache, stored runs, knowledge gaps matched with articles (a fake finder)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from agent.sessions import SessionStore
from core.db import Database
from core.models import Channel
from core.tables import utcnow
from insights.models import ArticleMatch, InsightKind
from insights.samples import SampleHandoff, SampleSession, seed
from insights.service import InsightSettings, InsightsService
from tests.fakes import HashEmbedder


class Articles:
    """A fake ArticleFinder: fixed matches per query word."""

    def __init__(self, matches: dict[str, list[ArticleMatch]]) -> None:
        self.matches, self.queries = matches, []  # type: ignore[var-annotated]

    def find(self, query: str, *, workspace: str, top_k: int, terms: Sequence[str] = ()) -> list[ArticleMatch]:
        self.queries.append(query)
        return next((m for word, m in self.matches.items() if word in query.lower()), [])[:top_k]


def _sessions() -> list[SampleSession]:
    now = utcnow()
    out = []
    for n in range(8):
        for theme, text, reason in (("norway", "Do you ship coffee to Norway?", "low_confidence"),
                                    ("bags", "Are the coffee bags compostable?", "low_confidence"),
                                    ("e12", "E-12 error again on the grinder", None)):
            at = now - timedelta(days=1, hours=n) if n < 6 else now - timedelta(days=9, hours=n)
            handoff = SampleHandoff(reason=reason, compound=0.0, assignee="alice") if reason else None
            out.append(SampleSession(theme=theme, channel=Channel.WEB, email=f"{theme}{n}@example.com", created_at=at,
                                     customer=(text, "Thanks!"), handoff=handoff))
    return out


def test_refresh_reads_the_window_caches_vectors_and_stores_the_run(sqlite_db: Database) -> None:
    seed(SessionStore(db=sqlite_db), "w", _sessions())
    embedder = HashEmbedder()
    # below the threshold, but within the margin and naming the theme's key term: extend it
    shipping = ArticleMatch(document_id="hc:shipping", title="Shipping times and costs by country", score=0.45,
                            mentions=["norway"])
    articles = Articles({"norway": [shipping], "compostable": [  # as close, naming nothing: write a new one
        ArticleMatch(document_id="hc:returns", title="Return policy", score=0.45)]})
    service = InsightsService(db=sqlite_db, embedder=embedder, articles=articles,
                              settings=InsightSettings(article_threshold=0.55, mention_margin=0.15))
    run = service.refresh("w", since="7d")
    assert run.messages == 18 and run.sessions == 18  # "Thanks!" is not informative; older ones only for trend
    assert embedder.embedded == 3  # the 24 messages of both windows say 3 distinct things: each embedded once
    gaps = {i.representative: i for i in run.insights if i.kind == InsightKind.KNOWLEDGE_GAP}
    assert set(gaps) == {"Do you ship coffee to Norway?", "Are the coffee bags compostable?"}
    norway = gaps["Do you ship coffee to Norway?"]
    assert (norway.size, norway.previous_size, norway.handoff_rate) == (6, 2, 1.0)
    assert norway.suggestion == "extend" and norway.articles == [shipping]
    assert gaps["Are the coffee bags compostable?"].suggestion == "write"
    others = [i for i in run.insights if i.kind != InsightKind.KNOWLEDGE_GAP]
    assert [(i.size, i.suggestion, i.articles) for i in others] == [(6, None, [])]

    again = service.refresh("w", since="7d")
    assert embedder.embedded == 3  # stored: nothing embedded twice
    latest = service.latest("w", "7d")
    assert latest is not None and latest.id == again.id and latest.insights == again.insights
    assert service.latest("w", "24h") is None and service.latest("other") is None
    assert "session_ids" not in latest.to_json()["insights"][0]
