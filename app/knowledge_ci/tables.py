"""``knowledge_changes`` (migration 2002): changes knowledge CI reviewed, the held ones until decided."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow


class KnowledgeChangeRow(Base):
    """One reviewed change: its kind, what it touches, the change itself (to apply on accept) and
    the report; ``status`` pending (held, not live), accepted, rejected or passed (went live at once)."""

    __tablename__ = "knowledge_changes"
    __table_args__ = (Index("ix_knowledge_changes_status", "workspace", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    change: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
