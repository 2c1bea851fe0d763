"""The agent's tables: contacts, sessions (with per-workspace ticket numbers), messages, events,
handoffs, the helpdesk outbox and per-workspace agent configuration.

Only redacted text is ever written here. The only foreign keys point to ``workspaces.id``
(every issue's tables branch from the foundation schema); sessions are linked by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, utcnow

FIRST_TICKET = 1001


class ContactRow(Base):
    """A customer, identified by email, phone or a custom id; one contact has many sessions."""

    __tablename__ = "agent_contacts"
    __table_args__ = (
        UniqueConstraint("workspace", "email", name="uq_agent_contacts_email"),
        UniqueConstraint("workspace", "phone", name="uq_agent_contacts_phone"),
        UniqueConstraint("workspace", "external_id", name="uq_agent_contacts_external"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(64), default=None)
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    name: Mapped[str] = mapped_column(String(200), default="")
    segments: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketCounterRow(Base):
    """The next ticket number of a workspace (#1001, #1002, ...), bumped atomically."""

    __tablename__ = "agent_ticket_counters"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    next_ticket: Mapped[int] = mapped_column(Integer, default=FIRST_TICKET)


class SessionRow(Base):
    """One conversation on one channel with one contact."""

    __tablename__ = "agent_sessions"
    __table_args__ = (
        UniqueConstraint("workspace", "ticket", name="uq_agent_sessions_ticket"),
        Index("ix_agent_sessions_contact", "workspace", "contact_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    ticket: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="open")
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    #: The verified identity (``agent.access.Identity``) of a session opened with a signed token;
    #: None without one. Added by migration 1900.
    identity: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MessageRow(Base):
    """One message of the transcript (redacted): from the customer, the agent or a human."""

    __tablename__ = "agent_messages"
    __table_args__ = (Index("ix_agent_messages_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(36))
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventRow(Base):
    """Something that happened in a session: message, decision, handoff, action_call, status."""

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HandoffRow(Base):
    """A handoff to the human team with everything they need to pick the conversation up."""

    __tablename__ = "agent_handoffs"
    __table_args__ = (Index("ix_agent_handoffs_workspace", "workspace", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(36))
    ticket: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    trigger_score: Mapped[float | None] = mapped_column(default=None)
    confidence: Mapped[float | None] = mapped_column(default=None)
    summary: Mapped[str] = mapped_column(Text, default="")
    sentiment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    documents: Mapped[list[Any]] = mapped_column(default=list)
    scenarios: Mapped[list[Any]] = mapped_column(default=list)
    transcript: Mapped[list[Any]] = mapped_column(default=list)
    assignee: Mapped[str | None] = mapped_column(String(200), default=None)  # added by migration 1100 (CSAT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxRow(Base):
    """One delivery of a handoff to a helpdesk or webhook; kept until sent, retried with back-off."""

    __tablename__ = "agent_outbox"
    __table_args__ = (Index("ix_agent_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    handoff_id: Mapped[str] = mapped_column(String(36))
    target: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    external_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AgentConfigRow(Base):
    """A workspace's agent configuration (autopilot, topics, triggers, redaction) as JSON."""

    __tablename__ = "agent_configs"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AccessRow(Base):
    """A workspace's end-user access: the group -> audience mapping and the identity-token secret
    (encrypted at rest; None until an admin sets one)."""

    __tablename__ = "agent_access"

    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
