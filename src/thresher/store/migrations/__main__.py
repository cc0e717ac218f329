"""Alembic's command line on the store's migrations, for maintainers (no alembic.ini needed).

    THRESHER_DATABASE_URL=sqlite:////tmp/dev.db python -m thresher.store.migrations upgrade head
    python -m thresher.store.migrations revision --autogenerate --rev-id 0002 -m "add scim tokens"

Name revisions ``0002``, ``0003``...: files become ``versions/r0002_<slug>.py``. Review what
autogenerate writes, spell types out (see ``r0001_initial.py``) and check the result on both
SQLite and PostgreSQL (``tests/store/test_migrations.py`` compares it with the models).
"""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from thresher.store._migrate import config


def main(argv: list[str] | None = None) -> None:
    cli = CommandLine(prog="python -m thresher.store.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    alembic_config = config()
    alembic_config.cmd_opts = options
    cli.run_cmd(alembic_config, options)


if __name__ == "__main__":
    main(sys.argv[1:])
