"""The orchestration tables (migration 0600): stored parsed content and source leases.

- ``document_content``: each written document's metadata and ``ParsedDocument`` JSON, so a
  re-index re-chunks and re-embeds without fetching the source again.
- ``source_leases``: one row per source while a sync (or a re-index step) holds it; a lease
  expires when its holder stops renewing it (a killed worker), so SQLite and PostgreSQL both
  give "one sync per source at a time" across processes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow


class DocumentContentRow(Base):
    __tablename__ = "document_content"
    __table_args__ = (Index("ix_document_content_source", "workspace", "source_name"),)

    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    source_name: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parsed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceLeaseRow(Base):
    __tablename__ = "source_leases"

    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    purpose: Mapped[str] = mapped_column(String(32), default="sync")
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow)
