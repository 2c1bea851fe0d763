"""CSAT value objects: a survey request, a score, and the aggregates."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from core.models import Frozen


class SurveyStatus(StrEnum):
    SCHEDULED = "scheduled"
    ANSWERED = "answered"


class Survey(Frozen):
    """A survey requested for a resolved session; the webhook event is sent at ``due_at``."""

    session_id: str
    channel: str
    status: SurveyStatus
    due_at: datetime
    requested_at: datetime


class Score(Frozen):
    """A session's score (1-5) and what it is aggregated by."""

    session_id: str
    score: int = Field(ge=1, le=5)
    comment: str = ""
    channel: str
    handed_off: bool
    handoff_reason: str | None = None
    assignee: str | None = None
    created_at: datetime


class Stats(Frozen):
    """Scores of one group: count, mean, CSAT (share of 4 and 5) and the 1-5 distribution."""

    count: int
    mean: float | None
    csat: float | None
    distribution: dict[str, int]


class Point(Frozen):
    """One day of scores (for charts)."""

    day: str
    count: int
    mean: float | None


class CsatReport(Frozen):
    """Aggregates over ``[start, end)``. ``by_resolution`` keys: ``ai_only``, ``handed_off``;
    ``by_agent`` covers handed-off sessions (``unassigned`` when no assignee was recorded);
    ``by_topic`` uses the insight themes of the latest run (``unclustered`` otherwise)."""

    start: datetime
    end: datetime
    overall: Stats
    by_channel: dict[str, Stats]
    by_topic: dict[str, Stats]
    by_resolution: dict[str, Stats]
    by_agent: dict[str, Stats]
    series: list[Point]


class Rating(StrEnum):
    """A vote on one agent reply."""

    UP = "up"
    DOWN = "down"


class Feedback(Frozen):
    """A vote on an agent reply, with the redacted question, reply and a snapshot of the decision
    (action, confidence, citations, retrieved documents, scenarios, handoff reason)."""

    id: str
    session_id: str
    message_id: int
    rating: Rating
    reason: str = ""
    question: str = ""
    reply: str = ""
    decision: dict[str, Any] = Field(default_factory=dict)
    replaced: bool = False
    created_at: datetime
    updated_at: datetime


class RatedGroup(Frozen):
    """Votes of one topic or document: counts and the share of thumbs-down."""

    key: str
    title: str = ""
    up: int
    down: int
    down_share: float


class FeedbackReport(Frozen):
    """Votes over ``[start, end)``: totals, the worst-rated topics and the documents behind
    thumbs-down answers (most thumbs-down first), and the latest thumbs-down with their reasons."""

    start: datetime
    end: datetime
    up: int
    down: int
    down_share: float | None
    worst_topics: list[RatedGroup]
    documents: list[RatedGroup]
    recent_down: list[Feedback]
