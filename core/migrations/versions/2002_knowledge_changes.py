"""knowledge CI: changes reviewed against an evaluation dataset, held ones until decided (issue 20)

Revision ID: 2002
Revises: 2001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "2002"
down_revision: str | None = "2001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_changes",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", core.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_knowledge_changes_status", "knowledge_changes", ["workspace", "status"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_changes_status", table_name="knowledge_changes")
    op.drop_table("knowledge_changes")
