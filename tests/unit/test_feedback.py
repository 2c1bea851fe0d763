"""Feedback on agent replies: rules of votes, the decision snapshot, aggregates and the export to
evaluation cases (SQLite and PostgreSQL through the ``db`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from agent.sessions import Role, SessionStore
from core.db import Database
from core.errors import InvalidInput, NotFound
from csat.feedback import MAX_REASON, FeedbackService
from csat.models import Rating
from csat.tables import FeedbackRow
from evaluation.datasets import Outcome, parse_dataset
from evaluation.feedback_cases import export_dataset

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REFUND = {"title": "Refunds", "url": "https://help.example/refunds", "document_id": "help-center:refunds/en"}


def _turn(store: SessionStore, sid: str, question: str, reply: str, *, action: str = "answer",
          citations: list[dict[str, str]] | None = None, named: bool = True) -> tuple[int, int]:
    """A customer message and the agent's reply with its decision event, stored as ``Agent.record``
    does (``named``) or as sessions stored before the reply id was in the decision (not named)."""
    asked = store.add_message("w", sid, Role.CUSTOMER, question)
    decision = {"session_id": sid, "ticket": 1001, "action": action, "reply": reply, "confidence": 0.71,
                "citations": citations if citations is not None else [REFUND], "handoff": None,
                "trace": {"retrieved": [{"document_id": "help-center:refunds/en", "score": 0.8}],
                          "scenarios": [{"id": "s1", "title": "Refund rule", "kind": "specific", "applied": True},
                                        {"id": "s2", "title": "Other", "kind": "specific", "applied": False}],
                          "timings": {"embed_ms": 3.0}, "language": "en"}}
    if not named:
        store.add_event("w", sid, "decision", decision)
    replied = store.add_message("w", sid, Role.AGENT, reply)
    if named:
        store.add_event("w", sid, "decision", decision | {"message_id": replied})
    return asked, replied


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(FeedbackRow)) or 0)


def test_a_vote_keeps_a_redacted_snapshot_and_a_second_vote_replaces_the_first(db: Database) -> None:
    store = SessionStore(db=db)
    fb = FeedbackService(sessions=store)
    sid = store.create("w", channel="web").id
    _, reply = _turn(store, sid, "How long do refunds take?", "Refunds are paid within 14 days.")
    vote = fb.rate("w", sid, reply, "down", "  Wrong, call me at +1 415 555 0199 or jane@example.com  ", at=T0)
    assert (vote.rating, vote.replaced, vote.question) == (Rating.DOWN, False, "How long do refunds take?")
    assert "jane@example.com" not in vote.reason and "555 0199" not in vote.reason and vote.reason.startswith("Wrong")
    assert vote.decision["action"] == "answer" and vote.decision["confidence"] == 0.71
    assert vote.decision["citations"] == [REFUND] and vote.decision["language"] == "en"
    assert [s["id"] for s in vote.decision["scenarios"]] == ["s1"]  # only the scenarios applied
    assert "timings" not in vote.decision
    again = fb.rate("w", sid, reply, Rating.UP, at=T0 + timedelta(minutes=5))
    assert (again.rating, again.replaced, again.reason, again.id) == (Rating.UP, True, "", vote.id)
    assert _count(db) == 1 and fb.get("w", sid, reply).rating is Rating.UP


def test_bad_votes_are_refused_and_store_nothing(db: Database) -> None:
    store = SessionStore(db=db)
    fb = FeedbackService(sessions=store)
    sid = store.create("w", channel="web").id
    asked, reply = _turn(store, sid, "Can I pause?", "Yes, pause in your account.")
    human = store.add_message("w", sid, Role.HUMAN, "I paused it for you.")
    other = store.create("w", channel="web").id
    with pytest.raises(InvalidInput, match="is the customer's, not an agent reply"):
        fb.rate("w", sid, asked, "down")
    with pytest.raises(InvalidInput, match="is the human's"):
        fb.rate("w", sid, human, "up")
    with pytest.raises(NotFound, match="no session"):
        fb.rate("w", "no-such-session", reply, "down")
    with pytest.raises(NotFound, match="has no message"):
        fb.rate("w", other, reply, "down")  # a reply of another session
    with pytest.raises(NotFound, match="no session"):
        fb.rate("elsewhere", sid, reply, "down")  # another workspace
    with pytest.raises(NotFound, match="has no message 999999"):
        fb.rate("w", sid, 999999, "down")
    with pytest.raises(InvalidInput, match="rating must be 'up' or 'down'"):
        fb.rate("w", sid, reply, "meh")
    with pytest.raises(InvalidInput, match=f"keep it to {MAX_REASON}"):
        fb.rate("w", sid, reply, "down", "x" * (MAX_REASON + 1))
    assert _count(db) == 0
    with pytest.raises(NotFound, match="has no feedback"):
        fb.get("w", sid, reply)


def test_a_reply_stored_before_its_decision_named_it_finds_the_decision_before_it(db: Database) -> None:
    store = SessionStore(db=db)
    fb = FeedbackService(sessions=store)
    sid = store.create("w", channel="web").id
    _turn(store, sid, "first?", "first answer", citations=[])
    _, reply = _turn(store, sid, "second?", "second answer", action="clarify", named=False)
    vote = fb.rate("w", sid, reply, "down")
    assert (vote.question, vote.decision["action"]) == ("second?", "clarify")


def test_report_ranks_topics_and_documents_by_thumbs_down(db: Database) -> None:
    store = SessionStore(db=db)
    fb = FeedbackService(sessions=store)
    grinder = {"title": "Grinder errors", "document_id": "help-center:grinder/en"}
    votes = [("refund?", [REFUND], "down"), ("refund again?", [REFUND], "down"), ("refund 3?", [REFUND], "up"),
             ("E12?", [grinder], "down"), ("hours?", [], "up")]
    sessions = []
    for n, (question, cites, rating) in enumerate(votes):
        sid = store.create("w", channel="web").id
        sessions.append(sid)
        _, reply = _turn(store, sid, question, "an answer", citations=cites)
        fb.rate("w", sid, reply, rating, at=T0 + timedelta(minutes=n))
    report = fb.report("w", T0 - timedelta(days=1), T0 + timedelta(days=1), topics={sessions[3]: "grinder E-12"})
    assert (report.up, report.down, report.down_share) == (2, 3, 0.6)
    assert [(g.key, g.down, g.up) for g in report.worst_topics] == [
        ("Refunds", 2, 1), ("grinder E-12", 1, 0), ("no source", 0, 1)]
    # the uncited "hours?" answer counts for the document retrieval put first (refunds)
    assert [(g.key, g.title, g.down, g.up) for g in report.documents] == [
        ("help-center:refunds/en", "Refunds", 2, 2), ("help-center:grinder/en", "Grinder errors", 1, 0)]
    assert [v.question for v in report.recent_down] == ["E12?", "refund again?", "refund?"]
    empty = fb.report("w", T0 + timedelta(days=2), T0 + timedelta(days=3))
    assert (empty.up, empty.down, empty.down_share, empty.worst_topics) == (0, 0, None, [])


def test_thumbs_down_conversations_export_as_cases_knowdesk_eval_reads(db: Database) -> None:
    store = SessionStore(db=db)
    fb = FeedbackService(sessions=store)
    with pytest.raises(NotFound, match="no thumbs-down feedback"):
        export_dataset(fb, "w")
    answered = store.create("w", channel="email").id
    _turn(store, answered, "Hi there", "Hello! How can I help?", citations=[])
    _, bad = _turn(store, answered, "How long do refunds take?", "Within 14 days.")
    fb.rate("w", answered, bad, "down", "it is 30 days now")
    handed = store.create("w", channel="web").id
    _, handoff = _turn(store, handed, "Do you ship to Norway?", "Let me get a colleague.", action="handoff",
                       citations=[])
    fb.rate("w", handed, handoff, "down")
    liked = store.create("w", channel="web").id
    _, good = _turn(store, liked, "Can I pause?", "Yes.")
    fb.rate("w", liked, good, "up")
    text, count = export_dataset(fb, "w", name="feedback-w")
    dataset = parse_dataset(text)
    assert count == 2 and dataset.name == "feedback-w" and len(dataset.cases) == 2
    first, second = dataset.cases
    assert [t.text for t in first.messages] == ["Hi there", "How long do refunds take?"]
    assert first.channel.value == "email" and first.expect.outcome is Outcome.NO_ANSWER
    assert "it is 30 days now" in first.notes and "Refunds" in first.notes and "Within 14 days." in first.notes
    assert set(first.tags) == {"feedback", "thumbs-down", "answer"}
    assert [t.text for t in second.messages] == ["Do you ship to Norway?"]
    assert second.expect.outcome is Outcome.ANSWER and "handoff" in second.tags
