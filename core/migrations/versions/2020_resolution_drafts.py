"""resolution drafts: Q&A articles proposed from sessions a person resolved, pending review (issue 20)

Revision ID: 2020
Revises: 0800
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "2020"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resolution_drafts",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("handoff_id", sa.String(length=64), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("similar", sa.JSON(), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", core.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("published", sa.JSON(), nullable=False),
        sa.UniqueConstraint("workspace", "handoff_id", name="uq_resolution_drafts_handoff"),
    )
    op.create_index("ix_resolution_drafts_status", "resolution_drafts", ["workspace", "status"])


def downgrade() -> None:
    op.drop_index("ix_resolution_drafts_status", table_name="resolution_drafts")
    op.drop_table("resolution_drafts")
