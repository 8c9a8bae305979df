"""Storage: every SQL statement of the fleet server lives in this package (models, repository
functions, Alembic migrations). SQLite in WAL mode by default, PostgreSQL in production."""
from fleet_server.storage.db import Database

__all__ = ["Database"]
