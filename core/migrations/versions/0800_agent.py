"""agent: contacts, sessions, messages, events, handoffs, helpdesk outbox, agent configs

Revision ID: 0800
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "0800"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.tables.UTCDateTime(timezone=True), nullable=nullable)


def _workspace(primary: bool = False) -> sa.Column:
    return sa.Column(
        "workspace",
        sa.String(length=64),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary,
    )


def upgrade() -> None:
    op.create_table(
        "agent_contacts",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("workspace", "email", name="uq_agent_contacts_email"),
        sa.UniqueConstraint("workspace", "phone", name="uq_agent_contacts_phone"),
        sa.UniqueConstraint("workspace", "external_id", name="uq_agent_contacts_external"),
    )
    op.create_table(
        "agent_ticket_counters",
        _workspace(primary=True),
        sa.Column("next_ticket", sa.Integer(), nullable=False),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("ticket", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("workspace", "ticket", name="uq_agent_sessions_ticket"),
    )
    op.create_index("ix_agent_sessions_contact", "agent_sessions", ["workspace", "contact_id"])
    op.create_table(
        "agent_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _workspace(),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_agent_messages_session", "agent_messages", ["session_id", "id"])
    op.create_table(
        "agent_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _workspace(),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_agent_events_session", "agent_events", ["session_id", "id"])
    op.create_table(
        "agent_handoffs",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("trigger_score", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("sentiment", sa.JSON(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("transcript", sa.JSON(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_agent_handoffs_workspace", "agent_handoffs", ["workspace", "created_at"])
    op.create_table(
        "agent_outbox",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("handoff_id", sa.String(length=36), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_agent_outbox_due", "agent_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "agent_configs",
        _workspace(primary=True),
        sa.Column("config", sa.JSON(), nullable=False),
        _ts("updated_at"),
    )


def downgrade() -> None:
    for index, table in (
        ("ix_agent_outbox_due", "agent_outbox"),
        ("ix_agent_handoffs_workspace", "agent_handoffs"),
        ("ix_agent_events_session", "agent_events"),
        ("ix_agent_messages_session", "agent_messages"),
        ("ix_agent_sessions_contact", "agent_sessions"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "agent_configs",
        "agent_outbox",
        "agent_handoffs",
        "agent_events",
        "agent_messages",
        "agent_sessions",
        "agent_ticket_counters",
        "agent_contacts",
    ):
        op.drop_table(table)
