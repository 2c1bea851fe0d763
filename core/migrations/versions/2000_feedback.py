"""feedback on agent replies: thumbs up/down, a reason and a snapshot of the rated decision (issue 20)

Revision ID: 2000
Revises: 1100
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "2000"
down_revision: str | None = "1100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "csat_feedback",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("workspace", "message_id", name="uq_csat_feedback_message"),
    )
    op.create_index("ix_csat_feedback_workspace", "csat_feedback", ["workspace", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_csat_feedback_workspace", table_name="csat_feedback")
    op.drop_table("csat_feedback")
