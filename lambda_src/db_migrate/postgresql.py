"""The PostgreSQL family: its migration set, one login with psycopg, and the run.

A refused login is recognised by SQLSTATE 28P01 (invalid_password) or 28000
(invalid_authorization_specification); anything else that waiting can fix is retried with
backoff until the connect budget is spent.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import certifi
import psycopg

from .connection import (
    ConnectError,
    Endpoint,
    Login,
    LoginRefusedError,
    MigrationRun,
    connect_with_current_login,
    log,
)
from .migrate import MigrationResult, apply_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "postgresql"
CONNECT_TIMEOUT_SECONDS = 20
MIN_CONNECT_TIMEOUT_SECONDS = 2
MAX_BACKOFF_SECONDS = 15.0
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


def migrate(run: MigrationRun) -> MigrationResult:
    """Logs in with the secret's current login and applies the pending migrations."""
    with connect_with_current_login(
        run.read, run.endpoint, connect, budget_seconds=run.budget_seconds, retry=run.retry
    ) as conn:
        return apply_migrations(conn, run.migrations)


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
    target = endpoint.target(login.user)
    log("connecting", target=target, sslmode=endpoint.sslmode, budget_s=budget_seconds)
    started = time.monotonic()
    deadline = started + budget_seconds
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        try:
            return psycopg.connect(
                **params,
                connect_timeout=max(
                    MIN_CONNECT_TIMEOUT_SECONDS, min(CONNECT_TIMEOUT_SECONDS, int(remaining))
                ),
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            # libpq does not echo passwords, but scrub anyway: this text reaches CloudFormation.
            error = str(exc).replace(login.password, "***") if login.password else str(exc)
            sqlstate = _login_refused_sqlstate(exc, error)
            if sqlstate is not None:
                raise LoginRefusedError(
                    f"[{sqlstate} {LOGIN_REFUSED_SQLSTATES[sqlstate]}] {error}", sqlstate=sqlstate
                ) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or any(text in error for text in PERMANENT_CONNECT_ERRORS):
                elapsed = time.monotonic() - started
                raise ConnectError(
                    f"could not connect to {target} after {attempt} attempts "
                    f"in {elapsed:.0f} s: {error}"
                ) from None
            delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempt - 1), remaining)
            log("connect failed, retrying", attempt=attempt, retry_in_s=delay, error=error)
            time.sleep(delay)


def _login_refused_sqlstate(exc: psycopg.OperationalError, error: str) -> str | None:
    """28P01 or 28000 when the server refused the login, else None."""
    if exc.sqlstate in LOGIN_REFUSED_SQLSTATES:
        return exc.sqlstate
    for sqlstate, message in _LOGIN_REFUSED_MESSAGES:
        if message.search(error):
            return sqlstate
    return None
