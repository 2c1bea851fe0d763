"""help-center versions: every saved text of a translation, for diffs and rollback (issue 25)

Existing translations get their current text as version 1.

Revision ID: 2110
Revises: 0700
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "2110"
down_revision: str | None = "0700"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "helpcenter_versions",
        sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "slug", "locale", "version"),
    )
    op.execute("INSERT INTO helpcenter_versions (workspace, slug, locale, version, title, body, note, created_at) "
               "SELECT workspace, slug, locale, 1, title, body, 'text before versions were kept', updated_at "
               "FROM helpcenter_translations")


def downgrade() -> None:
    op.drop_table("helpcenter_versions")
