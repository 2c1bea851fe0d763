"""Recording a handoff: an extractive summary of what the customer needs, the redacted transcript,
the documents and scenarios involved; then delivery to the configured helpdesks (outbox)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import KnowdeskError

from .decision import Handoff, HandoffReason, Sentiment
from .helpdesk import Outbox
from .meaning import VectorCache
from .sessions import MessageInfo, Role, SessionInfo, SessionStore

log = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
SUMMARY_SENTENCES = 2
SUMMARY_CHARS = 300

_REPLIES = {
    HandoffReason.AUTOPILOT_OFF: "Thanks for your message. A member of our team will reply here soon (ticket #{t}).",
    HandoffReason.LOW_CONFIDENCE: (
        "I couldn't find a reliable answer to that in our help center, so I've passed "
        "your question to our team (ticket #{t}). They will reply here."
    ),
    HandoffReason.PROHIBITED_TOPIC: (
        "This is something our team needs to handle personally. I've passed your "
        "conversation on (ticket #{t}); they will reply here."
    ),
}
_DEFAULT_REPLY = "I'm connecting you with a member of our team (ticket #{t}). They will reply here as soon as possible."


def handoff_reply(reason: HandoffReason, ticket: int) -> str:
    return _REPLIES.get(reason, _DEFAULT_REPLY).format(t=ticket)


class HandoffRecorder:
    """Stores handoffs with their summary and transcript and hands them to the outbox.

    Args:
        store: the session store. cache: sentence vectors for the summary.
        outbox: delivery to helpdesks (None: stored only).
    """

    def __init__(self, *, store: SessionStore, cache: VectorCache, outbox: Outbox | None = None) -> None:
        self.store, self.cache, self.outbox = store, cache, outbox

    def record(
        self,
        session: SessionInfo,
        *,
        reason: HandoffReason,
        trigger_score: float | None,
        confidence: float | None,
        sentiment: Sentiment,
        documents: list[str],
        scenarios: list[Any],
        history: Sequence[MessageInfo],
        message: str,
    ) -> Handoff:
        customer = [m.text for m in history if m.role == Role.CUSTOMER] + [message]
        summary = self.summarize(customer)
        transcript: list[dict[str, str | None]] = [
            {"role": m.role.value, "text": m.text, "at": m.created_at.isoformat()} for m in history
        ]
        transcript.append({"role": Role.CUSTOMER.value, "text": message, "at": None})
        info = self.store.record_handoff(
            session.workspace,
            session.id,
            reason=reason.value,
            trigger_score=trigger_score,
            confidence=confidence,
            summary=summary,
            sentiment=sentiment.model_dump(mode="json"),
            documents=documents,
            scenarios=scenarios,
            transcript=transcript,
        )
        if self.outbox is not None and self.outbox.targets:
            self.outbox.enqueue(session.workspace, info.id)
            try:
                self.outbox.deliver_due(handoff_id=info.id)
            except KnowdeskError as exc:  # stored in the outbox; retried later
                log.warning("handoff %s stays in the outbox: %s", info.id, exc.message)
        return Handoff(reason=reason, trigger_score=trigger_score, summary=summary, sentiment=sentiment)

    def summarize(self, texts: Sequence[str]) -> str:
        """The customer's most central sentences (closest to the mean of all), in their order."""
        sentences = [s.strip() for t in texts for s in _SENTENCE.split(t) if len(s.split()) >= 3]
        if not sentences:
            return " ".join(texts)[:SUMMARY_CHARS]
        if len(sentences) > SUMMARY_SENTENCES:
            vectors = self.cache.vectors(sentences)
            centre = vectors.mean(axis=0)
            keep = sorted(np.argsort(-(vectors @ centre))[:SUMMARY_SENTENCES].tolist())
            sentences = [sentences[i] for i in keep]
        summary = " ".join(sentences)
        return summary if len(summary) <= SUMMARY_CHARS else summary[: SUMMARY_CHARS - 1].rstrip() + "…"
