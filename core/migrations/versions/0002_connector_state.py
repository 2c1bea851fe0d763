"""connector state

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_state",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "source_name", "key"),
    )


def downgrade() -> None:
    op.drop_table("connector_state")
