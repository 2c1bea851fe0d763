"""Reading decision records back for the audit view (``agent.audit.explain``)."""

from __future__ import annotations

from typing import Any

from agent.audit import explain, reason_of
from agent.decision import Action, Decision, Handoff, HandoffReason, Trace, TriggerResult

THRESHOLDS = {"answer": 0.8, "clarify": 0.6}


def trigger(name: str, score: float, threshold: float) -> TriggerResult:
    return TriggerResult(name=name, enabled=True, score=score, threshold=threshold, fired=score >= threshold)


def record(action: Action, confidence: float, triggers: list[TriggerResult], *, reason: HandoffReason | None = None,
           signals: dict[str, float] | None = None, thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    handoff = None
    if reason is not None:
        fired = [t for t in triggers if t.fired]
        handoff = Handoff(reason=reason, trigger_score=fired[0].score if fired else None)
    all_signals = {t.name: t.score for t in triggers} | (signals or {})
    trace = Trace(triggers=triggers, signals=all_signals, thresholds=THRESHOLDS if thresholds is None else thresholds)
    return Decision(session_id="s", ticket=1001, action=action, reply="...", confidence=confidence, handoff=handoff,
                    trace=trace).to_json()


def test_a_trigger_handoff_is_explained_by_its_score_not_the_confidence() -> None:
    r = record(Action.HANDOFF, 0.0, [trigger("human_request", 0.92, 0.62), trigger("frustration", 0.31, 0.5),
                                     trigger("prohibited_topic", 0.1, 0.5)], reason=HandoffReason.HUMAN_REQUESTED)
    why = explain(r, answer_threshold=0.5, clarify_threshold=0.3)
    assert why.reason == reason_of(r) == "human_requested"
    assert (why.score, why.threshold, why.distance) == (0.92, 0.62, 0.3)
    assert why.nearest is not None and why.nearest.name == "frustration" and why.nearest.margin == -0.19
    assert "human_request scored 0.92" in why.change and "0.30 above" in why.change


def test_a_second_trigger_that_also_fired_is_named() -> None:
    r = record(Action.HANDOFF, 0.0, [trigger("human_request", 0.9, 0.62), trigger("frustration", 0.7, 0.5)],
               reason=HandoffReason.HUMAN_REQUESTED)
    why = explain(r, answer_threshold=0.5, clarify_threshold=0.3)
    assert why.nearest is not None and why.nearest.fired and "frustration also fired" in why.change


def test_an_answer_shows_its_distance_to_the_stored_threshold_and_the_nearest_trigger() -> None:
    r = record(Action.ANSWER, 0.86, [trigger("human_request", 0.4, 0.62), trigger("frustration", 0.45, 0.5)],
               signals={"retrieval": 0.9, "raw_confidence": 0.7})
    why = explain(r, answer_threshold=0.5, clarify_threshold=0.3)  # the record's own thresholds win
    assert (why.threshold, why.distance, why.raw_confidence) == (0.8, 0.06, 0.7)
    assert why.nearest is not None and why.nearest.name == "frustration"
    assert "0.06 above the answer threshold 0.80" in why.change and "frustration, scored 0.45" in why.change


def test_low_confidence_says_how_far_below_the_threshold_it_was() -> None:
    low = trigger("low_confidence", 0.75, 0.2)
    r = record(Action.HANDOFF, 0.25, [trigger("human_request", 0.1, 0.62), low], reason=HandoffReason.LOW_CONFIDENCE)
    why = explain(r, answer_threshold=0.5, clarify_threshold=0.3)
    assert why.reason == "low_confidence" and why.distance == -0.55
    assert why.nearest is not None and why.nearest.name == "human_request", "low_confidence is not a nearest trigger"
    assert "0.55 below the answer threshold 0.80" in why.change


def test_records_without_stored_thresholds_use_the_given_ones() -> None:
    r = record(Action.CLARIFY, 0.4, [], thresholds={})
    why = explain(r, answer_threshold=0.5, clarify_threshold=0.3)
    assert why.threshold == 0.5 and why.distance == -0.1 and "clarify from 0.30" in why.change


def test_autopilot_and_pleasantries_say_what_decided() -> None:
    off = record(Action.HANDOFF, 0.0, [trigger("autopilot", 1.0, 1.0)], reason=HandoffReason.AUTOPILOT_OFF)
    assert "autopilot is off" in explain(off, answer_threshold=0.5, clarify_threshold=0.3).change
    hello = record(Action.ANSWER, 1.0, [], signals={"pleasantry": 1.0})
    assert "courteous" in explain(hello, answer_threshold=0.5, clarify_threshold=0.3).change
    assert "closed" not in explain(hello, answer_threshold=0.5, clarify_threshold=0.3).change
    bye = hello | {"closure": "closed_by_customer"}
    assert "session closed" in explain(bye, answer_threshold=0.5, clarify_threshold=0.3).change
