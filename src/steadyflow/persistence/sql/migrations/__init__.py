"""Alembic migrations of the SQL backend's schema, applied by ``SQLBackend.upgrade``."""
