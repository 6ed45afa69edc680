"""The migration runner's test helpers, shared by the ``test_migrations*`` modules (no tests
here): migration folders, history queries, and the handler's environment and events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws
from psycopg.rows import TupleRow

from db_migrate.migrate import MigrationResult, apply_migrations, load_migrations
from db_migrate.postgresql import MIGRATIONS_DIR
from devkit.postgres import PgDatabase

BUNDLED = MIGRATIONS_DIR
BUNDLED_VERSIONS = (1, 2)
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


# --- the custom resource handler's environment ------------------------------------------------


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
