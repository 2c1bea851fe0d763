"""The actions registry's tables: imported specs, actions, auth secrets (write-only), the
workspace's network allowlist, per-session headers and pending confirmations/questions.

Foreign keys point only to ``workspaces.id``; sessions are linked by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow


class ActionSpecRow(Base):
    """An imported spec: title, version, base URL and security schemes."""

    __tablename__ = "action_specs"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ActionRow(Base):
    """One action (an operation of a spec) with its channels, segments and confirmation flag."""

    __tablename__ = "actions"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    spec: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ActionSecretRow(Base):
    """The secret of one security scheme of a spec. Written, never returned by the API."""

    __tablename__ = "action_secrets"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    spec: Mapped[str] = mapped_column(String(64), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ActionNetworkRow(Base):
    """Hosts and networks a workspace's actions may reach although they are private (allowlist)."""

    __tablename__ = "action_network"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    allow: Mapped[list[Any]] = mapped_column(default=list)


class ActionSessionRow(Base):
    """Per-session state: headers that override workspace secrets (a customer's token), and the
    pending action (awaiting a confirmation or a missing parameter)."""

    __tablename__ = "action_sessions"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pending: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
