"""The operations tests reuse the server tests' private PostgreSQL cluster."""
from tests.server.conftest import postgres  # noqa: F401
