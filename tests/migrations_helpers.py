"""The migration runner's test helpers, shared by the ``test_migrations*`` modules (no tests
here): migration folders, history queries, each engine family behind one interface (``Family``,
the ``family`` fixture), and the handler's environment and events."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
import psycopg
import pytest
from moto import mock_aws
from psycopg.rows import TupleRow

from db_migrate import handler
from db_migrate import mysql as mysql_family
from db_migrate import postgresql as postgresql_family
from db_migrate.connection import Login
from db_migrate.migrate import Migration, MigrationResult, load_migrations
from db_migrate.postgresql import MIGRATIONS_DIR, apply_migrations
from devkit.mysql import MyDatabase
from devkit.postgres import PgDatabase

BUNDLED = MIGRATIONS_DIR
BUNDLED_VERSIONS = (1, 2, 3)
BUNDLED_DATA = {
    "LatestVersion": str(BUNDLED_VERSIONS[-1]),
    "Applied": ",".join(map(str, BUNDLED_VERSIONS)),
}
"""The migration handler's response data after a run that applied every bundled migration."""
PASSWORD = "Sup3r-s3cret-pw!"  # a made-up password that must never be echoed

Conn = psycopg.Connection[TupleRow]


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def migrate(database: PgDatabase, directory: Path = BUNDLED) -> MigrationResult:
    """One runner on a fresh connection; not in autocommit, which the runner must switch on."""
    with psycopg.connect(database.conninfo) as conn:
        return apply_migrations(conn, load_migrations(directory))


def table_exists(conn: Conn, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def history(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    ).fetchall()


def advisory_locks(conn: Conn, key: int) -> tuple[int, int]:
    """(granted, waiting) sessions on advisory lock `key` in the current database."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
        " FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND d.datname = current_database()"
        " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        (key,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the runners to overlap"
        time.sleep(0.01)


# --- each engine family behind one interface ----------------------------------------------------


class Family(Protocol):
    """What the runner tests do to a database, in either family's SQL."""

    @property
    def name(self) -> str: ...

    @property
    def bundled(self) -> Path: ...

    @property
    def runner_lock(self) -> str:
        """The lock every runner takes (see `holding` and `locks`)."""
        ...

    @property
    def gate(self) -> str:
        """Another lock, for a migration to wait on (``wait_for_gate``)."""
        ...

    @property
    def duplicate_key(self) -> str:
        """The error code of a duplicate key, as the runner's messages show it."""
        ...

    def migrate(self, directory: Path | None = None) -> MigrationResult:
        """One runner on a fresh connection that is not in autocommit (the runner must switch
        it on), with the bundled migrations by default."""
        ...

    def apply(self, migrations: Sequence[Migration], **options: Any) -> MigrationResult:
        """``apply_migrations`` on a fresh connection."""
        ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str) -> None: ...

    def table_exists(self, name: str) -> bool: ...

    def holding(self, lock: str) -> contextlib.AbstractContextManager[Callable[[], None]]:
        """Holds `lock` on a session of its own; yields its release."""
        ...

    def locks(self, lock: str) -> tuple[int, int]:
        """(sessions holding `lock`, sessions waiting for it)."""
        ...

    def wait_for_gate(self) -> str:
        """A statement that waits until `gate` is free (and then holds it)."""
        ...


def history_of(family: Family) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in family.rows("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
    ]


@dataclass(frozen=True)
class PostgresFamily:
    database: PgDatabase
    name = "postgresql"
    bundled = MIGRATIONS_DIR
    runner_lock = "runner"
    gate = "gate"
    duplicate_key = "23505"
    _keys = {"runner": postgresql_family.ADVISORY_LOCK_KEY, "gate": 4242}  # noqa: RUF012

    def migrate(self, directory: Path | None = None) -> MigrationResult:
        with psycopg.connect(self.database.conninfo) as conn:
            return apply_migrations(conn, load_migrations(directory or self.bundled))

    def apply(self, migrations: Sequence[Migration], **options: Any) -> MigrationResult:
        with self.database.connect() as conn:
            return apply_migrations(conn, migrations, **options)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.database.connect() as conn:
            return conn.execute(sql.encode()).fetchall()

    def execute(self, sql: str) -> None:
        with self.database.connect() as conn:
            conn.execute(sql.encode())

    def table_exists(self, name: str) -> bool:
        with self.database.connect() as conn:
            return table_exists(conn, name)

    @contextlib.contextmanager
    def holding(self, lock: str) -> Iterator[Callable[[], None]]:
        with self.database.connect() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (self._keys[lock],))

            def release() -> None:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._keys[lock],))

            yield release

    def locks(self, lock: str) -> tuple[int, int]:
        with self.database.connect() as conn:
            return advisory_locks(conn, self._keys[lock])

    def wait_for_gate(self) -> str:
        return f"SELECT pg_advisory_xact_lock({self._keys['gate']});"


