"""The schema the API expects, applied by the deploy's own migration runner."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from devkit.mysql import MyDatabase


def migrate(target: str | MyDatabase) -> None:
    """Applies the migrations bundled with `db_migrate` (``lambda_src`` must be importable) of
    the target's engine family: PostgreSQL's to a libpq conninfo or URI, MySQL's to a local
    MySQL-family database (as root; see ``devkit.mysql.grant_local_login`` for the API's user).
    """
    # Imported here: the Lambda packages are importable only once lambda_src is on the path.
    from db_migrate.migrate import load_migrations

    if isinstance(target, str):
        from db_migrate import postgresql

        with psycopg.connect(target) as conn:
            postgresql.apply_migrations(conn, load_migrations(postgresql.MIGRATIONS_DIR))
        return

    from db_migrate import mysql

    with target.connect(multi_statements=True) as conn:
        mysql.apply_migrations(conn, load_migrations(mysql.MIGRATIONS_DIR))
