"""end-user access (issue 19): a session's verified identity and each workspace's group ->
audience mapping with its identity-token secret (additive)

Revision ID: 1900
Revises: 0800
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "1900"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_sessions") as batch:  # SQLite adds the column in place
        batch.add_column(sa.Column("identity", sa.JSON(), nullable=True))
    op.create_table(
        "agent_access",
        sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secret", sa.JSON(), nullable=True),
        sa.Column("updated_at", core.tables.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agent_access")
    with op.batch_alter_table("agent_sessions") as batch:
        batch.drop_column("identity")
