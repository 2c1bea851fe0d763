"""insights and CSAT: insight runs, message vectors, surveys, scores, the CSAT outbox, and an
``assignee`` on agent handoffs (additive)

Revision ID: 1100
Revises: 0800
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "1100"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.tables.UTCDateTime(timezone=True), nullable=nullable)


def _workspace() -> sa.Column:
    return sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                     nullable=False)


def _has_assignee() -> bool:
    return any(c["name"] == "assignee" for c in sa.inspect(op.get_bind()).get_columns("agent_handoffs"))


def upgrade() -> None:
    op.create_table(
        "insight_runs",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("since", sa.String(length=16), nullable=False),
        _ts("window_start"),
        _ts("window_end"),
        _ts("computed_at"),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("clustered", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("embed_seconds", sa.Float(), nullable=False),
        sa.Column("insights", sa.JSON(), nullable=False),
    )
    op.create_index("ix_insight_runs_latest", "insight_runs", ["workspace", "since", "computed_at"])
    op.create_table(
        "insight_vectors",
        sa.Column("model", sa.String(length=200), primary_key=True),
        sa.Column("message_id", sa.Integer(), primary_key=True, autoincrement=False),
        _workspace(),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "csat_surveys",
        sa.Column("session_id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _ts("due_at"),
        _ts("requested_at"),
        _ts("answered_at", nullable=True),
    )
    op.create_table(
        "csat_scores",
        sa.Column("session_id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("handed_off", sa.Boolean(), nullable=False),
        sa.Column("handoff_reason", sa.String(length=32), nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        _ts("created_at"),
    )
    op.create_index("ix_csat_scores_workspace", "csat_scores", ["workspace", "created_at"])
    op.create_table(
        "csat_outbox",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _workspace(),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
    )
    op.create_index("ix_csat_outbox_due", "csat_outbox", ["status", "next_attempt_at"])
    if not _has_assignee():  # the agent's own schema may add it one day; never twice
        op.add_column("agent_handoffs", sa.Column("assignee", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_csat_outbox_due", table_name="csat_outbox")
    op.drop_index("ix_csat_scores_workspace", table_name="csat_scores")
    op.drop_index("ix_insight_runs_latest", table_name="insight_runs")
    for table in ("csat_outbox", "csat_scores", "csat_surveys", "insight_vectors", "insight_runs"):
        op.drop_table(table)
    if _has_assignee():
        with op.batch_alter_table("agent_handoffs") as batch:
            batch.drop_column("assignee")
