"""Alembic environment: runs on the connection ``core.db.migrate`` hands over."""

from alembic import context

from core.tables import Base

connection = context.config.attributes.get("connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
