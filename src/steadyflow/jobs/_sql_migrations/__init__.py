"""Alembic migrations of the SQL job board's schema, applied when a board is opened."""
