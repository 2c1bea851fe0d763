"""Insights tables: computed runs (the whole result as JSON, so reading is one row) and a
cache of message vectors (each message is embedded once, whatever the refresh schedule)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow


class InsightRunRow(Base):
    """One computation of insights over a window."""

    __tablename__ = "insight_runs"
    __table_args__ = (Index("ix_insight_runs_latest", "workspace", "since", "computed_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    since: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    clustered: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    embed_seconds: Mapped[float] = mapped_column(default=0.0)
    insights: Mapped[list[Any]] = mapped_column(default=list)


class InsightVectorRow(Base):
    """A customer message's embedding (float32 bytes) under one model, with the content hash of
    the text it was computed from (a message whose text changed no longer matches it)."""

    __tablename__ = "insight_vectors"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class ConflictRunRow(Base):
    """The latest pass of the conflicting-facts finder over a workspace's knowledge (one per workspace)."""

    __tablename__ = "insight_conflicts"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
