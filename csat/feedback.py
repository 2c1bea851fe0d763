"""Feedback on each agent reply: thumbs up or down with an optional reason (issue 20).

Rules (documented in the README, "Knowledge loop"):

- A vote names an agent reply by its transcript message id (``message_id`` in the answer of
  ``POST /v1/sessions/{id}/messages``, ``id`` in the session's transcript). A customer's or a human
  agent's message cannot be rated (422); an unknown session or message is a 404.
- One vote per reply: a second vote *replaces* the first (rating, reason and time), so a customer
  who changes their mind is counted once, with their last word. The answer says ``replaced: true``.
- The reason is optional, at most ``MAX_REASON`` characters (422 beyond, nothing stored), and is
  redacted like every text knowdesk stores.
- The vote keeps a snapshot of the decision it rates (action, confidence, citations, retrieved
  documents, scenarios, handoff reason, language) and the customer's question before it, so the
  insights and the exported evaluation cases stay what they were when the vote was given, even after
  the knowledge changes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agent.redaction import scrub, scrub_json
from agent.sessions import EventInfo, Role, SessionStore
from agent.tables import MessageRow
from core.errors import Conflict, InvalidInput, NotFound
from core.tables import utcnow

from .models import Feedback, FeedbackReport, RatedGroup, Rating
from .tables import FeedbackRow

MAX_REASON = 1000
#: The decision fields a vote keeps (the rest of the trace, e.g. timings, says nothing about quality).
SNAPSHOT_FIELDS = ("action", "confidence", "citations", "handoff")
NO_SOURCE = "no source"


class FeedbackService:
    """Votes on agent replies and their aggregates. Construct with ``FeedbackService(sessions=...)``."""

    def __init__(self, *, sessions: SessionStore) -> None:
        self.sessions = sessions
        self.db = sessions.db

    def rate(self, workspace: str, session_id: str, message_id: int, rating: Rating | str, reason: str = "",
             *, at: datetime | None = None) -> Feedback:
        """Store (or replace) the vote on one agent reply.

        Raises:
            InvalidInput: an unknown rating, a reason over ``MAX_REASON`` characters, or a message
                that is not the agent's. NotFound: no such session or message in it.
        """
        try:
            rating = Rating(rating)
        except ValueError as exc:
            raise InvalidInput(f"rating must be 'up' or 'down', not {rating!r}", field="rating") from exc
        reason = (reason or "").strip()
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"the reason is {len(reason)} characters; keep it to {MAX_REASON}", field="reason")
        reason = scrub(reason)
        self.sessions.get(workspace, session_id)  # NotFound for an unknown session or another workspace's
        with self.db.session() as s:
            message = s.get(MessageRow, message_id)
            if message is None or message.workspace != workspace or message.session_id != session_id:
                raise NotFound(f"session {session_id!r} has no message {message_id}; rate a reply id from "
                               "its transcript (GET /v1/sessions/{id})", message_id=message_id)
            if message.role != Role.AGENT.value:
                raise InvalidInput(f"message {message_id} is the {message.role}'s, not an agent reply; "
                                   "feedback rates the agent's replies", field="message_id")
            reply = message.text
        question, snapshot = self._context(workspace, session_id, message_id)
        now = at or utcnow()
        for _ in range(2):  # a concurrent first vote on the same reply wins once; this one then replaces it
            try:
                with self.db.session() as s:
                    row = s.scalars(select(FeedbackRow).where(FeedbackRow.workspace == workspace,
                                                              FeedbackRow.message_id == message_id)).first()
                    replaced = row is not None
                    if row is None:
                        row = FeedbackRow(id=str(uuid.uuid4()), workspace=workspace, session_id=session_id,
                                          message_id=message_id, created_at=now)
                        s.add(row)
                    row.rating, row.reason, row.updated_at = rating.value, reason, now
                    row.question, row.reply, row.decision = question, reply, snapshot
                    s.flush()
                    return _feedback(row, replaced=replaced)
            except IntegrityError:
                continue
        raise Conflict("the reply was being rated concurrently; try again")

    def get(self, workspace: str, session_id: str, message_id: int) -> Feedback:
        with self.db.session() as s:
            row = s.scalars(select(FeedbackRow).where(FeedbackRow.workspace == workspace,
                                                      FeedbackRow.message_id == message_id,
                                                      FeedbackRow.session_id == session_id)).first()
            if row is None:
                raise NotFound(f"reply {message_id} of session {session_id!r} has no feedback")
            return _feedback(row)

    def list(self, workspace: str, *, start: datetime | None = None, end: datetime | None = None,
             rating: Rating | None = None) -> list[Feedback]:
        """Votes in ``[start, end)`` (by their last change), oldest first."""
        with self.db.session() as s:
            q = select(FeedbackRow).where(FeedbackRow.workspace == workspace)
            if start is not None:
                q = q.where(FeedbackRow.updated_at >= start)
            if end is not None:
                q = q.where(FeedbackRow.updated_at < end)
            if rating is not None:
                q = q.where(FeedbackRow.rating == rating.value)
            return [_feedback(r) for r in s.scalars(q.order_by(FeedbackRow.updated_at, FeedbackRow.id))]

    def report(self, workspace: str, start: datetime, end: datetime, topics: Mapping[str, str] | None = None,
               *, limit: int = 10) -> FeedbackReport:
        """Totals, worst-rated topics and documents behind thumbs-down answers over ``[start, end)``.

        A vote's topic is its session's insight theme (``topics``: session id -> label) when it has
        one, otherwise the title of the first document the reply cited (``no source`` without one).
        """
        votes = self.list(workspace, start=start, end=end)
        topics = topics or {}
        by_topic: dict[str, list[Rating]] = defaultdict(list)
        by_document: dict[str, list[Rating]] = defaultdict(list)
        titles: dict[str, str] = {}
        for vote in votes:
            by_topic[topics.get(vote.session_id) or topic_of(vote)].append(vote.rating)
            for document_id, title in documents_of(vote):
                by_document[document_id].append(vote.rating)
                titles.setdefault(document_id, title)
        down = sum(1 for v in votes if v.rating is Rating.DOWN)
        worst = _ranked(by_topic, {}, limit)
        documents = [g for g in _ranked(by_document, titles, len(by_document)) if g.down > 0][:limit]
        recent = [v for v in reversed(votes) if v.rating is Rating.DOWN][:limit]
        return FeedbackReport(start=start, end=end, up=len(votes) - down, down=down,
                              down_share=round(down / len(votes), 4) if votes else None,
                              worst_topics=worst, documents=documents, recent_down=recent)

    def _context(self, workspace: str, session_id: str, message_id: int) -> tuple[str, dict[str, Any]]:
        """The customer's message before the reply, and the snapshot of the decision behind it."""
        messages = self.sessions.messages(workspace, session_id)
        question = next((m.text for m in reversed(messages) if m.id < message_id and m.role is Role.CUSTOMER), "")
        events = self.sessions.events(workspace, session_id)
        decision = _decision_event(events, message_id)
        if decision is None:  # a reply stored without a decision (e.g. imported): the vote still counts
            return question, {}
        data = decision.data
        trace = data.get("trace") or {}
        snapshot = {k: data.get(k) for k in SNAPSHOT_FIELDS} | {
            "retrieved": trace.get("retrieved", []),
            "scenarios": [s for s in trace.get("scenarios", []) if s.get("applied")],
            "language": trace.get("language"),
            "decided_at": decision.created_at.isoformat(),
        }
        return question, scrub_json(snapshot)


