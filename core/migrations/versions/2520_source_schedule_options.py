"""a source's schedule gets a timezone, a paused switch and an anchor (issue 25: the schedule API)

``sources.schedule`` keeps its ``cron:<expr>`` / ``interval:<seconds>`` text; rows stored before
this read as UTC, enabled, with no anchor (an interval then counts from when a scheduler applies it).

Revision ID: 2520
Revises: 0600
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2520"
down_revision: str | None = "0600"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("schedule_timezone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("schedule_paused", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("schedule_anchor", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("schedule_anchor")
        batch.drop_column("schedule_paused")
        batch.drop_column("schedule_timezone")
