"""The composition of insights and CSAT from settings (used by ``Runtime.insights``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from agent.sessions import SessionStore
from agent.tables import ContactRow, HandoffRow
from core.db import Database
from core.settings import InsightsCsatSettings
from core.tables import utcnow
from csat.feedback import FeedbackService
from csat.service import CsatService
from csat.webhook import CsatWebhook

from . import samples
from .service import Embedder, InsightSettings, InsightsService, SearchArticles, Searcher


class InsightsCsat:
    """Insights and CSAT of every workspace, plus what the analytics page shows."""

    def __init__(self, *, insights: InsightsService, csat: CsatService, db: Database,
                 feedback: FeedbackService | None = None) -> None:
        self.insights, self.csat, self.db = insights, csat, db
        self.feedback = feedback or FeedbackService(sessions=csat.sessions)

    def topics(self, workspace: str) -> dict[str, str]:
        """Session id -> the theme (insight label) it belongs to in the latest run."""
        run = self.insights.latest(workspace)
        if run is None:
            return {}
        return {sid: i.label for i in run.insights for sid in i.session_ids}

    def handoff_reasons(self, workspace: str, start: datetime, end: datetime) -> dict[str, list[int]]:
        """Handoffs per reason per day over ``[start, end)`` (one list entry per day)."""
        days = max(1, (end.date() - start.date()).days + 1)
        with self.db.session() as s:
            rows = s.execute(select(HandoffRow.reason, HandoffRow.created_at).where(
                HandoffRow.workspace == workspace, HandoffRow.created_at >= start, HandoffRow.created_at < end)).all()
        out: dict[str, list[int]] = defaultdict(lambda: [0] * days)
        for reason, at in rows:
            index = (at.date() - start.date()).days
            if 0 <= index < days:
                out[reason][index] += 1
        ordered = Counter({r: sum(v) for r, v in out.items()})
        return {r: out[r] for r, _ in ordered.most_common()}

    def window(self, days: int = 14) -> tuple[datetime, datetime]:
        end = utcnow()
        return end - timedelta(days=days), end

    def seed_samples(self, workspace: str, *, sessions: int = 320, seed: int = 11) -> list[str]:
        """Write the sample sessions with planted themes, their assignees and CSAT scores once
        (a workspace that has them already is left alone); returns the ids written, in the order
        of ``samples.generate(sessions=sessions, seed=seed)``."""
        with self.db.session() as s:
            present = s.scalars(select(ContactRow.id).where(ContactRow.workspace == workspace,
                                                            ContactRow.email == "customer0@example.com")).first()
        if present is not None:
            return []
        store = self.csat.sessions
        planted = samples.generate(sessions=sessions, seed=seed)
        ids = samples.seed(store, workspace, planted)
        for sid, sample in zip(ids, planted, strict=True):
            if sample.handoff is not None:
                handoff = store.handoffs(workspace, session_id=sid, limit=1)[0]
                self.csat.assign(workspace, handoff.id, sample.handoff.assignee)
            if sample.csat is not None:
                comment = samples.comment(sample) if sample.csat < 3 else ""
                at = min(utcnow(), sample.created_at + timedelta(hours=1))
                self.csat.record(workspace, sid, sample.csat, comment, at=at)
        return ids


def build(*, db: Database, embedder: Embedder, retriever: Searcher | None,
          settings: InsightsCsatSettings) -> InsightsCsat:
    """Insights over ``embedder`` (gaps matched with articles through ``retriever``) and CSAT."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    webhook = CsatWebhook(db=db, url=settings.webhook_url, secret=secret,
                          client=httpx.Client(timeout=settings.webhook_timeout),
                          max_attempts=settings.webhook_max_attempts, retry_seconds=settings.webhook_retry_seconds)
    sessions = SessionStore(db=db)
    insights = InsightsService(db=db, embedder=embedder,
                               articles=SearchArticles(retriever=retriever) if retriever is not None else None,
                               settings=InsightSettings(article_threshold=settings.article_threshold))
    return InsightsCsat(insights=insights, csat=CsatService(sessions=sessions, settings=settings, webhook=webhook),
                        db=db, feedback=FeedbackService(sessions=sessions))
