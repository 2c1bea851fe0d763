"""insight vectors keyed by content too: a message whose text changed is embedded again (issue 22)

Rows stored before this get an empty hash, which no text has: each such message is embedded once
more on the next refresh and its row replaced.

Revision ID: 2210
Revises: 1100
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2210"
down_revision: str | None = "1100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("insight_vectors") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("insight_vectors") as batch:
        batch.drop_column("content_hash")
