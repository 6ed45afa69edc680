"""pytest fixtures: one local PostgreSQL and one local MySQL-family server (MariaDB or MySQL 8,
``devkit.mysql``) per test session, a fresh database per test.

`tests/conftest.py` imports them under their own names (`pg_database as pg_database`): the
redundant alias marks a re-export, so ruff reports neither an unused import (F401) nor its
shadowing by a test argument (F811), and every test module shares one server of each. A server
starts only when a selected test asks for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from devkit import mysql
from devkit.mysql import MyDatabase, MyServer
from devkit.postgres import PgDatabase, create_database, drop_database, local_server

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with local_server() as server:
        yield server


@pytest.fixture
def pg_database(pg_server: PostgresServer) -> Iterator[PgDatabase]:
    """A new, empty database for one test, dropped afterwards."""
    dbname = f"test_{uuid.uuid4().hex[:16]}"
    database = create_database(pg_server, dbname)
    yield database
    drop_database(pg_server, dbname)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MyServer]:
    """Fails (never skips) the tests that use it when no server starts (``make mariadb``)."""
    with mysql.local_server() as server:
        yield server


@pytest.fixture
def mysql_database(mysql_server: MyServer) -> Iterator[MyDatabase]:
    """A new, empty database for one test, dropped afterwards (users are server-wide)."""
    dbname = f"test_{uuid.uuid4().hex[:16]}"
    database = mysql.create_database(mysql_server, dbname)
    yield database
    mysql.drop_database(mysql_server, dbname)
