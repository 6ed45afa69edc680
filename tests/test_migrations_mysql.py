"""The MySQL family's runner on a real MySQL-family server: what a run guarantees where DDL
commits implicitly (``db_migrate.mysql``'s docstring), its lock, its session, and the handler
logging in to it over TLS. What it shares with PostgreSQL is tested for both in test_migrations.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import certifi
import pytest

from db_migrate import handler
from db_migrate import mysql as mysql_family
from db_migrate.connection import ConnectError, LoginRefusedError, LoginRetry
from db_migrate.migrate import MigrationFailedError, MigrationResult, load_migrations
from devkit import mysql as devkit_mysql
from devkit.mysql import MyDatabase
from tests.migrations_helpers import (
    BUNDLED_DATA,
    BUNDLED_VERSIONS,
    PASSWORD,
    MySQLFamily,
    count_secret_reads,
    event,
    history_of,
    write_migrations,
)
from tests.migrations_helpers import aws_secret as aws_secret


@pytest.fixture
def runner(mysql_database: MyDatabase) -> MySQLFamily:
    return MySQLFamily(mysql_database)


# --- what a failed migration leaves, and the run after it ----------------------------------------


def test_a_failed_ddl_migration_keeps_its_ddl_is_not_recorded_and_runs_whole_once_fixed(
    runner: MySQLFamily, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "0001_first.sql": "CREATE TABLE first (id integer);",
            "0002_broken.sql": "CREATE TABLE IF NOT EXISTS half_done (id integer);\n"
            "INSERT INTO half_done VALUES (1);\n"
            "INSERT INTO no_such_table VALUES (1);",
            "0003_after.sql": "CREATE TABLE after_broken (id integer);",
        },
    )
    with pytest.raises(MigrationFailedError) as raised:
        runner.migrate(directory)

    message = str(raised.value)
    assert "migration 2 (0002_broken.sql) failed and was not recorded" in message
    assert "it failed at its statement 3" in message
    assert "[1146] Table" in message
    assert "no_such_table' doesn't exist" in message
    assert "applied earlier in this run: 1" in message
    assert runner.locks(runner.runner_lock) == (0, 0)  # released although the run failed
    # The DDL committed at once; the row after it was rolled back with the failure.
    assert runner.table_exists("half_done")
    assert runner.rows("SELECT COUNT(*) FROM half_done") == [(0,)]
    assert not runner.table_exists("after_broken")
    assert [row[0] for row in history_of(runner)] == [1]

    # Never recorded, so the file may be fixed in place; the next run applies all of it again.
    write_migrations(
        directory,
        {
            "0002_broken.sql": "CREATE TABLE IF NOT EXISTS half_done (id integer);\n"
            "INSERT INTO half_done VALUES (1);"
        },
    )
    assert runner.migrate(directory) == MigrationResult(applied=(2, 3), already_applied=(1,))
    assert runner.rows("SELECT id FROM half_done") == [(1,)]
    assert [row[0] for row in history_of(runner)] == [1, 2, 3]


def test_the_first_statement_failing_is_reported_as_such(
    runner: MySQLFamily, tmp_path: Path
) -> None:
    directory = write_migrations(tmp_path / "m", {"0001_bad.sql": "CREATE TABLE bad (id integer;"})
    with pytest.raises(MigrationFailedError, match=r"its statement 1.*\[1064\]"):
        runner.migrate(directory)
    assert history_of(runner) == []


def test_the_bundled_migrations_are_re_runnable(runner: MySQLFamily) -> None:
    """As every MySQL migration must be: applied again over themselves (as after a failure that
    left any part of them), they succeed and change nothing."""
    runner.migrate()
    runner.execute("DELETE FROM schema_migrations")
    assert runner.migrate() == MigrationResult(applied=BUNDLED_VERSIONS, already_applied=())
    routines = runner.rows(
        "SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE()"
    )
    assert routines == [(0,)]  # the migration's helper procedure is gone again


# --- the lock and the session --------------------------------------------------------------------


def test_each_database_has_its_own_runner_lock(
    runner: MySQLFamily, mysql_server: devkit_mysql.MyServer
) -> None:
    """Named locks are server-wide: the lock's name carries the database's."""
    other = devkit_mysql.create_database(mysql_server, f"{runner.database.dbname}_other")
    try:
        with MySQLFamily(other).holding(mysql_family.lock_name(other.dbname)):
            result = runner.apply(load_migrations(runner.bundled), lock_timeout_seconds=1)
        assert result.applied == BUNDLED_VERSIONS
    finally:
        devkit_mysql.drop_database(mysql_server, other.dbname)


def test_lock_names_fit_the_servers_limit() -> None:
    assert mysql_family.lock_name("app") == "dbmigrate:app"
    long = mysql_family.lock_name("d" * 64)
    assert len(long) == mysql_family.MAX_LOCK_NAME_LENGTH
    assert long.startswith("dbmigrate:")
    assert long != mysql_family.lock_name("d" * 63 + "e")


def test_the_runners_session_is_strict_utc_and_bounded(runner: MySQLFamily, tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "0001_settings.sql": "CREATE TABLE settings AS SELECT @@SESSION.sql_mode AS mode,"
            " @@SESSION.time_zone AS tz, @@SESSION.lock_wait_timeout AS mdl,"
            " @@SESSION.innodb_lock_wait_timeout AS row_lock;"
        },
    )
    with runner.database.connect(multi_statements=True) as conn:
        mysql_family.apply_migrations(conn, load_migrations(directory), lock_timeout_seconds=7)
    assert runner.rows("SELECT mode, tz, mdl, row_lock FROM settings") == [
        (mysql_family.SQL_MODE, "+00:00", 7, 7)
    ]
    # The local server runs with the same mode, as RDS and Aurora MySQL do by default.
    assert f"--sql-mode={mysql_family.SQL_MODE}" in devkit_mysql.SERVER_SETTINGS


def test_the_runner_needs_a_multi_statement_connection(runner: MySQLFamily) -> None:
    with (
        runner.database.connect() as conn,
        pytest.raises(ValueError, match="MULTI_STATEMENTS"),
    ):
        mysql_family.apply_migrations(conn, load_migrations(runner.bundled))


# --- the handler, logging in over TLS ------------------------------------------------------------

FAST_LOGIN_RETRY = LoginRetry(attempts=3, first_delay_seconds=0.05, max_delay_seconds=0.05)


@pytest.fixture
def mysql_reachable(
    aws_secret: str, monkeypatch: pytest.MonkeyPatch, mysql_database: MyDatabase
) -> MyDatabase:
    """The handler's environment for the MySQL family, pointed at the test database; its secret
    holds root's login, and verify-full trusts the test server's CA."""
    for name, value in {
        "DB_ENGINE_FAMILY": "mysql",
        "DB_HOST": mysql_database.host,
        "DB_PORT": str(mysql_database.port),
        "DB_NAME": mysql_database.dbname,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(mysql_family, "trusted_certificates", lambda: mysql_database.ca_file)
    monkeypatch.setattr(handler, "LOGIN_RETRY", FAST_LOGIN_RETRY)
    put_login(aws_secret, "root", mysql_database.root_password)
    return mysql_database


def put_login(secret_arn: str, user: str, password: str) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"username": user, "password": password})
    )


@pytest.mark.parametrize("sslmode", ["verify-full", "require"])
def test_create_migrates_over_tls(
    mysql_reachable: MyDatabase, monkeypatch: pytest.MonkeyPatch, sslmode: str
) -> None:
    monkeypatch.setenv("DB_SSLMODE", sslmode)
    if sslmode == "require":  # encrypted, nothing verified: no CA is needed
        monkeypatch.setattr(mysql_family, "trusted_certificates", lambda: "/nonexistent")

    response = handler.on_event(event("Create"), None)

    assert response == {
        "PhysicalResourceId": f"schema-migrations-{mysql_reachable.dbname}",
        "Data": BUNDLED_DATA,
    }
    assert [row[0] for row in history_of(MySQLFamily(mysql_reachable))] == list(BUNDLED_VERSIONS)


def assert_fails_at_once(monkeypatch: pytest.MonkeyPatch, *texts: str) -> None:
    monkeypatch.setenv("DB_CONNECT_BUDGET_SECONDS", "60")
    started = time.monotonic()
    with pytest.raises(ConnectError, match="after 1 attempts") as raised:
        handler.on_event(event("Create"), None)
    assert time.monotonic() - started < 10
    assert not isinstance(raised.value, LoginRefusedError)
    for text in texts:
        assert text in str(raised.value)


def test_a_certificate_from_another_ca_fails_at_once(
    mysql_reachable: MyDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mysql_family, "trusted_certificates", certifi.where)
    assert_fails_at_once(monkeypatch, "certificate verify failed")


def test_an_unknown_database_fails_at_once(
    mysql_reachable: MyDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_NAME", "no_such_database")
    assert_fails_at_once(monkeypatch, "(1049, ", "no_such_database")


def test_an_unreachable_server_is_retried_until_the_budget_is_spent(
    mysql_reachable: MyDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PORT", str(devkit_mysql.free_port()))
    with pytest.raises(ConnectError) as raised:
        handler.on_event(event("Create"), None)
    attempts = re.search(r"after (\d+) attempts", str(raised.value))
    assert attempts is not None
    assert int(attempts[1]) >= 2
    assert "(2003, " in str(raised.value)


def test_a_refused_login_is_retried_with_the_secret_read_again_then_fails(
    mysql_reachable: MyDatabase, aws_secret: str
) -> None:
    put_login(aws_secret, "root", PASSWORD)  # not root's password
    with pytest.raises(LoginRefusedError) as raised:
        handler.on_event(event("Create"), None)
    assert raised.value.sqlstate == "28000"
    message = str(raised.value)
    assert f"refused {FAST_LOGIN_RETRY.attempts} times" in message
    assert "[28000 access_denied] (1045, " in message
    assert PASSWORD not in message
    assert not MySQLFamily(mysql_reachable).table_exists("schema_migrations")


@pytest.fixture
def migrator(mysql_reachable: MyDatabase) -> Iterator[str]:
    """A user with a password, as RDS's master user: every privilege, granting included."""
    user = f"migrator_{mysql_reachable.dbname[-12:]}"
    with mysql_reachable.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY 'old-Passw0rd'", (user,))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (user,))
    yield user
    with mysql_reachable.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP USER %s@'%%'", (user,))


