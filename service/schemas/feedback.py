"""Responses of the knowledge-loop routes: votes on agent replies, their report and export, conflicting facts."""

from __future__ import annotations

from csat.models import Feedback, FeedbackReport
from insights.conflicts import ConflictReport
from service.schemas.common import Public


class FeedbackPublic(Feedback):
    """A vote on an agent reply with the redacted snapshot of the decision it rates;
    ``replaced`` says it replaced an earlier vote on the same reply."""


class FeedbackReportPublic(FeedbackReport):
    """Votes over the window: totals, worst-rated topics, documents behind thumbs-down answers."""

    since: str


class FeedbackExportPublic(Public):
    """Thumbs-down conversations as an evaluation dataset: ``jsonl`` is the file ``knowdesk eval`` reads."""

    name: str
    cases: int
    jsonl: str


class ConflictReportPublic(ConflictReport):
    """A pass of the conflicting-facts finder: chunks read, candidate pairs compared, and each
    conflicting document pair with both passages, both values and both sources."""
