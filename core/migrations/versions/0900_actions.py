"""actions: imported specs, actions, auth secrets, network allowlist, per-session action state

Revision ID: 0900
Revises: 0800
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "0900"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, core.tables.UTCDateTime(timezone=True), nullable=False)


def _workspace() -> sa.Column:
    return sa.Column(
        "workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "action_specs",
        _workspace(),
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("updated_at"),
    )
    op.create_table(
        "actions",
        _workspace(),
        sa.Column("id", sa.String(length=200), primary_key=True),
        sa.Column("spec", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("updated_at"),
    )
    op.create_index("ix_actions_spec", "actions", ["spec"])
    op.create_table(
        "action_secrets",
        _workspace(),
        sa.Column("spec", sa.String(length=64), primary_key=True),
        sa.Column("scheme", sa.String(length=128), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("updated_at"),
    )
    op.create_table(
        "action_network",
        _workspace(),
        sa.Column("allow", sa.JSON(), nullable=False),
    )
    op.create_table(
        "action_sessions",
        _workspace(),
        sa.Column("session_id", sa.String(length=36), primary_key=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=True),
        _ts("updated_at"),
    )


def downgrade() -> None:
    for table in ("action_sessions", "action_network", "action_secrets", "actions", "action_specs"):
        op.drop_table(table)