def test_a_login_refused_mid_rotation_reads_the_secret_again_and_migrates(
    mysql_reachable: MyDatabase,
    aws_secret: str,
    migrator: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The database already has the new password, AWSCURRENT the old one until the second read
    (test_migrations_login has the whole rotation, for PostgreSQL)."""
    put_login(aws_secret, migrator, "old-Passw0rd")
    with mysql_reachable.connect() as conn, conn.cursor() as cur:
        cur.execute("ALTER USER %s@'%%' IDENTIFIED BY 'new-Passw0rd'", (migrator,))
    reads = count_secret_reads(
        monkeypatch, after_first_read=lambda: put_login(aws_secret, migrator, "new-Passw0rd")
    )

    assert handler.on_event(event("Create"), None)["Data"] == BUNDLED_DATA
    assert reads == ["old-Passw0rd", "new-Passw0rd"]
    refusals = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"login refused, reading the secret again"' in line
    ]
    assert [(r["attempt"], r["sqlstate"]) for r in refusals] == [(1, "28000")]


def test_the_tls_modes_are_the_postgresql_ones() -> None:
    """verify-full checks the certificate and the host name; require encrypts only. Either way
    PyMySQL gets a context, so it never falls back to a plain connection."""
    verify_full = mysql_family.ssl_context("verify-full")
    assert (verify_full.verify_mode, verify_full.check_hostname) == (ssl.CERT_REQUIRED, True)
    require = mysql_family.ssl_context("require")
    assert (require.verify_mode, require.check_hostname) == (ssl.CERT_NONE, False)
    with pytest.raises(ValueError, match="unknown sslmode"):
        mysql_family.ssl_context("disable")
