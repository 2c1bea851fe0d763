"""``resolution_drafts`` (migration 2020): drafts proposed from human resolutions, pending until decided."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow


class ResolutionDraftRow(Base):
    """One draft: the customer's question and the human's reply it came from (both redacted), the
    article it proposes (``kind`` new, or edit of ``slug``), the similar content found, and its review."""

    __tablename__ = "resolution_drafts"
    __table_args__ = (
        UniqueConstraint("workspace", "handoff_id", name="uq_resolution_drafts_handoff"),
        Index("ix_resolution_drafts_status", "workspace", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    handoff_id: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    kind: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    similar: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[dict[str, Any]] = mapped_column(default=dict)
