"""conflicting facts: the latest pass of the finder per workspace (issue 20)

Revision ID: 2001
Revises: 2000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "2001"
down_revision: str | None = "2000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insight_conflicts",
        sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("computed_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("insight_conflicts")
