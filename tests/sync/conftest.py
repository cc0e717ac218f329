from store.conftest import database_url, postgres_url, sqlite_url, store  # noqa: F401  (temporary)
