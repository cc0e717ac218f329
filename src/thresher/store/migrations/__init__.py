"""Alembic migrations of the roster store (run through ``thresher.store``, not an alembic.ini)."""
