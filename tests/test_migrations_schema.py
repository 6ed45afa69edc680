"""The bundled migrations of each family: the items table, the API's login role, the limits."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest

from api.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH
from db_migrate import mysql as mysql_family
from db_migrate.postgresql import MIGRATIONS_DIR
from devkit.migrations import migrate as migrate_database
from devkit.mysql import MyDatabase, grant_local_login
from devkit.postgres import PgDatabase
from stacks.data_stack import API_DB_USER
from tests.migrations_helpers import (
    MySQLFamily,
    migrate,
    table_exists,
)

# --- the bundled schema ------------------------------------------------------------------------

DENIED_TO_THE_API = (
    "CREATE TABLE sneaky (id integer)",
    "DROP TABLE items",
    "ALTER TABLE items ADD COLUMN sneaky integer",
    "SELECT * FROM schema_migrations",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'x', 'x')",
    "CREATE TEMPORARY TABLE scratch (id integer)",
)
"""What the API's login may not do, in either family."""


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
    with pg_database.connect("app_api") as api:
        for statement in DENIED_TO_THE_API:
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


@pytest.mark.parametrize("directory", [MIGRATIONS_DIR, mysql_family.MIGRATIONS_DIR])
def test_the_item_limits_of_the_sql_are_the_api_models_limits(directory: Path) -> None:
    """The API refuses what the table would: one limit, stated by the models and the CHECKs."""
    sql = (directory / "0001_items.sql").read_text()
    name_limit = re.search(r"char_length\(name\) BETWEEN 1 AND (\d+)", sql, re.IGNORECASE)
    description_limit = re.search(r"char_length\(description\) <= (\d+)", sql, re.IGNORECASE)
    assert name_limit is not None
    assert description_limit is not None
    assert int(name_limit[1]) == NAME_MAX_LENGTH
    assert int(description_limit[1]) == DESCRIPTION_MAX_LENGTH


# --- the MySQL family's schema -----------------------------------------------------------------

CHECK_VIOLATION = {3819, 4025}
"""ER_CHECK_CONSTRAINT_VIOLATED (MySQL 8), ER_CONSTRAINT_FAILED (MariaDB)."""
TOO_LONG = 1406  # ER_DATA_TOO_LONG: strict mode refuses what it would truncate
TOKEN = "fake-iam-token"  # what a faked IAM token signer returns


def test_mysql_items_defaults_constraints_and_pagination_index(
    mysql_database: MyDatabase,
) -> None:
    migrate_database(mysql_database)
    items = MySQLFamily(mysql_database)
    item_id = str(uuid.uuid4())
    items.rows("INSERT INTO items (id, name) VALUES (%s, %s)", (item_id, "n" * 200))
    ((description, version, same, age),) = items.rows(
        "SELECT description, version, created_at = updated_at,"
        " TIMESTAMPDIFF(SECOND, created_at, UTC_TIMESTAMP(6)) FROM items"
    )
    assert (description, version, same) == ("", 1, 1)
    assert 0 <= age < 60  # UTC
    # Characters, not bytes: 200 and 2000 of a two-byte letter fit.
    items.rows(
        "INSERT INTO items (id, name, description) VALUES (%s, %s, %s)",
        (str(uuid.uuid4()), "é" * 200, "ü" * 2000),
    )

    invalid = [
        ("", "", 1, CHECK_VIOLATION),
        (" \t\n", "", 1, CHECK_VIOLATION),
        ("n" * 201, "", 1, {TOO_LONG}),
        ("ok", "d" * 2001, 1, {TOO_LONG}),
        ("ok", "", 0, CHECK_VIOLATION),
    ]
    for name, description, version, codes in invalid:
        with pytest.raises(pymysql.err.MySQLError) as refused:
            items.rows(
                "INSERT INTO items (id, name, description, version) VALUES (%s, %s, %s, %s)",
                (str(uuid.uuid4()), name, description, version),
            )
        assert refused.value.args[0] in codes, (name[:5], refused.value)
    assert items.rows("SELECT COUNT(*) FROM items") == [(2,)]

    # Ids compare exactly: the upper-case spelling of an id is another id.
    assert items.rows("SELECT COUNT(*) FROM items WHERE id = %s", (item_id.upper(),)) == [(0,)]
    columns = items.rows(
        "SELECT column_name, collation_name FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND table_name = 'items'"
        " AND column_name IN ('id', 'name', 'description') ORDER BY column_name"
    )
    assert columns == [
        ("description", "utf8mb4_bin"),
        ("id", "ascii_bin"),
        ("name", "utf8mb4_bin"),
    ]
    index = items.rows(
        "SELECT column_name FROM information_schema.statistics WHERE table_schema = DATABASE()"
        " AND table_name = 'items' AND index_name = 'items_created_at_id_idx' ORDER BY seq_in_index"
    )
    assert index == [("created_at",), ("id",)]


