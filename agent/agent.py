"""The answering agent: one inbound message in, one ``Decision`` out.

    redact -> autopilot / topic gate -> handoff triggers -> scenarios -> actions -> answer

Every step's score goes into the decision's trace; every message, decision and handoff is stored
on the session (redacted). A question the content does not cover is never answered: below the
clarify threshold it is handed off (``low_confidence``), between the thresholds the agent asks a
clarifying question once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.errors import Conflict
from core.models import PUBLIC, DocumentKind, Hit, Viewer
from core.settings import AgentSettings
from retrieval.search import SearchFilters, knowledge_by_default
from training.models import Scenario, TrainingReader

from . import confidence as conf
from .access import AccessConfig
from .answering import Answer, ExtractiveAnswerer, coverage, quotes_first_document
from .courtesy import pleasantry
from .decision import (
    Action,
    Citation,
    ClosureReason,
    Decision,
    Handoff,
    HandoffReason,
    Retrieved,
    ScenarioTrace,
    Sentiment,
    Trace,
    TriggerResult,
)
from .handoffs import HandoffRecorder, already_handed_off_reply, handoff_reply
from .language import detect_language, source_language_note
from .llm import LLMAnswerer, LLMUnavailable
from .meaning import VectorCache, clauses
from .policy import AgentConfig, ConfigStore, Triggers
from .redaction import Redactor
from .scenarios import Retriever, ScenarioMatcher
from .sessions import Role, SessionInfo, SessionStatus, SessionStore

log = logging.getLogger(__name__)
#: How much of a message the triggers and the retrieval read, and at most how many of its clauses.
MAX_ANALYSED_CHARS = 4000
MAX_CLAUSES = 24


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What an action hook sees (issue 9): the redacted message and where it comes from."""

    workspace: str
    session: SessionInfo
    message: str
    vector: np.ndarray
    language: str | None
    behavioral: list[Scenario]
    #: The decision trace's notes: a hook appends what the trace should say (e.g. the LLM was down).
    notes: list[str] = field(default_factory=list)
    #: The turn's knowledge hits (retrieved once per turn, shared with the answer that may follow).
    knowledge: Callable[[], Sequence[Hit]] = lambda: ()
    #: What the contact may see: pass it to any search made for this turn.
    viewer: Viewer = PUBLIC


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """An action hook's result: a reply after a successful call, or ``failed`` (-> handoff)."""

    reply: str
    confidence: float
    name: str
    failed: bool = False
    citations: list[Citation] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    #: The decision's action when not failed: action_call after a call, clarify for a question
    #: (a missing parameter, a confirmation), answer (e.g. a declined call).
    kind: Action = Action.ACTION_CALL


class ActionHook(Protocol):
    """The extension point for actions: return None to let the agent answer from content."""

    def decide(self, context: TurnContext) -> ActionOutcome | None: ...


@runtime_checkable
class ToolHook(Protocol):
    """An action hook that can also offer its actions to an LLM as tools."""

    def offer_tools(self, llm: Any) -> bool:
        """Offer the actions to ``llm`` when it can call functions; returns whether it can."""
        ...


class AccessReader(Protocol):
    """A workspace's end-user access configuration (``agent.access.AccessStore`` satisfies it)."""

    def get(self, workspace: str) -> AccessConfig: ...


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + (time.perf_counter() - start) * 1000, 3)


