"""Alembic environment: the caller (storage.db.upgrade) hands over an open connection."""
from alembic import context

from fleet_server.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through fleet_server.storage.db.upgrade(engine)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
