"""Value objects of insights: the window, one message, what is known of a session, an insight."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from core.errors import InvalidInput
from core.models import Frozen

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> timedelta:
    """``"7d"``, ``"24h"``, ``"30m"``, ``"2w"`` as a timedelta; ``InvalidInput`` otherwise."""
    match = _DURATION.match(value or "")
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(f"invalid window {value!r}: use a number and a unit, e.g. 7d, 24h, 30m or 2w",
                           since=value)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class InsightKind(StrEnum):
    """What a theme is: a question the agent could not answer, a complaint, a request, other."""

    KNOWLEDGE_GAP = "knowledge_gap"
    COMPLAINT = "complaint"
    REQUEST = "request"
    OTHER = "other"


class Trend(StrEnum):
    NEW = "new"
    RISING = "rising"
    STEADY = "steady"
    FALLING = "falling"


class Window(Frozen):
    """The current window ``[start, end)`` and the previous one of the same length before it."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def previous_start(self) -> datetime:
        return self.start - self.length

    @classmethod
    def ending(cls, end: datetime, length: timedelta) -> Window:
        return cls(start=end - length, end=end)


class CustomerMessage(Frozen):
    """One redacted customer message."""

    id: int
    session_id: str
    text: str
    created_at: datetime


class SessionFacts(Frozen):
    """What insights need to know of a session: channel, its handoff (if any) and outcome."""

    session_id: str
    channel: str = "web"
    handoff_reason: str | None = None
    assignee: str | None = None


class ArticleMatch(Frozen):
    """An existing article close to a knowledge gap; ``score`` is the cosine similarity of its
    best passage, ``mentions`` the theme's key terms that passage contains."""

    document_id: str
    title: str
    uri: str | None = None
    score: float
    mentions: list[str] = Field(default_factory=list)


class Insight(Frozen):
    """One theme of the window.

    ``size`` counts its customer messages in the current window, ``previous_size`` in the
    previous one; ``sessions`` the distinct sessions; ``handoff_rate`` the share of them handed
    off. ``keyword`` is its most distinctive single word. ``articles``/``suggestion`` are set
    for knowledge gaps: ``extend`` the closest article, or ``write`` a new one when nothing is
    close enough. ``series`` counts messages
    per bucket over both windows (for sparklines).
    """

    id: str
    kind: InsightKind
    label: str
    terms: list[str]
    keyword: str | None = None
    representative: str
    size: int
    previous_size: int
    trend: Trend
    change: float | None = None
    sessions: int
    handoff_rate: float = Field(ge=0.0, le=1.0)
    handoff_reasons: dict[str, int] = Field(default_factory=dict)
    sentiment: float = 0.0
    request_share: float = 0.0
    example_sessions: list[str] = Field(default_factory=list)
    session_ids: list[str] = Field(default_factory=list)
    series: list[int] = Field(default_factory=list)
    articles: list[ArticleMatch] = Field(default_factory=list)
    suggestion: str | None = None


class InsightRun(Frozen):
    """One computation of insights over a window (stored; ``GET /v1/insights`` returns the last)."""

    id: str
    workspace: str
    since: str
    window: Window
    computed_at: datetime
    messages: int
    sessions: int
    clustered: int
    seconds: float
    embed_seconds: float
    insights: list[Insight]

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for item in data["insights"]:
            item.pop("session_ids", None)
        return data
