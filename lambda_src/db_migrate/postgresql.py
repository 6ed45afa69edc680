"""The PostgreSQL family: its migration set, one login with psycopg, and the run.

A refused login is recognised by SQLSTATE 28P01 (invalid_password) or 28000
(invalid_authorization_specification); anything else that waiting can fix is retried with
backoff until the connect budget is spent.

A migration runs inside a transaction together with its bookkeeping row, so it is atomic: it
must not contain transaction control (BEGIN/COMMIT) or statements that refuse a transaction block
(CREATE INDEX CONCURRENTLY, VACUUM).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import psycopg
from psycopg.rows import tuple_row

from .connection import Endpoint, Login, MigrationRun, Refusal, connect_within_budget
from .migrate import ApplyError, Migration, MigrationResult, run_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "postgresql"
PERMANENT_CONNECT_ERRORS = ("does not exist", "certificate verify failed")
"""Failures that waiting cannot fix: fail the deploy now instead of after the whole budget.
(A refused login is not among them: it is retried with the secret read again.)"""

LOGIN_REFUSED_SQLSTATES = {
    "28P01": "invalid_password",
    "28000": "invalid_authorization_specification",
}
_LOGIN_REFUSED_MESSAGES = (
    ("28P01", re.compile(r"password authentication failed for user")),
    (
        "28000",
        re.compile(
            r'authentication failed for user|role ".*" does not exist'
            r'|role ".*" is not permitted to log in|no pg_hba\.conf entry'
            r"|pg_hba\.conf rejects connection"
        ),
    ),
)
"""The server's messages for those SQLSTATEs. libpq does not hand a failed login's SQLSTATE to
psycopg (``OperationalError.sqlstate`` is None for connection errors), only its message."""

ADVISORY_LOCK_KEY = 0x6462_6D69_6772_6174
"""pg_advisory_lock key shared by every runner ("dbmigrat" in ASCII), so that two deploys racing
on the same database run one after the other. Advisory locks are per database."""

_CREATE_HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migrate(run: MigrationRun) -> MigrationResult:
    """Logs in with the secret's current login and applies the pending migrations."""
    return run.log_in_and_apply(connect, apply_migrations)


def libpq_params(endpoint: Endpoint) -> dict[str, Any]:
    """libpq keyword arguments for the endpoint (no login)."""
    params: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "dbname": endpoint.dbname,
        "sslmode": endpoint.sslmode,
        "application_name": "db_migrate",
    }
    if endpoint.sslmode == "verify-full":
        params["sslrootcert"] = certifi.where()
    return params


def connect(endpoint: Endpoint, login: Login, budget_seconds: float) -> psycopg.Connection[Any]:
    """Connects, retrying with backoff until `budget_seconds` have passed (one try at least).

    Raises LoginRefusedError at once when the server refuses the login, ConnectError otherwise.
    """
    params = {**libpq_params(endpoint), "user": login.user, "password": login.password}
    return connect_within_budget(
        endpoint,
        login,
        budget_seconds,
        attempt=lambda timeout: psycopg.connect(**params, connect_timeout=timeout, autocommit=True),
        failures=(psycopg.OperationalError,),
        refused=_login_refused,
        permanent=PERMANENT_CONNECT_ERRORS,
    )


def _login_refused(exc: Exception, error: str) -> Refusal | None:
    """28P01 or 28000 when the server refused the login, else None."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate not in LOGIN_REFUSED_SQLSTATES:
        sqlstate = next(
            (s for s, message in _LOGIN_REFUSED_MESSAGES if message.search(error)), None
        )
    return None if sqlstate is None else Refusal(sqlstate, LOGIN_REFUSED_SQLSTATES[sqlstate])


def apply_migrations(
    conn: psycopg.Connection[Any],
    migrations: Sequence[Migration],
    *,
    lock_timeout_seconds: int = 120,
) -> MigrationResult:
    """Applies the pending `migrations` on `conn`, which is switched to autocommit.

    Nothing is applied unless the recorded history is consistent with the files (see
    ``run_migrations``). Each pending migration commits on its own, together with its history
    row, so a failure keeps the earlier ones of the run. `lock_timeout_seconds` bounds the wait
    for a concurrent runner and for any lock a migration needs (it is the session's
    lock_timeout).
    """
    return run_migrations(_PostgresRun(conn), migrations, lock_timeout_seconds=lock_timeout_seconds)


@dataclass(frozen=True)
class _PostgresRun:
    """``run_migrations`` on one psycopg connection."""

    conn: psycopg.Connection[Any]

    def lock(self, timeout_seconds: int) -> bool:
        self.conn.autocommit = True
        self.conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{timeout_seconds}s",))
        try:
            self.conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            return False
        return True

    def unlock(self) -> None:
        if not self.conn.closed:  # a lost session has released its lock already
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))

    def recorded(self) -> dict[int, str]:
        self.conn.execute(_CREATE_HISTORY_TABLE)
        with self.conn.cursor(row_factory=tuple_row) as cur:
            return dict(cur.execute("SELECT version, checksum FROM schema_migrations").fetchall())

    def apply(self, migration: Migration) -> None:
        try:
            with self.conn.transaction():
                self.conn.execute(migration.sql)
                self.conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
        except psycopg.Error as exc:
            raise ApplyError("was rolled back", f"[{exc.sqlstate}] {exc}") from exc
