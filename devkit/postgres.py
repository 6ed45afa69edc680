"""A real PostgreSQL 16 on this machine: pgserver's wheel ships the server binaries, so no
system install or network is needed.

The server listens on a Unix socket only, with trust authentication: any role connects without
a password. Roles are cluster-wide, so a test that creates one drops it again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


@contextlib.contextmanager
def local_server(prefix: str = "pgserver-") -> Iterator[PostgresServer]:
    """A throwaway server in a private temporary directory, stopped and removed on exit."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); its fallback is fine.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    # Not under pytest's tmp_path: every pytest start resets /tmp/pytest-of-<user> to mode 0700,
    # which would lock the server out of its data directory while it runs as the `pgserver` user
    # (as pgserver does when run as root) and another pytest session starts.
    # In memory where there is /dev/shm: CREATE DATABASE then takes ~15 ms instead of ~300 ms.
    in_memory = Path("/dev/shm")  # noqa: S108  # private TemporaryDirectory inside it
    parent = in_memory if in_memory.is_dir() and os.access(in_memory, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as root:
        server = get_server(Path(root) / "data", cleanup_mode="stop")
        try:
            yield server
        finally:
            server.cleanup()


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway server; yields the superuser's URI (its default database)."""
    with local_server() as server:
        yield server.get_uri()


@dataclass(frozen=True)
class PgDatabase:
    """A database of a local server, reachable as the superuser `postgres`."""

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
