"""The schema the API expects, applied by the deploy's own migration runner."""

from __future__ import annotations

import psycopg


def migrate(uri: str) -> None:
    """Applies the migrations bundled with `db_migrate` (``lambda_src`` must be importable)."""
    # Imported here: the Lambda packages are importable only once lambda_src is on the path.
    from db_migrate.migrate import apply_migrations, load_migrations
    from db_migrate.postgresql import MIGRATIONS_DIR

    with psycopg.connect(uri) as conn:
        apply_migrations(conn, load_migrations(MIGRATIONS_DIR))
