"""Schema revisions, oldest first (``r0001_...``); Alembic orders them by ``down_revision``."""
