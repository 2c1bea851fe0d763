"""CSAT tables: survey requests, scores (one per session), the webhook outbox and feedback on replies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow


class SurveyRow(Base):
    """A survey requested after a session resolved; sent (as a webhook event) once due."""

    __tablename__ = "csat_surveys"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)


class ScoreRow(Base):
    """A session's CSAT score with what aggregation needs, captured when it was given."""

    __tablename__ = "csat_scores"
    __table_args__ = (Index("ix_csat_scores_workspace", "workspace", "created_at"),)

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16))
    handed_off: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    assignee: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CsatOutboxRow(Base):
    """One webhook event (survey requested, score given), kept until delivered."""

    __tablename__ = "csat_outbox"
    __table_args__ = (Index("ix_csat_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedbackRow(Base):
    """A thumbs up or down on one agent reply, with a redacted snapshot of the decision it rates.

    One vote per reply (``uq_csat_feedback_message``): a second vote replaces the first.
    """

    __tablename__ = "csat_feedback"
    __table_args__ = (
        UniqueConstraint("workspace", "message_id", name="uq_csat_feedback_message"),
        Index("ix_csat_feedback_workspace", "workspace", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(36))
    message_id: Mapped[int] = mapped_column(Integer)
    rating: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str] = mapped_column(Text, default="")
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
