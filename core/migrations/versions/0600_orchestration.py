"""orchestration: stored parsed content, source leases, index generations

Revision ID: 0600
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.tables

revision: str = "0600"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_content",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=1024), nullable=False),
        sa.Column("source_name", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("parsed", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "document_id"),
    )
    op.create_index("ix_document_content_source", "document_content", ["workspace", "source_name"])
    op.create_table(
        "source_leases",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("acquired_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "source_name"),
    )
    op.create_table(
        "index_generations",
        sa.Column("collection", sa.String(length=400), nullable=False),
        sa.Column("alias", sa.String(length=200), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=False),
        sa.Column("overlap_tokens", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("switched_at", core.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("collection"),
    )
    op.create_index("ix_index_generations_alias", "index_generations", ["alias"])


def downgrade() -> None:
    op.drop_index("ix_index_generations_alias", table_name="index_generations")
    op.drop_table("index_generations")
    op.drop_table("source_leases")
    op.drop_index("ix_document_content_source", table_name="document_content")
    op.drop_table("document_content")
