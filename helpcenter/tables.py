"""SQL tables of the authored help center (migration 0700). Every row belongs to a workspace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow


class TopicRow(Base):
    """A topic; ``parent`` nests it one level under another topic."""

    __tablename__ = "helpcenter_topics"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # locale -> translated name
    parent: Mapped[str | None] = mapped_column(String(64), default=None)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleRow(Base):
    """An article: its slug, topic, default locale and position within the topic."""

    __tablename__ = "helpcenter_articles"
    __table_args__ = (Index("ix_helpcenter_articles_topic", "workspace", "topic"),)

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    default_locale: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TranslationRow(Base):
    """One locale of an article. ``source_updated_at``: when the default locale's text was last
    edited as of this translation; older than the default's ``updated_at`` means stale."""

    __tablename__ = "helpcenter_translations"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)


class VersionRow(Base):
    """One saved text of a translation (migration 2110): every change of its title or body adds the
    next version; rows are never changed after insert, and go with their translation."""

    __tablename__ = "helpcenter_versions"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
