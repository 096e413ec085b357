"""Alembic migrations; run with ``gateway db upgrade``."""