@dataclass(frozen=True)
class MySQLFamily:
    database: MyDatabase
    name = "mysql"
    bundled = mysql_family.MIGRATIONS_DIR
    duplicate_key = "1062"

    @property
    def runner_lock(self) -> str:
        return mysql_family.lock_name(self.database.dbname)

    @property
    def gate(self) -> str:
        return f"gate:{self.database.dbname}"  # named locks are server-wide

    def migrate(self, directory: Path | None = None) -> MigrationResult:
        with self.database.connect(multi_statements=True) as conn:
            conn.autocommit(False)
            return mysql_family.apply_migrations(conn, load_migrations(directory or self.bundled))

    def apply(self, migrations: Sequence[Migration], **options: Any) -> MigrationResult:
        with self.database.connect(multi_statements=True) as conn:
            return mysql_family.apply_migrations(conn, migrations, **options)

    def rows(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.database.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())

    def execute(self, sql: str) -> None:
        self.rows(sql)

    def table_exists(self, name: str) -> bool:
        found = self.rows(
            "SELECT COUNT(*) FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = %s",
            (name,),
        )
        return bool(found[0][0])

    @contextlib.contextmanager
    def holding(self, lock: str) -> Iterator[Callable[[], None]]:
        with self.database.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 10)", (lock,))
            assert cur.fetchone() == (1,)

            def release() -> None:
                cur.execute("DO RELEASE_LOCK(%s)", (lock,))

            yield release

    def locks(self, lock: str) -> tuple[int, int]:
        """IS_USED_LOCK for the holder; the sessions in state 'User lock' whose GET_LOCK names
        it (PyMySQL sends the name inline) for the waiters."""
        ((held, waiting),) = self.rows(
            "SELECT IS_USED_LOCK(%s) IS NOT NULL, COUNT(*) FROM information_schema.processlist"
            " WHERE state = 'User lock' AND info LIKE %s",
            (lock, f"%GET_LOCK('{lock}'%"),
        )
        return int(held), int(waiting)

    def wait_for_gate(self) -> str:
        return f"DO GET_LOCK('{self.gate}', 30);"


@pytest.fixture(params=["postgresql", "mysql"])
def family(request: pytest.FixtureRequest) -> Family:
    """Each engine family's runner on a fresh database of its local server."""
    if request.param == "postgresql":
        return PostgresFamily(request.getfixturevalue("pg_database"))
    return MySQLFamily(request.getfixturevalue("mysql_database"))


# --- the custom resource handler's environment ------------------------------------------------


def count_secret_reads(
    monkeypatch: pytest.MonkeyPatch, after_first_read: Callable[[], None] = lambda: None
) -> list[str]:
    """Wraps the handler's secret reader; returns the passwords it read, in order."""
    passwords: list[str] = []
    read_login = handler.read_login

    def reading(client: Any, secret_arn: str) -> Login:
        login = read_login(client, secret_arn)
        passwords.append(login.password)
        if len(passwords) == 1:
            after_first_read()
        return login

    monkeypatch.setattr(handler, "read_login", reading)
    return passwords


def event(request_type: str, physical_id: str | None = None) -> dict[str, Any]:
    """A provider framework onEvent payload."""
    payload: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
        "LogicalResourceId": "SchemaMigrations",
        "ResourceType": "Custom::SchemaMigrations",
        "ResourceProperties": {},
    }
    if physical_id is not None:
        payload["PhysicalResourceId"] = physical_id
    return payload


@pytest.fixture
def aws_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The handler's environment with its secret in moto; the database is unreachable. The ARN."""
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "DB_HOST": str(tmp_path / "nowhere"),  # a Unix socket directory without a server
        "DB_PORT": "5432",
        "DB_NAME": "app",
        "DB_SSLMODE": "verify-full",
        "DB_CONNECT_BUDGET_SECONDS": "0.3",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="db-admin",
            # host and dbname point elsewhere: the endpoint comes from the env variables.
            SecretString=json.dumps(
                {
                    "username": "postgres",
                    "password": PASSWORD,
                    "host": "db.invalid",
                    "port": 5432,
                    "dbname": "postgres",
                    "engine": "postgres",
                }
            ),
        )
        monkeypatch.setenv("DB_SECRET_ARN", secret["ARN"])
        yield secret["ARN"]


@pytest.fixture
def reachable(
    aws_secret: str, monkeypatch: pytest.MonkeyPatch, pg_database: PgDatabase
) -> PgDatabase:
    """Points the handler at the test database."""
    monkeypatch.setenv("DB_HOST", pg_database.host)
    monkeypatch.setenv("DB_PORT", str(pg_database.port))
    monkeypatch.setenv("DB_NAME", pg_database.dbname)
    return pg_database
