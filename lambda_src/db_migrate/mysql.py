"""The MySQL family (Aurora MySQL 3, RDS for MySQL 8.0/8.4): its migration set, one login with
PyMySQL over TLS, and the run. Its migrations are written for MySQL 8 and MariaDB 10.11 alike
(the local tests run on either).

A refused login is recognised by error 1045 (ER_ACCESS_DENIED_ERROR, SQLSTATE 28000); an unknown
database (1049) and a certificate that fails verification fail at once; anything else that
waiting can fix is retried with backoff until the connect budget is spent. TLS as for
PostgreSQL: ``verify-full`` checks the server's certificate against certifi's bundle and its
host name, ``require`` encrypts without checking either.

What a MySQL migration run guarantees. MySQL has no transactional DDL: CREATE, ALTER, DROP,
RENAME, TRUNCATE, CREATE USER, GRANT and the like commit the open transaction, and themselves,
at once. So:

- One run at a time per database: a run holds ``GET_LOCK('dbmigrate:<database>')`` (a named
  lock of the server, one per database) and waits for it at most `lock_timeout_seconds`, which
  also bounds its session's waits for metadata and row locks (lock_wait_timeout,
  innodb_lock_wait_timeout). The session uses MySQL 8's default SQL mode (strict), UTC and
  utf8mb4, whatever the server's parameter group says.
- Before anything is applied, the recorded history is checked against the files, as for
  PostgreSQL: an edited applied file, an applied version without its file or a new file older
  than the latest applied one stops the run.
- A migration's statements run in file order with autocommit off, so they form one transaction
  until a statement commits implicitly, after which the next statement opens another. The
  version is recorded, in the same transaction as the file's last statements, only after every
  statement succeeded. A migration without DDL (rows only) is therefore atomic: it and its
  history row commit together or not at all.
- A migration that fails is rolled back to its last implicit commit: whatever its statements
  committed before the failure (each DDL statement, and the statements before it) stays. It is
  not recorded, the run stops, and the migrations applied before it in the run stay applied and
  recorded. The next run applies the whole file again, from its first statement.
- Hence every MySQL migration must be re-runnable: each statement must succeed, changing
  nothing more, when any prefix of its file has already been applied: CREATE TABLE IF NOT
  EXISTS, CREATE USER IF NOT EXISTS, DROP ... IF EXISTS, DROP PROCEDURE IF EXISTS before CREATE
  PROCEDURE, INSERT IGNORE or ON DUPLICATE KEY UPDATE for rows. MySQL 8 has no ADD COLUMN IF NOT
  EXISTS or CREATE INDEX IF NOT EXISTS (MariaDB has both): guard such a statement in a
  procedure that reads information_schema, or give it a file of its own, where re-running it
  can only fail after it succeeded but its history row was lost (the connection dropped in
  between): then record that version by hand. A failed file is never recorded, so it may be
  fixed in place; the fix must cope with what the failed attempt left.
- A file is sent as one multi-statement query: no DELIMITER lines (a client command); a CREATE
  PROCEDURE ... BEGIN ... END goes as it is. A statement's failure is reported with its number
  (counted in result sets, so a CALL whose procedure returns rows counts for more than one).
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import certifi
import pymysql
from pymysql.constants import CLIENT

from .connection import Endpoint, Login, MigrationRun, Refusal, connect_within_budget
from .migrate import ApplyError, Migration, MigrationError, MigrationResult, run_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "mysql"
PERMANENT_CONNECT_ERRORS = ("(1049, ", "certificate verify failed")
"""Failures that waiting cannot fix: an unknown database (ER_BAD_DB_ERROR, 1049) and a
certificate that fails verification. (A refused login is retried with the secret read again.)"""

LOGIN_REFUSED_ERRORS = {1045: Refusal("28000", "access_denied")}
"""ER_ACCESS_DENIED_ERROR: a wrong password or an unknown user (the server does not say which)."""

SQL_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
"""MySQL 8.0's and 8.4's default SQL mode, for the runner's session whatever the server's."""

LOCK_PREFIX = "dbmigrate:"
MAX_LOCK_NAME_LENGTH = 64
"""GET_LOCK names are server-wide and at most 64 characters long."""

_CREATE_HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    checksum CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    applied_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"""

if TYPE_CHECKING:  # generic in the stubs only
    Connection: TypeAlias = pymysql.connections.Connection[pymysql.cursors.Cursor]


def migrate(run: MigrationRun) -> MigrationResult:
    """Logs in with the secret's current login and applies the pending migrations."""
    return run.log_in_and_apply(connect, apply_migrations)


def trusted_certificates() -> str:
    """The CA bundle ``verify-full`` checks the server's certificate against (a PEM file)."""
    return certifi.where()