def test_mysql_app_api_reads_and_writes_items(mysql_database: MyDatabase) -> None:
    migrate_database(mysql_database)
    grant_local_login(mysql_database, password=TOKEN)
    item_id = str(uuid.uuid4())
    # The user the CDK app grants rds-db:connect for is the one the migrations create.
    with mysql_database.connect(API_DB_USER, TOKEN) as api, api.cursor() as cur:
        cur.execute("INSERT INTO items (id, name) VALUES (%s, 'a')", (item_id,))
        cur.execute("UPDATE items SET version = version + 1 WHERE id = %s", (item_id,))
        cur.execute("SELECT name, version FROM items")
        assert cur.fetchall() == (("a", 2),)
        cur.execute("DELETE FROM items WHERE id = %s", (item_id,))
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchone() == (0,)


def test_mysql_app_api_cannot_change_the_schema_or_its_history(mysql_database: MyDatabase) -> None:
    migrate_database(mysql_database)
    grant_local_login(mysql_database, password=TOKEN)
    with mysql_database.connect(API_DB_USER, TOKEN) as api, api.cursor() as cur:
        for statement in [*DENIED_TO_THE_API, "CREATE USER sneaky"]:
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cur.execute(statement)
            # ER_TABLEACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED
            assert refused.value.args[0] in (1142, 1044, 1227), (statement, refused.value)
    items = MySQLFamily(mysql_database)
    assert items.table_exists("items")
    assert not items.table_exists("sneaky")


@pytest.fixture
def api_user(mysql_database: MyDatabase) -> Iterator[str]:
    """A user of this test's own for the API role's migration: users are server-wide, and the
    other tests share app_api (unlocked by grant_local_login)."""
    user = f"api_{uuid.uuid4().hex[:12]}"
    yield user
    MySQLFamily(mysql_database).rows("DROP USER IF EXISTS %s@'%%'", (user,))


def test_mysql_api_user_without_iam_is_locked_with_no_usable_password(
    mysql_database: MyDatabase, api_user: str
) -> None:
    """Without AWSAuthenticationPlugin (error 1524 here, and on an RDS instance or an Aurora
    cluster whose IAM authentication is off) the user is created locked, TLS only, with a random
    password, never open; running the migration again leaves it as it is."""
    sql = (mysql_family.MIGRATIONS_DIR / "0002_api_role.sql").read_text()
    assert "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL" in sql
    migrate_database(mysql_database)  # the items table the grant needs
    items = MySQLFamily(mysql_database)
    with mysql_database.connect(multi_statements=True) as conn, conn.cursor() as cur:
        for _ in range(2):
            cur.execute(sql.replace("'app_api'", f"'{api_user}'"))
            while cur.nextset():
                pass

    ((create_user,),) = items.rows("SHOW CREATE USER %s@'%%'", (api_user,))
    assert "ACCOUNT LOCK" in create_user
    assert "REQUIRE SSL" in create_user
    # A password hash (MariaDB: BY PASSWORD '*...'; MySQL 8: WITH caching_sha2_password AS '$A...')
    assert re.search(r"IDENTIFIED (BY PASSWORD|WITH \S+ AS) '[*$]", create_user), create_user
    for password in ("", "RDS"):
        with pytest.raises(pymysql.err.OperationalError) as refused:
            mysql_database.connect(api_user, password).close()
        assert refused.value.args[0] in (1045, 3118, 4151)  # denied; locked (MySQL, MariaDB)
    grants = " ".join(row[0] for row in items.rows("SHOW GRANTS FOR %s@'%%'", (api_user,)))
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON `" in grants
    assert "`.`items` TO" in grants
    assert "schema_migrations" not in grants

    grant_local_login(mysql_database, api_user, password=TOKEN)
    mysql_database.connect(api_user, TOKEN).close()
