"""The bundled PostgreSQL migrations: the items table, the API's login role, the limits."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from api.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH
from db_migrate.postgresql import MIGRATIONS_DIR
from devkit.postgres import PgDatabase
from stacks.data_stack import API_DB_USER
from tests.migrations_helpers import (
    migrate,
    table_exists,
)

# --- the bundled schema ------------------------------------------------------------------------


def test_items_defaults_constraints_and_pagination_index(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as conn:
        row = conn.execute(
            "INSERT INTO items (name) VALUES (%s)"
            " RETURNING id IS NOT NULL, description, version, created_at = updated_at",
            ("n" * 200,),
        ).fetchone()
        assert row == (True, "", 1, True)
        conn.execute("INSERT INTO items (name, description) VALUES ('ok', %s)", ("d" * 2000,))

        invalid = [
            ("", "", 1),
            (" \t\n", "", 1),
            ("n" * 201, "", 1),
            ("ok", "d" * 2001, 1),
            ("ok", "", 0),
        ]
        for name, description, version in invalid:
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "INSERT INTO items (name, description, version) VALUES (%s, %s, %s)",
                    (name, description, version),
                )
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)

        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'items'"
        ).fetchall()
        assert any(str(d).endswith("USING btree (created_at, id)") for (d,) in indexes)


def test_app_api_reads_and_writes_items(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    # The user the CDK app grants rds-db:connect for is the one the migrations create.
    with pg_database.connect(API_DB_USER) as api:
        row = api.execute("INSERT INTO items (name) VALUES ('a') RETURNING id").fetchone()
        assert row is not None
        item_id = row[0]
        api.execute("UPDATE items SET version = version + 1 WHERE id = %s", (item_id,))
        assert api.execute("SELECT name, version FROM items").fetchall() == [("a", 2)]
        api.execute("DELETE FROM items WHERE id = %s", (item_id,))
        assert api.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_app_api_cannot_change_the_schema_or_its_history(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    denied = [
        "CREATE TABLE sneaky (id integer)",
        "DROP TABLE items",
        "ALTER TABLE items ADD COLUMN sneaky integer",
        "SELECT * FROM schema_migrations",
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'x', 'x')",
        "CREATE TEMPORARY TABLE scratch (id integer)",
    ]
    with pg_database.connect("app_api") as api:
        for statement in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                api.execute(statement)
    with pg_database.connect() as conn:
        assert table_exists(conn, "items")
        assert not table_exists(conn, "sneaky")


@pytest.fixture
def rds_iam_role(pg_database: PgDatabase) -> Iterator[None]:
    """Aurora's rds_iam role; roles are cluster-wide, so it goes again after the test."""
    with pg_database.connect() as conn:
        conn.execute("CREATE ROLE rds_iam NOLOGIN")
    yield
    with pg_database.connect() as conn:
        conn.execute("DROP ROLE rds_iam")


@pytest.mark.usefixtures("rds_iam_role")
def test_app_api_joins_rds_iam_where_it_exists(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as conn:
        assert conn.execute("SELECT pg_has_role('app_api', 'rds_iam', 'MEMBER')").fetchone() == (
            True,
        )


def test_the_item_limits_of_the_sql_are_the_api_models_limits() -> None:
    """The API refuses what the table would: one limit, stated by the models and the CHECKs."""
    sql = (MIGRATIONS_DIR / "0001_items.sql").read_text()
    name_limit = re.search(r"char_length\(name\) BETWEEN 1 AND (\d+)", sql)
    description_limit = re.search(r"char_length\(description\) <= (\d+)", sql)
    assert name_limit is not None
    assert description_limit is not None
    assert int(name_limit[1]) == NAME_MAX_LENGTH
    assert int(description_limit[1]) == DESCRIPTION_MAX_LENGTH
