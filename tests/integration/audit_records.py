"""Decision records as the agent stores them, for the audit page tests (one per kind of decision)."""

from __future__ import annotations

from agent.decision import (
    Action,
    Citation,
    Decision,
    Handoff,
    HandoffReason,
    Retrieved,
    Trace,
    TriggerResult,
)
from agent.sessions import Role, SessionStore
from app.runtime import Runtime
from core.models import Channel

THRESHOLDS = {"answer": 0.8, "clarify": 0.6}


def _trigger(name: str, score: float, threshold: float) -> TriggerResult:
    return TriggerResult(name=name, enabled=True, score=score, threshold=threshold, fired=score >= threshold)


def store_decision(rt: Runtime, channel: Channel, message: str, decision: Decision) -> int:
    """Store ``message`` and ``decision`` on a new session as the agent does; returns the event id."""
    store = SessionStore(db=rt.db)
    session = store.create("default", channel=channel)
    store.add_message("default", session.id, Role.CUSTOMER, message)
    reply_id = store.add_message("default", session.id, Role.AGENT, decision.reply)
    data = decision.model_copy(update={"session_id": session.id, "message_id": reply_id}).to_json()
    store.add_event("default", session.id, "decision", data)
    return store.decisions("default", limit=1)[0].event_id


def answered(rt: Runtime, channel: Channel = Channel.WEB) -> int:
    triggers = [_trigger("human_request", 0.41, 0.62), _trigger("frustration", 0.2, 0.5)]
    trace = Trace(triggers=triggers, thresholds=THRESHOLDS,
                  retrieved=[Retrieved(document_id="handbook:refunds.md#0", score=0.0323, dense_score=0.71,
                                       title="Refunds and returns within thirty days of delivery"),
                             Retrieved(document_id="handbook:shipping.md#0", score=0.0161, dense_score=0.42,
                                       title="Shipping")],
                  signals={"human_request": 0.41, "frustration": 0.2, "retrieval": 1.0, "margin": 0.9,
                           "coverage": 0.8, "support": 1.0, "raw_confidence": 0.93})
    d = Decision(session_id="-", ticket=0, action=Action.ANSWER, reply="Refunds reach your card within five days.",
                 confidence=0.91, citations=[Citation(title="Refunds", document_id="handbook:refunds.md")],
                 trace=trace)
    return store_decision(rt, channel, "How long does a refund take to reach my card?", d)


def handed_off(rt: Runtime, channel: Channel = Channel.EMAIL) -> int:
    triggers = [_trigger("human_request", 0.92, 0.62), _trigger("frustration", 0.3, 0.5)]
    trace = Trace(triggers=triggers, thresholds=THRESHOLDS, signals={"human_request": 0.92, "frustration": 0.3})
    d = Decision(session_id="-", ticket=0, action=Action.HANDOFF, reply="I'm connecting you with our team.",
                 confidence=0.92, handoff=Handoff(reason=HandoffReason.HUMAN_REQUESTED, trigger_score=0.92),
                 trace=trace)
    return store_decision(rt, channel, "Could someone from your team call me back about my parcel?", d)


def low_confidence(rt: Runtime, channel: Channel = Channel.WHATSAPP) -> int:
    triggers = [_trigger("human_request", 0.05, 0.62), _trigger("low_confidence", 0.7, 0.2)]
    trace = Trace(triggers=triggers, thresholds=THRESHOLDS,
                  retrieved=[Retrieved(document_id="handbook:shipping.md#0", score=0.016, dense_score=0.33)],
                  signals={"human_request": 0.05, "low_confidence": 0.7, "retrieval": 0.1, "raw_confidence": 0.3})
    d = Decision(session_id="-", ticket=0, action=Action.HANDOFF, reply="I'm connecting you with our team.",
                 confidence=0.3, handoff=Handoff(reason=HandoffReason.LOW_CONFIDENCE, trigger_score=0.7),
                 trace=trace)
    return store_decision(rt, channel, "Do you sell tea in Antarctica " + "and elsewhere " * 30, d)