class Agent:
    """Decides what to do with each inbound message of a session.

    Args:
        store: sessions, transcript, events, handoffs. configs: per-workspace ``AgentConfig``.
        retriever: hybrid search over the index. cache: vectors from the same model as the index.
        settings: thresholds and weights. training: published scenarios and profile (optional).
        llm: a generated-answer backend (optional; extractive otherwise). recorder: stores
        handoffs and delivers them to helpdesks. actions: the action hook (optional).
        access: each workspace's group -> audience mapping (``AccessStore``); without it every
        contact sees public documents only. calibrator: the fitted confidence calibration
        (``confidence.Calibrator``); without it the raw weighted mean is the confidence. reranked:
        the retriever's second ranking stage is on (the extractive answer then quotes the first hit's
        document unless ``settings.answer_from`` says otherwise).
    """

    def __init__(
        self,
        *,
        store: SessionStore,
        configs: ConfigStore,
        retriever: Retriever,
        cache: VectorCache,
        settings: AgentSettings,
        recorder: HandoffRecorder,
        training: TrainingReader | None = None,
        llm: LLMAnswerer | None = None,
        actions: ActionHook | None = None,
        access: AccessReader | None = None,
        calibrator: conf.Calibrator | None = None,
        reranked: bool = False,
    ) -> None:
        self.store, self.configs, self.retriever, self.cache = store, configs, retriever, cache
        self.access, self.calibrator = access, calibrator
        self.settings, self.recorder, self.training, self.llm, self.actions = settings, recorder, training, llm, actions
        self.triggers = Triggers(cache=cache, settings=settings)
        self.extractive = ExtractiveAnswerer(cache=cache, max_chars=settings.max_answer_chars,
                                             first_document=quotes_first_document(settings.answer_from, reranked))
        self.scenarios = ScenarioMatcher(
            retriever=retriever, reader=training, default_threshold=settings.scenario_threshold
        )

    def handle(self, workspace: str, session_id: str, text: str) -> Decision:
        """The decision for one customer message (stored on the session with the message)."""
        t = _Timer()
        session = self.store.get(workspace, session_id)
        if session.status == SessionStatus.CLOSED:
            raise Conflict(f"session {session_id!r} (ticket #{session.ticket}) is closed; open a new session")
        config = self.configs.get(workspace)
        with t("redact_ms"):
            redacted = Redactor(config.redaction).redact(text)
        message = redacted.text.strip()
        history = self.store.messages(workspace, session_id)
        self.store.add_message(workspace, session_id, Role.CUSTOMER, message)
        turn = _Turn(
            session=session,
            config=config,
            message=message[:MAX_ANALYSED_CHARS],
            timer=t,
            trace=Trace(redactions=redacted.redactions),
        )
        turn.viewer = self._viewer(turn)
        if len(message) > MAX_ANALYSED_CHARS:
            turn.notes.append(f"long message ({len(message)} characters): the first {MAX_ANALYSED_CHARS} were read")
        decision = self._decide(turn, history) if message else self._empty(turn)
        decision = self.record(workspace, session_id, decision)
        if decision.closure is not None:
            self.store.set_status(workspace, session_id, SessionStatus.CLOSED, reason=decision.closure.value)
        return decision

    def thresholds(self) -> tuple[float, float]:
        """(answer, clarify) thresholds in force: the calibrated ones, or the raw confidence's when no
        fitted calibration applies (another embedding model)."""
        s = self.settings
        if self.calibrator is not None:
            answer = s.answer_threshold if s.answer_threshold is not None else self.calibrator.answer_threshold
            clarify = s.clarify_threshold if s.clarify_threshold is not None else self.calibrator.clarify_threshold
            return answer, clarify
        return s.raw_answer_threshold, s.raw_clarify_threshold

    def record(self, workspace: str, session_id: str, decision: Decision) -> Decision:
        """Store the reply in the transcript and the decision record naming it (``message_id``, the
        id a customer's feedback on the reply uses); returns the decision with its ``message_id``."""
        message_id = self.store.add_message(workspace, session_id, Role.AGENT, decision.reply)
        decision = decision.model_copy(update={"message_id": message_id})
        self.store.add_event(workspace, session_id, "decision", decision.to_json())
        return decision

    # -- the pipeline ---------------------------------------------------------------------------
    def _decide(self, turn: _Turn, history: list[Any]) -> Decision:
        session, config, t = turn.session, turn.config, turn.timer
        if session.status == SessionStatus.HANDED_OFF:
            return self._already_handed_off(turn, history)
        if not config.autopilot_on(session.channel):
            trigger = TriggerResult(
                name="autopilot",
                enabled=True,
                score=1.0,
                threshold=1.0,
                fired=True,
                detail={"channel": session.channel.value},
            )
            turn.triggers.append(trigger)
            return self._handoff(turn, HandoffReason.AUTOPILOT_OFF, None, history)
        with t("embed_ms"):
            head = turn.message
            parts = (clauses(head) or [head])[:MAX_CLAUSES]
            vectors = self.cache.vectors([head, *parts])
            turn.vector = vectors[0]
        with t("triggers_ms"):
            gate = self.triggers.topic_gate(vectors, config)
            if gate is not None:
                turn.triggers.append(gate)
            human = self.triggers.human_request(head, parts, turn.vector, config.human_request)
            earlier = [m.text for m in history if m.role == Role.CUSTOMER]
            previous = self.cache.vectors(earlier) if earlier else None
            frustration, turn.sentiment = self.triggers.frustration(head, turn.vector, previous, config.frustration)
            prohibited = self.triggers.prohibited(vectors, config.prohibited_topics, config.prohibited)
            turn.triggers += [human, frustration, prohibited]
        if gate is not None and gate.fired:
            return self._handoff(turn, HandoffReason.TOPIC_SKIPPED, gate.score, history)
        if prohibited.fired and prohibited.score < self.settings.prohibited_strong_threshold:
            prohibited = self._contrast_with_knowledge(turn, prohibited)
        # a prohibited topic keeps its own reason; then an explicit request beats frustration,
        # which beats low confidence (decided later, when the answer is scored)
        for result, reason in (
            (prohibited, HandoffReason.PROHIBITED_TOPIC),
            (human, HandoffReason.HUMAN_REQUESTED),
            (frustration, HandoffReason.FRUSTRATION),
        ):
            if result.fired:
                return self._handoff(turn, reason, result.score, history)
        turn.language = detect_language(head)
        with t("scenarios_ms"):
            behavioral = self.scenarios.behavioral(session.workspace, session.channel, session.contact.segments)
            turn.behavioral = behavioral
            turn.scenarios += [
                ScenarioTrace(id=s.id, title=s.title, kind=str(s.kind), applied=True) for s in behavioral
            ]
            match, considered = self.scenarios.specific(
                session.workspace,
                turn.message,
                turn.vector,
                session.channel,
                session.contact.segments,
                SearchFilters(kind=DocumentKind.SCENARIO.value),
            )
            turn.scenarios += considered
        if self.actions is not None:
            with t("actions_ms"):
                outcome = self.actions.decide(
                    TurnContext(
                        workspace=session.workspace,
                        session=session,
                        message=turn.message,
                        vector=turn.vector,
                        language=turn.language,
                        behavioral=behavioral,
                        notes=turn.notes,
                        knowledge=lambda: self._knowledge(turn),
                        viewer=turn.viewer,
                    )
                )
            if outcome is not None:
                return self._action(turn, outcome, history)
        # after the actions, so a "yes" or "no thanks" to a confirmation reaches them
        polite = pleasantry(turn.message)
        if polite is not None:
            turn.signals = {"pleasantry": 1.0}
            turn.notes.append(f"pleasantry ({polite.kind.value}, {polite.language}): a courteous reply, no ticket")
            decision = self._decision(turn, Action.ANSWER, polite.reply, 1.0, [])
            if polite.closes and self._answered_before(turn):
                turn.notes.append("the customer said goodbye after an answer: the session is closed")
                decision = decision.model_copy(update={"closure": ClosureReason.CLOSED_BY_CUSTOMER})
            return decision
        if match is not None and not match.scenario.is_instruction:
            return self._scenario_answer(turn, match.scenario, match.similarity, match.threshold)
        instruction = match.scenario.answer if match is not None else None
        return self._answer(turn, history, instruction)

    def _answered_before(self, turn: _Turn) -> bool:
        """Whether an earlier decision in the session answered a question (content, a scenario or an
        action), so a goodbye now ends a conversation rather than opening one."""
        return any(
            e.type == "decision"
            and e.data.get("action") in (Action.ANSWER, Action.ACTION_CALL)
            and "pleasantry" not in (e.data.get("trace") or {}).get("signals", {})
            for e in self.store.events(turn.session.workspace, turn.session.id)
        )

    def _empty(self, turn: _Turn) -> Decision:
        """Nothing left to read (an empty message, or only personal data that was redacted)."""
        turn.notes.append("empty message: asked for the question instead of answering")
        reply = "I didn't get any text in your message. What can I help you with?"
        return self._decision(turn, Action.CLARIFY, reply, 0.0, [])

    def _contrast_with_knowledge(self, turn: _Turn, prohibited: TriggerResult) -> TriggerResult:
        """A message the help content explains at least as well as it matches a prohibited topic is
        an ordinary question (a shared brand word lifts both: "How much does the Mill cost?" against
        "suing Brewly"). Only used in the ambiguous band below the strong threshold."""
        with turn.timer("contrast_ms"):
            hits = self._knowledge(turn)
        knowledge = max((h.dense_score or 0.0 for h in hits), default=0.0)
        if knowledge < prohibited.score:
            return prohibited
        calmed = prohibited.model_copy(
            update={"fired": False, "detail": prohibited.detail | {"knowledge_score": round(knowledge, 4)}}
        )
        turn.triggers[turn.triggers.index(prohibited)] = calmed
        return calmed

    def _answer(self, turn: _Turn, history: list[Any], instruction: str | None) -> Decision:
        t, settings = turn.timer, self.settings
        with t("retrieve_ms"):
            hits = self._knowledge(turn)
        turn.hits = hits
        turn.trace_retrieved = [
            Retrieved(
                document_id=h.document_id,
                score=round(h.score, 4),
                dense_score=round(h.dense_score, 4) if h.dense_score is not None else None,
                title=h.title or None,
            )
            for h in hits
        ]
        answer: Answer | None = None
        with t("answer_ms"):
            if hits and self.llm is not None:
                try:
                    profile = self.training.profile(turn.session.workspace) if self.training else None
                    answer = self.llm.answer(
                        turn.message,
                        hits,
                        profile=profile,
                        behavioral=turn.behavioral,
                        instruction=instruction,
                        language=turn.language,
                    )
                except LLMUnavailable as exc:
                    turn.notes.append(f"LLM unavailable, extractive answer instead: {exc.message}")
                    answer = self.extractive.answer(turn.message, turn.vector, hits)
            elif hits:
                answer = self.extractive.answer(turn.message, turn.vector, hits)
        retrieval, margin = conf.retrieval_signals(hits, settings)
        signals = conf.Signals(
            retrieval=retrieval,
            margin=margin,
            coverage=coverage(turn.message, hits[:3]),
            support=answer.support if answer else 0.0,
        )
        raw = conf.combine(signals, settings) if answer else 0.0
        turn.signals = signals.as_dict() | {
            "answer_match": round(answer.best_unit_score, 4) if answer else 0.0,
            "top_cosine": round(max((h.dense_score or 0.0 for h in hits), default=0.0), 4),
            "raw_confidence": raw,
        }
        cited_ids = [c.document_id for c in answer.citations] if answer else []
        turn.signals |= conf.evidence_signals(turn.message, hits, cited_ids, answer.reply if answer else "")
        cited_languages = [next((h.language for h in hits if h.document_id == d), None) for d in cited_ids]
        turn.signals |= conf.language_signal(turn.language, cited_languages) | conf.english_signal(turn.language)
        confidence = self.calibrator(turn.signals) if answer and self.calibrator is not None else raw
        turn.confidence = confidence
        answer_at, clarify_at = self.thresholds()
        if answer is not None and confidence >= answer_at:
            cited = {c.document_id for c in answer.citations}
            note = source_language_note(turn.language, [h.language for h in hits if h.document_id in cited])
            reply = f"{answer.reply}\n\n{note}" if note else answer.reply
            return self._decision(turn, Action.ANSWER, reply, confidence, answer.citations)
        asked_before = _last_action(self.store.events(turn.session.workspace, turn.session.id)) == Action.CLARIFY
        if turn.config.clarify and hits and confidence >= clarify_at and not asked_before:
            titles = list(dict.fromkeys(h.title for h in hits if h.title))[:2]
            reply = "I want to be sure I understand. Could you tell me a bit more about what you need?" + (
                f" For example, is it about {' or '.join(repr(x) for x in titles)}?" if titles else ""
            )
            return self._decision(turn, Action.CLARIFY, reply, confidence, [])
        if not turn.config.low_confidence:
            reply = (
                "I couldn't find this in our help center. Could you rephrase your question, or ask about "
                "something else?"
            )
            return self._decision(turn, Action.CLARIFY, reply, confidence, [])
        score = round(1.0 - confidence, 4)
        turn.triggers.append(
            TriggerResult(
                name="low_confidence",
                enabled=True,
                score=score,
                threshold=round(1.0 - answer_at, 4),
                fired=True,
                detail={"confidence": confidence},
            )
        )
        return self._handoff(turn, HandoffReason.LOW_CONFIDENCE, score, history)

    def _retrieve(self, turn: _Turn) -> list[Hit]:
        """The knowledge for this turn: in the customer's language first, then in any language."""
        passes = [knowledge_by_default(None)]
        if turn.language and turn.language != "en":
            passes.insert(0, knowledge_by_default(SearchFilters(language=turn.language)))
        hits: list[Hit] = []
        for filters in passes:
            hits = self.retriever.search(
                turn.message, workspace=turn.session.workspace, top_k=self.settings.top_k,
                query_vector=turn.vector, filters=filters, viewer=turn.viewer)
            if hits:
                break
        return hits

    def _knowledge(self, turn: _Turn) -> list[Hit]:
        """``_retrieve`` once per turn: whoever asks first (the prohibited-topic contrast, an action
        hook, the answer) leaves the hits in ``turn.prefetched`` for the others."""
        if turn.prefetched is None:
            turn.language = turn.language or detect_language(turn.message)
            turn.prefetched = self._retrieve(turn)
        return turn.prefetched

    def _viewer(self, turn: _Turn) -> Viewer:
        """What the turn's contact may see: the labels its verified groups open (``agent.access``);
        public documents only without a verified identity. The contact's segments open nothing."""
        identity = turn.session.identity
        if identity is None:
            return PUBLIC
        access = self.access.get(turn.session.workspace) if self.access is not None else AccessConfig()
        groups = access.groups_of(identity)
        viewer = access.viewer(identity)
        turn.notes.append(f"verified contact: groups {list(groups)} open {len(viewer.labels)} audience label(s)")
        return viewer

    # -- outcomes -------------------------------------------------------------------------------
    def _scenario_answer(self, turn: _Turn, scenario: Scenario, similarity: float, threshold: float) -> Decision:
        turn.scenarios = [
            s.model_copy(update={"applied": True}) if s.id == scenario.id and s.kind == "specific" else s
            for s in turn.scenarios
        ]
        confidence = conf.scenario_confidence(similarity, threshold)
        turn.signals = {"scenario": round(similarity, 4)}
        citation = Citation(title=scenario.title, url=None, document_id=f"training:{scenario.id}")
        return self._decision(turn, Action.ANSWER, scenario.answer, confidence, [citation])

    def _action(self, turn: _Turn, outcome: ActionOutcome, history: list[Any]) -> Decision:
        turn.notes.append(f"action {outcome.name}")
        if outcome.failed:
            turn.confidence = outcome.confidence
            decision = self._handoff(turn, HandoffReason.ACTION_FAILED, None, history)
            # say honestly what failed before the handoff message
            return decision.model_copy(update={"reply": f"{outcome.reply} {decision.reply}"}) if outcome.reply \
                else decision
        return self._decision(turn, outcome.kind, outcome.reply, outcome.confidence, outcome.citations)

    def _already_handed_off(self, turn: _Turn, history: list[Any]) -> Decision:
        previous = self.store.handoffs(turn.session.workspace, session_id=turn.session.id, limit=1)
        reason = HandoffReason(previous[0].reason) if previous else HandoffReason.HUMAN_REQUESTED
        turn.notes.append("the session is already with the team; the message was added to it")
        reply = already_handed_off_reply(turn.session.ticket, self._reply_language(turn, history))
        handoff = Handoff(
            reason=reason,
            trigger_score=previous[0].trigger_score if previous else None,
            summary=previous[0].summary if previous else "",
        )
        return self._decision(turn, Action.HANDOFF, reply, 0.0, [], handoff)

    def _handoff(self, turn: _Turn, reason: HandoffReason, score: float | None, history: list[Any]) -> Decision:
        with turn.timer("handoff_ms"):
            sentiment = turn.sentiment or self.triggers.sentiment(turn.message)
            handoff = self.recorder.record(
                turn.session,
                reason=reason,
                trigger_score=score,
                confidence=turn.confidence,
                sentiment=sentiment,
                documents=list(dict.fromkeys(h.document_id for h in turn.hits)),
                scenarios=[s.model_dump(mode="json") for s in turn.scenarios],
                history=history,
                message=turn.message,
            )
        # a trigger decided: the decision is as sure as the trigger's score, not "confidence 0.00"
        sure = score if score is not None and reason is not HandoffReason.LOW_CONFIDENCE else turn.confidence
        reply = handoff_reply(reason, turn.session.ticket, self._reply_language(turn, history))
        return self._decision(turn, Action.HANDOFF, reply, sure or 0.0, [], handoff)

    @staticmethod
    def _reply_language(turn: _Turn, history: list[Any]) -> str | None:
        """The language to tell the customer in: this message's (detected before a trigger fired or now),
        else that of the customer's earlier messages together ("Mensch, bitte!" is too short on its own)."""
        if turn.language is None:
            turn.language = detect_language(turn.message)
        if turn.language is not None:
            return turn.language
        earlier = " ".join(m.text for m in history if m.role == Role.CUSTOMER)
        return detect_language(earlier) if earlier else None

    def _decision(
        self,
        turn: _Turn,
        action: Action,
        reply: str,
        confidence: float,
        citations: list[Citation],
        handoff: Handoff | None = None,
    ) -> Decision:
        trace = turn.trace.model_copy(
            update={
                "triggers": turn.triggers,
                "scenarios": turn.scenarios,
                "retrieved": turn.trace_retrieved,
                "timings": turn.timer.timings,
                "signals": {t.name: t.score for t in turn.triggers} | turn.signals,
                "thresholds": dict(zip(("answer", "clarify"), self.thresholds(), strict=True)),
                "language": turn.language,
                "notes": turn.notes,
            }
        )
        return Decision(
            session_id=turn.session.id,
            ticket=turn.session.ticket,
            action=action,
            reply=reply,
            confidence=round(min(1.0, max(0.0, confidence)), 4),
            citations=citations,
            handoff=handoff,
            trace=trace,
        )


@dataclass
class _Turn:
    session: SessionInfo
    config: AgentConfig
    message: str
    timer: _Timer
    trace: Trace
    vector: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    language: str | None = None
    sentiment: Sentiment | None = None
    confidence: float | None = None
    triggers: list[TriggerResult] = field(default_factory=list)
    scenarios: list[ScenarioTrace] = field(default_factory=list)
    behavioral: list[Scenario] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    viewer: Viewer = PUBLIC  # what the contact may see (set once per turn)
    prefetched: list[Hit] | None = None  # retrieved early (the prohibited-topic contrast), reused to answer
    trace_retrieved: list[Retrieved] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _last_action(events: list[Any]) -> Action | None:
    for event in reversed(events):
        if event.type == "decision":
            try:
                return Action(event.data.get("action"))
            except ValueError:
                return None
    return None


AgentFactory = Callable[[], Agent]
