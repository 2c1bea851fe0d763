"""From a window's customer messages and their vectors to insights (no I/O: see ``service``)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import Field

from core.models import Frozen

from .classify import GAP_REASONS, Classifier
from .clustering import NOISE, centroids, cluster, distinctive_terms
from .models import CustomerMessage, Insight, InsightKind, SessionFacts, Trend, Window


class EngineOptions(Frozen):
    """Clustering and reporting parameters (defaults measured on the planted sample sessions)."""

    threshold: float = Field(default=0.5, gt=0.0, lt=2.0)
    min_size: int = Field(default=5, ge=2)
    max_fit: int = Field(default=4000, ge=100)
    examples: int = Field(default=5, ge=1, le=50)
    terms: int = Field(default=5, ge=1, le=20)
    buckets: int = Field(default=14, ge=2, le=120)
    trend_margin: float = Field(default=0.25, ge=0.0)


def build_insights(
    messages: Sequence[CustomerMessage],
    vectors: np.ndarray,
    facts: Mapping[str, SessionFacts],
    window: Window,
    *,
    classifier: Classifier,
    options: EngineOptions | None = None,
) -> list[Insight]:
    """Insights of ``window`` from the messages of the window and the previous one.

    ``messages`` and ``vectors`` are aligned (L2-normalized rows). A theme is reported when it
    has at least ``min_size`` messages over both windows and at least one in the current
    window; insights are ordered by current size, largest first.
    """
    o = options or EngineOptions()
    labels = cluster(vectors, threshold=o.threshold, min_size=o.min_size, max_fit=o.max_fit)
    k = int(labels.max()) + 1 if len(labels) and labels.max() != NOISE else 0
    if k == 0:
        return []
    texts = [m.text for m in messages]
    terms = distinctive_terms(texts, labels, k, top=o.terms)
    centres = centroids(vectors, labels, k)
    current = np.array([m.created_at >= window.start for m in messages], dtype=bool)
    span = (window.end - window.previous_start).total_seconds() / o.buckets
    insights: list[Insight] = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        now = members[current[members]]
        if len(now) == 0:
            continue
        closeness = vectors[now] @ centres[c]
        ordered = now[np.argsort(-closeness)]
        sessions = list(dict.fromkeys(messages[i].session_id for i in ordered))
        reasons = Counter(r for s in sessions if (r := facts[s].handoff_reason if s in facts else None))
        handed = sum(reasons.values())
        gap = sum(n for r, n in reasons.items() if r in GAP_REASONS) / len(sessions)
        sentiment, request_share = classifier.summarize([texts[i] for i in now])
        size, previous = len(now), len(members) - len(now)
        trend, change = _trend(size, previous, o.trend_margin)
        series = [0] * o.buckets
        for i in members:
            at = (messages[int(i)].created_at - window.previous_start).total_seconds()
            series[min(o.buckets - 1, max(0, int(at // span)))] += 1
        label_terms = terms[c].terms or [texts[int(ordered[0])][:40]]
        insights.append(Insight(
            id=_insight_id(label_terms, sessions),
            kind=classifier.kind(gap_share=gap, sentiment=sentiment, request_share=request_share),
            label=" / ".join(label_terms[:3]),
            terms=label_terms,
            keyword=terms[c].keyword,
            representative=texts[int(ordered[0])],
            size=size,
            previous_size=previous,
            trend=trend,
            change=change,
            sessions=len(sessions),
            handoff_rate=round(handed / len(sessions), 4),
            handoff_reasons=dict(reasons),
            sentiment=round(sentiment, 4),
            request_share=round(request_share, 4),
            example_sessions=sessions[: o.examples],
            session_ids=sessions,
            series=series,
        ))
    insights.sort(key=lambda i: (-i.size, i.label))
    return insights


def _trend(size: int, previous: int, margin: float) -> tuple[Trend, float | None]:
    if previous == 0:
        return Trend.NEW, None
    change = (size - previous) / previous
    if change >= margin:
        return Trend.RISING, round(change, 4)
    if change <= -margin:
        return Trend.FALLING, round(change, 4)
    return Trend.STEADY, round(change, 4)


def _insight_id(terms: Sequence[str], sessions: Sequence[str]) -> str:
    digest = hashlib.sha256(("|".join(terms) + "#" + "|".join(sorted(sessions))).encode()).hexdigest()
    return digest[:16]


def gap_kinds() -> frozenset[InsightKind]:
    """The kinds that get article suggestions."""
    return frozenset({InsightKind.KNOWLEDGE_GAP})
