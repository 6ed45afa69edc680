"""``make local``'s database, of the engine family asked for (``ENGINE``): a PostgreSQL of its
own (pgserver, the default) or the local MySQL-family server (``ENGINE=mysql``: MariaDB, or
MySQL 8, from ``devkit.mysql``), migrated by the deploy's own migrations, with the function's
DB_* settings pointing at it.

The function signs in as ``app_api`` with an IAM token, which the signer seam replaces with the
fake one (``devkit.events.FakeRds``): PostgreSQL trusts its Unix socket; the MySQL server is told
that token as app_api's password, over TLS.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from api.dialects import FAMILIES
from devkit.api_env import api_environment, mysql_api_environment
from devkit.events import FakeRds
from devkit.migrations import migrate

POSTGRESQL, MYSQL = FAMILIES
"""The engine families (DB_ENGINE_FAMILY's values); PostgreSQL is the default."""
DATABASE_NAME = "items"
"""The MySQL server's database (a PostgreSQL of its own keeps its default one)."""


@dataclass(frozen=True)
class LocalDatabase:
    engine: str
    url: str
    """How the administrator reaches it: a libpq conninfo, or a ``mysql://root:...`` URL."""
    description: str
    """One line for the banner."""
    environment: dict[str, str]
    """The function's DB_* settings (and AWS_REGION, POWERTOOLS_*)."""
    admin: Callable[[], Any]
    """A new autocommit DB-API connection as the administrator (psycopg's or PyMySQL's: both
    take ``%s`` parameters)."""


@contextlib.contextmanager
def local_database(engine: str, conninfo: str | None = None) -> Iterator[LocalDatabase]:
    """The migrated database: a new server unless ``conninfo`` names an empty PostgreSQL
    database; stopped on exit."""
    if engine == MYSQL:
        if conninfo is not None:
            raise ValueError("a conninfo names a PostgreSQL database, not a MySQL one")
        with _mysql() as database:
            yield database
        return
    with contextlib.ExitStack() as stack:
        if conninfo is None:
            from devkit.postgres import postgres

            conninfo = stack.enter_context(postgres())
        migrate(conninfo)
        yield LocalDatabase(
            engine=engine,
            url=conninfo,
            description=f"PostgreSQL (pgserver), {conninfo}",
            environment=api_environment(conninfo),
            admin=functools.partial(psycopg.connect, conninfo, autocommit=True),
        )


@contextlib.contextmanager
def _mysql() -> Iterator[LocalDatabase]:
    from devkit import mysql

    with mysql.local_server() as server:
        database = mysql.create_database(server, DATABASE_NAME)
        migrate(database)
        mysql.grant_local_login(database, password=FakeRds().generate_db_auth_token())
        url = f"mysql://root:{server.root_password}@{server.host}:{server.port}/{DATABASE_NAME}"
        yield LocalDatabase(
            engine=MYSQL,
            url=url,
            description=f"{server.version}, {url} (TLS only, CA {server.ca_file})",
            environment=mysql_api_environment(database),
            admin=database.connect,
        )
