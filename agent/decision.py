"""The Decision: what the agent does with one inbound message, and why.

Serialised exactly as the HTTP API and ``knowdesk ask --json`` return it::

    {"session_id": "...", "ticket": 1001, "action": "answer", "reply": "...", "confidence": 0.82,
     "citations": [{"title": "...", "url": "...", "document_id": "..."}],
     "handoff": null,
     "trace": {"redactions": [...], "triggers": [...], "scenarios": [...],
               "retrieved": [{"document_id": "...", "score": 0.71}], "timings": {"redact_ms": 0.3}},
     "message_id": 42}
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from core.models import Frozen


class Action(StrEnum):
    """What the agent does with a message."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    ACTION_CALL = "action_call"
    HANDOFF = "handoff"


class HandoffReason(StrEnum):
    """Why a conversation went to a human."""

    HUMAN_REQUESTED = "human_requested"
    FRUSTRATION = "frustration"
    PROHIBITED_TOPIC = "prohibited_topic"
    LOW_CONFIDENCE = "low_confidence"
    AUTOPILOT_OFF = "autopilot_off"
    TOPIC_SKIPPED = "topic_skipped"
    ACTION_FAILED = "action_failed"


class ClosureReason(StrEnum):
    """Why the agent closed a session itself."""

    #: The customer said goodbye ("bye", "thanks, that's all") after an answered question.
    CLOSED_BY_CUSTOMER = "closed_by_customer"


class Citation(Frozen):
    """A source the reply is grounded in."""

    title: str
    url: str | None = None
    document_id: str


class Sentiment(Frozen):
    """The customer's detected sentiment: a label and the VADER compound score in [-1, 1]."""

    label: str
    compound: float


class Handoff(Frozen):
    """Why and how a conversation goes to the team."""

    reason: HandoffReason
    trigger_score: float | None = None
    summary: str = ""
    sentiment: Sentiment | None = None


class Redaction(Frozen):
    """One kind of personal data removed from the message (never the value itself)."""

    kind: str
    count: int


class TriggerResult(Frozen):
    """One handoff trigger's evaluation: its score, threshold and whether it fired."""

    name: str
    enabled: bool
    score: float
    threshold: float
    fired: bool
    detail: dict[str, Any] = Field(default_factory=dict)


class ScenarioTrace(Frozen):
    """A training scenario the agent considered."""

    id: str
    title: str
    kind: str
    score: float | None = None
    applied: bool = False


class Retrieved(Frozen):
    """A retrieved chunk's document and scores."""

    document_id: str
    score: float
    dense_score: float | None = None
    title: str | None = None


class Trace(Frozen):
    """What the AI saw: redactions, triggers, scenarios, retrieved content, timings (ms)."""

    redactions: list[Redaction] = Field(default_factory=list)
    triggers: list[TriggerResult] = Field(default_factory=list)
    scenarios: list[ScenarioTrace] = Field(default_factory=list)
    retrieved: list[Retrieved] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    signals: dict[str, float] = Field(default_factory=dict)
    #: The answer and clarify thresholds in force when the decision was made.
    thresholds: dict[str, float] = Field(default_factory=dict)
    language: str | None = None
    notes: list[str] = Field(default_factory=list)


class Decision(Frozen):
    """One message's outcome. ``confidence`` is in [0, 1]: the calibrated answer confidence, or for a
    handoff a trigger decided, that trigger's score. ``handoff`` is set iff action is handoff."""

    session_id: str
    ticket: int
    action: Action
    reply: str
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation] = Field(default_factory=list)
    handoff: Handoff | None = None
    #: Set when this decision closed the session (never together with a handoff).
    closure: ClosureReason | None = None
    trace: Trace = Field(default_factory=Trace)
    #: The reply's id in the session's transcript, once stored (feedback on the reply names it).
    message_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
