"""Reading a stored decision record back for a support lead: why the agent did what it did, and what
would have changed it.

A decision record (``Decision.to_json()``, kept as the session's ``decision`` event) names its
triggers with scores and thresholds, its signals, and the answer and clarify thresholds in force
(``trace.thresholds``). ``explain`` turns one record into the deciding score, its distance to the
threshold that decided, the trigger nearest to changing the outcome and one sentence saying so.
Records written before the thresholds were stored fall back to the thresholds given by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.models import Frozen

from .decision import HandoffReason

#: The handoff reasons a trigger decides, in the agent's priority order.
TRIGGER_REASONS = {
    HandoffReason.TOPIC_SKIPPED.value: "topic_gate",
    HandoffReason.PROHIBITED_TOPIC.value: "prohibited_topic",
    HandoffReason.HUMAN_REQUESTED.value: "human_request",
    HandoffReason.FRUSTRATION.value: "frustration",
}


class TriggerView(Frozen):
    """One trigger as it was evaluated: ``margin`` is score minus threshold (>= 0 when it fired)."""

    name: str
    score: float
    threshold: float
    fired: bool
    margin: float


class Explanation(Frozen):
    """Why one decision came out as it did.

    ``reason`` is the handoff reason, or the action for a decision without a handoff. ``score`` is
    what decided (the firing trigger's score, or the calibrated confidence), ``threshold`` the bar
    it was measured against and ``distance`` their difference. ``nearest`` is the trigger closest
    to changing the decision: for a trigger handoff the next trigger that also fired or came
    closest; otherwise the unfired trigger nearest its threshold.
    """

    action: str
    reason: str
    confidence: float
    raw_confidence: float | None = None
    score: float | None = None
    threshold: float | None = None
    distance: float | None = None
    nearest: TriggerView | None = None
    change: str


def _triggers(record: Mapping[str, Any]) -> list[TriggerView]:
    out = []
    for t in (record.get("trace") or {}).get("triggers") or []:
        try:
            score, threshold = float(t["score"]), float(t["threshold"])
        except (KeyError, TypeError, ValueError):
            continue
        out.append(TriggerView(name=str(t.get("name", "?")), score=round(score, 4), threshold=round(threshold, 4),
                               fired=bool(t.get("fired")), margin=round(score - threshold, 4)))
    return out


def reason_of(record: Mapping[str, Any]) -> str:
    """The handoff reason of a record, or its action when it was not handed off."""
    handoff = record.get("handoff") or {}
    return str(handoff.get("reason") or record.get("action") or "unknown")


def explain(record: Mapping[str, Any], *, answer_threshold: float, clarify_threshold: float) -> Explanation:
    """The explanation of one decision record (see the module docstring)."""
    trace = record.get("trace") or {}
    stored = trace.get("thresholds") or {}
    answer_at = float(stored.get("answer", answer_threshold))
    clarify_at = float(stored.get("clarify", clarify_threshold))
    action, reason = str(record.get("action", "unknown")), reason_of(record)
    confidence = float(record.get("confidence") or 0.0)
    signals = trace.get("signals") or {}
    raw = signals.get("raw_confidence")
    triggers = [t for t in _triggers(record) if t.name != "low_confidence"]
    base = {"action": action, "reason": reason, "confidence": confidence,
            "raw_confidence": float(raw) if raw is not None else None}

    if reason in TRIGGER_REASONS:
        name = TRIGGER_REASONS[reason]
        firing = next((t for t in triggers if t.name == name and t.fired), None)
        others = [t for t in triggers if t is not firing]
        nearest = max(others, key=lambda t: t.margin, default=None)
        if firing is None:
            score = (record.get("handoff") or {}).get("trigger_score")
            return Explanation(**base, score=score, nearest=nearest,
                               change=f"handed off for {reason}; the record keeps no trigger for it")
        then = ""
        if nearest is not None and nearest.fired:
            then = f"; {nearest.name} also fired ({nearest.score:.2f}) and would have handed off instead"
        return Explanation(
            **base, score=firing.score, threshold=firing.threshold, distance=firing.margin, nearest=nearest,
            change=(f"{firing.name} scored {firing.score:.2f}, {firing.margin:.2f} above its threshold "
                    f"{firing.threshold:.2f}: below it the agent would have gone on to answer{then}"))
    nearest = max((t for t in triggers if not t.fired), key=lambda t: t.margin, default=None)
    near = (f"; the nearest trigger, {nearest.name}, scored {nearest.score:.2f} ({-nearest.margin:.2f} below "
            f"its threshold {nearest.threshold:.2f})") if nearest is not None else ""
    if reason == HandoffReason.AUTOPILOT_OFF.value:
        return Explanation(**base, nearest=nearest,
                           change="autopilot is off on this channel: turning it on lets the agent answer")
    if reason == HandoffReason.ACTION_FAILED.value:
        return Explanation(**base, nearest=nearest,
                           change="the action the message asked for failed: a working action would have answered")
    if "pleasantry" in signals:
        closed = ", and the session closed (the customer said goodbye after an answer)" if record.get("closure") else ""
        return Explanation(**base, nearest=nearest,
                           change="a greeting, thanks or goodbye: a courteous reply" + closed + near)
    if "scenario" in signals:
        return Explanation(**base, score=float(signals["scenario"]), nearest=nearest,
                           change="answered from a training scenario that matched the message" + near)
    distance = round(confidence - answer_at, 4)
    if action == "answer":
        change = (f"confidence {confidence:.2f} is {distance:.2f} above the answer threshold {answer_at:.2f}: "
                  f"below it the agent would have asked or handed off{near}")
    elif action == "clarify":
        change = (f"confidence {confidence:.2f} is {-distance:.2f} below the answer threshold {answer_at:.2f} "
                  f"(clarify from {clarify_at:.2f}): at {answer_at:.2f} it would have answered{near}")
    elif reason == HandoffReason.LOW_CONFIDENCE.value:
        change = (f"confidence {confidence:.2f} is {-distance:.2f} below the answer threshold {answer_at:.2f}: "
                  f"at {answer_at:.2f} it would have answered{near}")
    else:
        change = f"{action} with confidence {confidence:.2f}{near}"
    return Explanation(**base, score=confidence, threshold=answer_at, distance=distance, nearest=nearest,
                       change=change)
