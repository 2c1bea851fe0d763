"""authored help center and training (issue 7)

Revision ID: 0700
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "0700"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ws() -> sa.Column:
    return sa.Column("workspace", sa.String(length=64), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                     nullable=False)


def _dt(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.tables.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "helpcenter_topics", _ws(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        _dt("updated_at"),
        sa.PrimaryKeyConstraint("workspace", "id"),
    )
    op.create_table(
        "helpcenter_articles", _ws(),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("default_locale", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _dt("created_at"), _dt("updated_at"),
        sa.PrimaryKeyConstraint("workspace", "slug"),
    )
    op.create_index("ix_helpcenter_articles_topic", "helpcenter_articles", ["workspace", "topic"])
    op.create_table(
        "helpcenter_translations", _ws(),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _dt("updated_at"), _dt("source_updated_at", True), _dt("published_at", True),
        sa.PrimaryKeyConstraint("workspace", "slug", "locale"),
    )
    op.create_table(
        "training_profiles", _ws(),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        _dt("updated_at"),
        sa.PrimaryKeyConstraint("workspace"),
    )
    op.create_table(
        "training_profile_versions", _ws(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        _dt("created_at"),
        sa.PrimaryKeyConstraint("workspace", "version"),
    )
    op.create_table(
        "training_scenarios", _ws(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        _dt("created_at"), _dt("updated_at"),
        sa.PrimaryKeyConstraint("workspace", "id"),
    )
    op.create_table(
        "training_scenario_versions", _ws(),
        sa.Column("scenario_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        _dt("created_at"),
        sa.PrimaryKeyConstraint("workspace", "scenario_id", "version"),
    )


def downgrade() -> None:
    for table in ("training_scenario_versions", "training_scenarios", "training_profile_versions",
                  "training_profiles", "helpcenter_translations"):
        op.drop_table(table)
    op.drop_index("ix_helpcenter_articles_topic", table_name="helpcenter_articles")
    op.drop_table("helpcenter_articles")
    op.drop_table("helpcenter_topics")
