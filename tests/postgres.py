"""A real PostgreSQL 16 for tests: one server per session, a fresh database per test.

pgserver's wheel ships the PostgreSQL binaries, so no system install or network is needed. The
server listens on a Unix socket only, with trust authentication: any role connects without a
password. Roles are cluster-wide, so a test that creates one drops it again.

`tests/conftest.py` imports both fixtures under their own names (`pg_database as
pg_database`): the redundant alias marks a re-export, so ruff reports neither an unused import
(F401) nor its shadowing by a test argument (F811), and every module shares one server.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


@dataclass(frozen=True)
class PgDatabase:
    """A database of the test server, reachable as the superuser `postgres`."""

    host: str
    """The server's Unix socket directory (libpq takes a path as host)."""
    port: int
    dbname: str

    @property
    def conninfo(self) -> str:
        return self.conninfo_as("postgres")

    def conninfo_as(self, user: str) -> str:
        return make_conninfo(host=self.host, port=self.port, dbname=self.dbname, user=user)

    def connect(self, user: str = "postgres") -> psycopg.Connection[TupleRow]:
        """An autocommit connection, so a failing statement does not poison the next one."""
        return psycopg.connect(self.conninfo_as(user), autocommit=True)


def create_database(server: PostgresServer, dbname: str) -> PgDatabase:
    admin = conninfo_to_dict(server.get_uri())
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return PgDatabase(
        host=str(admin["host"]), port=int(str(admin.get("port") or 5432)), dbname=dbname
    )


def drop_database(server: PostgresServer, dbname: str) -> None:
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); its fallback is fine.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    # Not under pytest's tmp_path: every pytest start resets /tmp/pytest-of-<user> to mode 0700,
    # which would lock the server out of its data directory while it runs as the `pgserver` user
    # (as pgserver does when the tests run as root) and another pytest session starts.
    # In memory where there is /dev/shm: CREATE DATABASE then takes ~15 ms instead of ~300 ms.
    in_memory = Path("/dev/shm")  # noqa: S108  # private TemporaryDirectory inside it
    parent = in_memory if in_memory.is_dir() and os.access(in_memory, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="pgserver-", dir=parent) as root:
        server = get_server(Path(root) / "data", cleanup_mode="stop")
        try:
            yield server
        finally:
            server.cleanup()


@pytest.fixture
def pg_database(pg_server: PostgresServer) -> Iterator[PgDatabase]:
    """A new, empty database for one test, dropped afterwards."""
    dbname = f"test_{uuid.uuid4().hex[:16]}"
    database = create_database(pg_server, dbname)
    yield database
    drop_database(pg_server, dbname)
