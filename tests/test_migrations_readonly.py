"""The operators' read-only login (migration 0003 of each family) on the real local servers: it
reads items, writes nothing, never sees schema_migrations, runs no DDL; PostgreSQL's also reads
the tables later migrations create, MySQL's is re-runnable and locked where IAM is not loaded."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg
import pymysql
import pytest
from psycopg import sql

from db_migrate import mysql as mysql_family
from devkit.migrations import migrate as migrate_database
from devkit.mysql import MyDatabase, grant_local_login
from devkit.postgres import PgDatabase
from stacks.data_stack import READONLY_DB_USER
from tests.migrations_helpers import MySQLFamily, migrate, table_exists

WRITES = (
    "INSERT INTO items (name) VALUES ('sneaky')",
    "UPDATE items SET name = 'sneaky'",
    "DELETE FROM items",
)
DENIED = (
    *WRITES,
    "CREATE TABLE sneaky (id integer)",
    "DROP TABLE items",
    "ALTER TABLE items ADD COLUMN sneaky integer",
    "SELECT * FROM schema_migrations",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'x', 'x')",
    "CREATE TEMPORARY TABLE scratch (id integer)",
)
"""What the read-only login may not do, in either family."""
TOKEN = "fake-iam-token"  # what a faked IAM token signer returns (MySQL's stand-in password)


def test_the_stacks_user_is_the_one_the_migrations_create() -> None:
    assert READONLY_DB_USER == "app_readonly"


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_app_readonly_reads_items(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as admin:
        admin.execute("INSERT INTO items (name) VALUES ('a')")
    with pg_database.connect(READONLY_DB_USER) as reader:
        assert reader.execute("SELECT name, version FROM items").fetchall() == [("a", 1)]


def test_app_readonly_writes_nothing_sees_no_history_and_runs_no_ddl(
    pg_database: PgDatabase,
) -> None:
    """Refused twice over: every transaction starts read only, and with that turned off (the
    role may, for its own session) the missing privileges still refuse."""
    migrate(pg_database)
    with pg_database.connect(READONLY_DB_USER) as reader:
        for statement in (*WRITES, "CREATE TABLE sneaky (id integer)"):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                reader.execute(statement)
        reader.execute("SET default_transaction_read_only = off")
        for statement in DENIED:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
    with pg_database.connect() as conn:
        assert not table_exists(conn, "sneaky")
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_app_readonly_reads_tables_later_migrations_create(pg_database: PgDatabase) -> None:
    """Default privileges: a table the migrations' role creates after 0003 is readable (SELECT
    only) without a grant of its own; a migration that must hide one revokes it."""
    migrate(pg_database)
    with pg_database.connect() as admin:
        admin.execute("CREATE TABLE later (id integer)")
        admin.execute("INSERT INTO later VALUES (1)")
        admin.execute("CREATE TABLE hidden (id integer)")
        admin.execute(
            sql.SQL("REVOKE SELECT ON hidden FROM {}").format(sql.Identifier(READONLY_DB_USER))
        )
    with pg_database.connect(READONLY_DB_USER) as reader:
        assert reader.execute("SELECT id FROM later").fetchall() == [(1,)]
        reader.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("INSERT INTO later VALUES (2)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SELECT id FROM hidden")


def test_app_readonly_sessions_are_bounded(pg_database: PgDatabase) -> None:
    """Five connections at most; an idle open transaction (which would hold locks a migration's
    DDL waits for) is ended after a minute; a statement after five."""
    migrate(pg_database)
    with pg_database.connect() as conn:
        row = conn.execute(
            "SELECT rolconnlimit, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole"
            " FROM pg_roles WHERE rolname = %s",
            (READONLY_DB_USER,),
        ).fetchone()
        assert row == (5, True, False, False, False)
    with pg_database.connect(READONLY_DB_USER) as reader:
        settings = {
            name: reader.execute(f"SHOW {name}").fetchone()
            for name in (
                "default_transaction_read_only",
                "idle_in_transaction_session_timeout",
                "statement_timeout",
            )
        }
    assert settings == {
        "default_transaction_read_only": ("on",),
        "idle_in_transaction_session_timeout": ("1min",),
        "statement_timeout": ("5min",),
    }


@pytest.fixture
def rds_iam_role(pg_database: PgDatabase) -> Iterator[None]:
    """Aurora's rds_iam role; roles are cluster-wide, so it goes again after the test."""
    with pg_database.connect() as conn:
        conn.execute("CREATE ROLE rds_iam NOLOGIN")
    yield
    with pg_database.connect() as conn:
        conn.execute("DROP ROLE rds_iam")