def ssl_context(sslmode: str) -> ssl.SSLContext:
    """``verify-full``: the CA bundle and the host name are checked; ``require``: encrypted,
    nothing checked (the Aurora and RDS CAs are not in the bundle)."""
    if sslmode == "verify-full":
        return ssl.create_default_context(cafile=trusted_certificates())
    if sslmode != "require":
        raise ValueError(f"unknown sslmode {sslmode!r}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connect(endpoint: Endpoint, login: Login, budget_seconds: float) -> Connection:
    """Connects over TLS, retrying with backoff until `budget_seconds` have passed (one try at
    least); the connection runs several statements per query, as a migration file needs.

    Raises LoginRefusedError at once when the server refuses the login, ConnectError otherwise.
    """
    context = ssl_context(endpoint.sslmode)

    def attempt(timeout: int) -> Connection:
        return pymysql.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=login.user,
            password=login.password,
            database=endpoint.dbname,
            ssl=context,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=timeout,
            client_flag=CLIENT.MULTI_STATEMENTS,
            program_name="db_migrate",
        )

    return connect_within_budget(
        endpoint,
        login,
        budget_seconds,
        attempt=attempt,
        failures=(pymysql.err.MySQLError,),
        refused=_login_refused,
        permanent=PERMANENT_CONNECT_ERRORS,
    )


def _login_refused(exc: Exception, error: str) -> Refusal | None:
    code = exc.args[0] if exc.args else None
    return LOGIN_REFUSED_ERRORS.get(code) if isinstance(code, int) else None


def lock_name(dbname: str) -> str:
    """The runners' GET_LOCK name for one database: ``dbmigrate:<database>``, or a digest of a
    name too long for it."""
    name = LOCK_PREFIX + dbname
    if len(name) > MAX_LOCK_NAME_LENGTH:
        digest = hashlib.sha256(dbname.encode()).hexdigest()
        name = LOCK_PREFIX + digest[: MAX_LOCK_NAME_LENGTH - len(LOCK_PREFIX)]
    return name


def apply_migrations(
    conn: Connection, migrations: Sequence[Migration], *, lock_timeout_seconds: int = 120
) -> MigrationResult:
    """Applies the pending `migrations` on `conn` (opened with ``CLIENT.MULTI_STATEMENTS`` and a
    database), with the guarantees of this module's docstring; `conn` is left in autocommit."""
    if not conn.client_flag & CLIENT.MULTI_STATEMENTS:
        raise ValueError("the connection must be opened with client_flag=CLIENT.MULTI_STATEMENTS")
    return run_migrations(_MySQLRun(conn), migrations, lock_timeout_seconds=lock_timeout_seconds)


@dataclass
class _MySQLRun:
    """``run_migrations`` on one PyMySQL connection."""

    conn: Connection
    held: str | None = field(default=None, init=False)
    """The name of the lock this run holds."""

    def lock(self, timeout_seconds: int) -> bool:
        self.conn.autocommit(True)
        with self.conn.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            (dbname,) = cur.fetchone() or (None,)
            if dbname is None:
                raise MigrationError("the connection has no database to migrate (none selected)")
            cur.execute(
                "SET SESSION sql_mode = %s, time_zone = '+00:00', lock_wait_timeout = %s,"
                " innodb_lock_wait_timeout = %s",
                (SQL_MODE, timeout_seconds, timeout_seconds),
            )
            name = lock_name(str(dbname))
            cur.execute("SELECT GET_LOCK(%s, %s)", (name, timeout_seconds))
            (granted,) = cur.fetchone() or (None,)
        if granted != 1:
            return False
        self.held = name
        return True

    def unlock(self) -> None:
        if self.held is not None and self.conn.open:  # a lost session has released its lock
            with self.conn.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (self.held,))
            self.held = None

    def recorded(self) -> dict[int, str]:
        with self.conn.cursor() as cur:
            cur.execute(_CREATE_HISTORY_TABLE)
            cur.execute("SELECT version, checksum FROM schema_migrations")
            return {int(version): str(checksum) for version, checksum in cur.fetchall()}

    def apply(self, migration: Migration) -> None:
        succeeded = 0  # statements of the file, counted in result sets
        self.conn.autocommit(False)
        try:
            with self.conn.cursor() as cur:
                cur.execute(migration.sql)
                succeeded = 1
                while cur.nextset():
                    succeeded += 1
                succeeded = -1  # the file is done: what fails now is its history row
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            self.conn.commit()
        except pymysql.err.MySQLError as exc:
            with contextlib.suppress(pymysql.err.MySQLError):  # a lost session has rolled back
                self.conn.rollback()
            where = "recording it" if succeeded < 0 else f"its statement {succeeded + 1}"
            raise ApplyError(
                f"was not recorded (it failed at {where}; what it committed before stays, and "
                "the next run applies the whole file again)",
                _error_text(exc),
            ) from exc
        finally:
            with contextlib.suppress(pymysql.err.MySQLError):
                self.conn.autocommit(True)


def _error_text(exc: pymysql.err.MySQLError) -> str:
    """``[code] message`` for a server error, the exception's text otherwise."""
    if len(exc.args) == 2 and isinstance(exc.args[0], int):
        return f"[{exc.args[0]}] {exc.args[1]}"
    return str(exc)