def _decision_event(events: list[EventInfo], message_id: int) -> EventInfo | None:
    """The decision event of a reply: the one naming it, else (older sessions) the last decision
    stored before the reply's message event."""
    named = [e for e in events if e.type == "decision" and e.data.get("message_id") == message_id]
    if named:
        return named[-1]
    posted = next((e.id for e in events if e.type == "message" and e.data.get("message_id") == message_id), None)
    if posted is None:
        return None
    earlier = [e for e in events if e.type == "decision" and e.id < posted]
    return earlier[-1] if earlier else None


def topic_of(vote: Feedback) -> str:
    """The title of the first document the rated reply cited (``no source`` without one)."""
    citations = vote.decision.get("citations") or []
    return str(citations[0].get("title") or citations[0].get("document_id")) if citations else NO_SOURCE


def documents_of(vote: Feedback) -> list[tuple[str, str]]:
    """(document id, title) of the documents behind the reply: those it cited, or the best retrieved
    one when it cited none (a handoff or clarification still leaned on what retrieval found)."""
    seen: dict[str, str] = {}
    for c in vote.decision.get("citations") or []:
        seen.setdefault(str(c.get("document_id")), str(c.get("title") or ""))
    retrieved = vote.decision.get("retrieved") or []
    if not seen and retrieved:
        seen[str(retrieved[0].get("document_id"))] = ""
    return list(seen.items())


def _ranked(groups: Mapping[str, Iterable[Rating]], titles: Mapping[str, str], limit: int) -> list[RatedGroup]:
    out = []
    for key, ratings in groups.items():
        items = list(ratings)
        down = sum(1 for r in items if r is Rating.DOWN)
        out.append(RatedGroup(key=key, title=titles.get(key, ""), up=len(items) - down, down=down,
                              down_share=round(down / len(items), 4)))
    out.sort(key=lambda g: (-g.down, -g.down_share, g.key))
    return out[:limit]


def _feedback(row: FeedbackRow, *, replaced: bool = False) -> Feedback:
    return Feedback(id=row.id, session_id=row.session_id, message_id=row.message_id, rating=Rating(row.rating),
                    reason=row.reason, question=row.question, reply=row.reply, decision=row.decision or {},
                    replaced=replaced, created_at=row.created_at, updated_at=row.updated_at)


__all__ = ["MAX_REASON", "FeedbackService", "documents_of", "topic_of"]
