"""Classifying a theme: knowledge gap, complaint, request or other.

Rules, in this order (the first that holds wins):

1. knowledge gap: at least ``gap_share`` of its sessions were handed off because the agent
   could not answer (``low_confidence``);
2. complaint: the mean VADER compound sentiment of its messages is at most ``complaint_sentiment``;
3. request: at least ``request_share`` of its messages are phrased as a wish or feature request;
4. other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.models import Frozen

from .models import InsightKind

GAP_REASONS = frozenset({"low_confidence"})
_REQUEST = re.compile(
    r"\b(please (add|consider|offer|sell|stock|bring)|could you (add|offer|sell|stock)|can you (add|offer|sell|stock)"
    r"|would (love|like) (it if|to see|you to)|i wish you|wish you (had|offered|sold)|any plans to|feature request"
    r"|would be (great|nice|good) if|would buy|add \w+( \w+)? to (the|your) (shop|store|app)|(should|could) (add|offer)"
    r"|it would be great)\b",
    re.IGNORECASE,
)


class Rules(Frozen):
    """Thresholds of the classification rules."""

    gap_share: float = Field(default=0.5, ge=0.0, le=1.0)
    complaint_sentiment: float = Field(default=-0.2, ge=-1.0, le=1.0)
    request_share: float = Field(default=0.4, ge=0.0, le=1.0)


class Classifier:
    """Sentiment and request phrasing of messages, and the kind of a theme."""

    def __init__(self, *, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self._vader = SentimentIntensityAnalyzer()

    def sentiment(self, text: str) -> float:
        """VADER compound score in [-1, 1]."""
        return float(self._vader.polarity_scores(text)["compound"])

    @staticmethod
    def is_request(text: str) -> bool:
        return _REQUEST.search(text) is not None

    def kind(self, *, gap_share: float, sentiment: float, request_share: float) -> InsightKind:
        r = self.rules
        if gap_share >= r.gap_share:
            return InsightKind.KNOWLEDGE_GAP
        if sentiment <= r.complaint_sentiment:
            return InsightKind.COMPLAINT
        if request_share >= r.request_share:
            return InsightKind.REQUEST
        return InsightKind.OTHER

    def summarize(self, texts: Sequence[str]) -> tuple[float, float]:
        """(mean sentiment, share of request phrasing) of ``texts``."""
        if not texts:
            return 0.0, 0.0
        sentiment = sum(self.sentiment(t) for t in texts) / len(texts)
        requests = sum(1 for t in texts if self.is_request(t)) / len(texts)
        return sentiment, requests