@pytest.mark.usefixtures("rds_iam_role")
def test_app_readonly_joins_rds_iam_where_it_exists(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as conn:
        member = conn.execute(
            "SELECT pg_has_role(%s, 'rds_iam', 'MEMBER')", (READONLY_DB_USER,)
        ).fetchone()
    assert member == (True,)


# --- MySQL ---------------------------------------------------------------------------------------


def test_mysql_app_readonly_reads_items_and_nothing_else(mysql_database: MyDatabase) -> None:
    migrate_database(mysql_database)
    grant_local_login(mysql_database, READONLY_DB_USER, password=TOKEN)
    items = MySQLFamily(mysql_database)
    items.rows("INSERT INTO items (id, name) VALUES (%s, 'a')", (str(uuid.uuid4()),))
    with mysql_database.connect(READONLY_DB_USER, TOKEN) as reader, reader.cursor() as cur:
        cur.execute("SELECT name, version FROM items")
        assert cur.fetchall() == (("a", 1),)
        for statement in (*DENIED, "CREATE USER sneaky"):
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cur.execute(statement)
            # ER_TABLEACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED
            assert refused.value.args[0] in (1142, 1044, 1227), (statement, refused.value)
    assert not items.table_exists("sneaky")
    assert items.rows("SELECT name FROM items") == [("a",)]


@pytest.fixture
def readonly_user(mysql_database: MyDatabase) -> Iterator[str]:
    """A user of this test's own for the migration: users are server-wide, and the other tests
    share app_readonly (unlocked by grant_local_login)."""
    user = f"ro_{uuid.uuid4().hex[:12]}"
    yield user
    MySQLFamily(mysql_database).rows("DROP USER IF EXISTS %s@'%%'", (user,))


def test_mysql_readonly_user_without_iam_is_locked_and_re_runnable(
    mysql_database: MyDatabase, readonly_user: str
) -> None:
    """Without AWSAuthenticationPlugin (error 1524 here, and on RDS with IAM authentication off)
    the user is created locked, TLS only, with a random password and its connection limit; the
    file applied again over itself changes nothing and leaves no procedure behind."""
    sql = (mysql_family.MIGRATIONS_DIR / "0003_readonly_user.sql").read_text()
    assert "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL" in sql
    migrate_database(mysql_database)  # the items table the grant needs
    items = MySQLFamily(mysql_database)
    with mysql_database.connect(multi_statements=True) as conn, conn.cursor() as cur:
        for _ in range(2):
            cur.execute(sql.replace("'app_readonly'", f"'{readonly_user}'"))
            while cur.nextset():
                pass

    ((create_user,),) = items.rows("SHOW CREATE USER %s@'%%'", (readonly_user,))
    assert "ACCOUNT LOCK" in create_user
    assert "REQUIRE SSL" in create_user
    assert "MAX_USER_CONNECTIONS 5" in create_user
    assert re.search(r"IDENTIFIED (BY PASSWORD|WITH \S+ AS) '[*$]", create_user), create_user
    for password in ("", "RDS"):
        with pytest.raises(pymysql.err.OperationalError) as refused:
            mysql_database.connect(readonly_user, password).close()
        assert refused.value.args[0] in (1045, 3118, 4151)  # denied; locked (MySQL, MariaDB)
    grants = " ".join(row[0] for row in items.rows("SHOW GRANTS FOR %s@'%%'", (readonly_user,)))
    assert "GRANT SELECT ON `" in grants
    assert "`.`items` TO" in grants
    assert "INSERT" not in grants
    assert "schema_migrations" not in grants
    routines = items.rows(
        "SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE()"
    )
    assert routines == [(0,)]
