"""Thumbs-down conversations as evaluation cases (issue 20): ``knowdesk feedback export``.

Each thumbs-down vote becomes one case of the dataset format ``knowdesk eval`` reads
(``evaluation.datasets``): the customer's messages of the session up to the rated reply, replayed
in a fresh session on the same channel, and what the next run must show:

- the rated reply was an answer (or an action call): ``"outcome": "no_answer"``; the agent must not
  give that answer again. Once the content is fixed, an editor turns it into
  ``"outcome": "answer"`` with ``relevant`` (the right article) and ``reference``.
- the rated reply was a handoff or a clarifying question: ``"outcome": "answer"``; the customer
  wanted an answer the content should give.

The case's ``notes`` keep the vote's reason, the rated reply and the documents it cited; ``tags``
are ``feedback`` and ``thumbs-down`` (plus the rated action), so ``knowdesk eval`` reports them apart.
"""

from __future__ import annotations

import json
from datetime import datetime

from agent.sessions import Role, SessionStore
from core.errors import InvalidInput, NotFound
from csat.feedback import FeedbackService, documents_of
from csat.models import Feedback, Rating

from .datasets import FORMAT_KIND, FORMAT_VERSION, Case, parse_dataset

ANSWERED = ("answer", "action_call")


def case_from_feedback(vote: Feedback, sessions: SessionStore, workspace: str) -> Case:
    """The evaluation case of one thumbs-down vote (see the module docstring)."""
    session = sessions.get(workspace, vote.session_id)
    asked = [m.text for m in sessions.messages(workspace, vote.session_id)
             if m.role is Role.CUSTOMER and m.id < vote.message_id and m.text.strip()]
    if not asked:
        raise InvalidInput(f"reply {vote.message_id} of session {vote.session_id!r} answers no customer message")
    action = str(vote.decision.get("action") or "answer")
    outcome = "no_answer" if action in ANSWERED else "answer"
    cited = ", ".join(title or document_id for document_id, title in documents_of(vote)) or "none"
    notes = (f"thumbs-down on {vote.updated_at:%Y-%m-%d}; reason: {vote.reason or '(none given)'}; "
             f"rated {action}: {vote.reply[:500]}; sources: {cited}")
    return Case.model_validate({
        "id": f"feedback-{vote.session_id[:8]}-{vote.message_id}",
        "messages": asked, "channel": session.channel.value,
        "expect": {"outcome": outcome}, "tags": ["feedback", "thumbs-down", action],
        "language": vote.decision.get("language"), "notes": notes,
    })


def export_dataset(feedback: FeedbackService, workspace: str, *, start: datetime | None = None,
                   end: datetime | None = None, name: str | None = None) -> tuple[str, int]:
    """The JSONL dataset (header + one case per thumbs-down vote) and its number of cases.

    Raises:
        NotFound: no thumbs-down vote in the window (an empty dataset would not run).
    """
    votes = feedback.list(workspace, start=start, end=end, rating=Rating.DOWN)
    if not votes:
        raise NotFound(f"no thumbs-down feedback in workspace {workspace!r} for this window; nothing to export")
    cases = [case_from_feedback(v, feedback.sessions, workspace) for v in votes]
    header = {"kind": FORMAT_KIND, "version": FORMAT_VERSION, "name": name or f"feedback-{workspace}",
              "description": f"{len(cases)} thumbs-down conversation(s) exported from feedback"}
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps(c.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False) for c in cases]
    text = "\n".join(lines) + "\n"
    parse_dataset(text)  # what is written is what `knowdesk eval` reads
    return text, len(cases)


__all__ = ["case_from_feedback", "export_dataset"]
