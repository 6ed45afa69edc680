"""CloudFormation custom resource (CDK provider framework onEvent) that migrates the database.

Create and Update apply the migrations bundled in `migrations/`; an exception fails the deploy,
so CloudFormation rolls back. Delete never touches the database: removing the resource (or the
stack) must not drop data.

Environment:
    DB_SECRET_ARN  Secrets Manager secret in the RDS JSON shape; only username and password are
                   used, so the endpoint comes from DB_HOST rather than the secret's host.
    DB_HOST, DB_PORT, DB_NAME
                   The cluster writer endpoint: the master user's password login never goes
                   through RDS Proxy (whose default auth scheme is IAM_AUTH).
    DB_SSLMODE     require (the writer directly: encrypted, the Aurora CA bundle is not in the
                   Lambda trust store) or verify-full (an endpoint whose certificate chains to
                   Amazon Root CA, which certifi's bundle has, as RDS Proxy's does).
    DB_CONNECT_BUDGET_SECONDS  optional, default 180: how long connecting is retried, which
                   covers an auto-paused Aurora Serverless v2 resuming.

A refused login (SQLSTATE 28P01 invalid_password, 28000 invalid_authorization_specification) is
retried with the secret read again each time, `LOGIN_RETRY.attempts` logins at most: a
single-user rotation of the secret (which starts as soon as its schedule is created) has a
window in which the database already has the new password and AWSCURRENT still the old one.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import certifi
import psycopg

from .migrate import MigrationError, apply_migrations, load_migrations

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SSL_MODES = ("verify-full", "require")
CONNECT_TIMEOUT_SECONDS = 20
MIN_CONNECT_TIMEOUT_SECONDS = 2
DEFAULT_CONNECT_BUDGET_SECONDS = 180.0
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


@dataclass(frozen=True)
class LoginRetry:
    """How often a refused login is tried again, each time with the secret read again."""

    attempts: int = 6
    """Logins in all, the first included."""
    first_delay_seconds: float = 2.0
    max_delay_seconds: float = 15.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_delay_seconds < 0 or self.max_delay_seconds < 0:
            raise ValueError(f"invalid {self}")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before login `attempt` (2, 3, ...): doubling, capped."""
        return min(self.max_delay_seconds, self.first_delay_seconds * 2.0 ** max(0, attempt - 2))

    @property
    def total_delay_seconds(self) -> float:
        """The most a run waits between refused logins."""
        return sum(self.delay_before(attempt) for attempt in range(2, self.attempts + 1))


LOGIN_RETRY = LoginRetry()
"""2 + 4 + 8 + 15 + 15 = 44 s of waiting at most, for a window of a few rotation function
invocations (a single-user rotation's setSecret, testSecret, finishSecret)."""


class ConnectError(Exception):
    """The database could not be reached within the connect budget."""


class LoginRefusedError(ConnectError):
    """The database refused the login from the secret, each time the secret was read again."""

    def __init__(self, message: str, *, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class Login:
    """What the secret holds for the connection; the password never shows in a repr."""

    user: str
    password: str = field(repr=False)


def on_event(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The provider framework's onEvent: returns PhysicalResourceId and Data, or raises."""
    request_type = event["RequestType"]
    if request_type == "Delete":
        _log("delete: nothing to do, data is kept", physical_id=event.get("PhysicalResourceId"))
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request_type not in ("Create", "Update"):
        raise ValueError(f"unknown RequestType {request_type!r}")

    migrations = load_migrations(MIGRATIONS_DIR)
    if not migrations:
        raise MigrationError(f"no migrations are bundled in {MIGRATIONS_DIR}")
    endpoint = _endpoint_params()
    # Created per call, not at import: tests (moto) and the runtime both get a fresh client.
    secrets_client = boto3.client("secretsmanager")
    secret_arn = os.environ["DB_SECRET_ARN"]
    budget = float(os.environ.get("DB_CONNECT_BUDGET_SECONDS", DEFAULT_CONNECT_BUDGET_SECONDS))
    with connect_with_current_login(
        lambda: read_login(secrets_client, secret_arn),
        endpoint,
        budget_seconds=budget,
        retry=LOGIN_RETRY,
    ) as conn:
        result = apply_migrations(conn, migrations)

    latest = max(m.version for m in migrations)
    _log(
        "migrations done",
        request_type=request_type,
        database=endpoint["dbname"],
        applied=list(result.applied),
        already_applied=len(result.already_applied),
        latest_version=latest,
    )
    return {
        "PhysicalResourceId": f"schema-migrations-{endpoint['dbname']}",
        "Data": {
            "LatestVersion": str(latest),
            "Applied": ",".join(str(version) for version in result.applied),
        },
    }


def read_login(secrets_client: SecretsManagerClient, secret_arn: str) -> Login:
    """The username and password of the secret's current version (AWSCURRENT)."""
    response = secrets_client.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")
    secret_string = response["SecretString"]
    try:
        secret = json.loads(secret_string)
        return Login(user=str(secret["username"]), password=str(secret["password"]))
    except (ValueError, TypeError, KeyError):
        # Never chain the parse error: it can quote the secret.
        raise ValueError(f"secret {secret_arn} is not JSON with username and password") from None


def _endpoint_params() -> dict[str, Any]:
    """libpq keyword arguments for the endpoint, from the environment (no login)."""
    sslmode = os.environ["DB_SSLMODE"]
    if sslmode not in SSL_MODES:
        raise ValueError(f"DB_SSLMODE must be one of {SSL_MODES}, not {sslmode!r}")
    params: dict[str, Any] = {
        "host": os.environ["DB_HOST"],
        "port": int(os.environ["DB_PORT"]),
        "dbname": os.environ["DB_NAME"],
        "sslmode": sslmode,
        "application_name": "db_migrate",
    }
    if sslmode == "verify-full":
        params["sslrootcert"] = certifi.where()
    return params


def connect_with_current_login(
    read: Callable[[], Login],
    endpoint: dict[str, Any],
    *,
    budget_seconds: float,
    retry: LoginRetry,
) -> psycopg.Connection[Any]:
    """Connects with the login `read` returns; a refused login is retried with a fresh `read`.

    Unreachable-database retries share one budget of `budget_seconds`; refused logins add at
    most `retry.total_delay_seconds` of waiting (each login still gets one connection attempt).
    Any other failure is raised as it is.
    """
    started = time.monotonic()
    deadline = started + budget_seconds
    attempt = 1
    while True:
        login = read()
        params = {**endpoint, "user": login.user, "password": login.password}
        try:
            return _connect(params, budget_seconds=max(0.0, deadline - time.monotonic()))
        except LoginRefusedError as refused:
            if attempt >= retry.attempts:
                target = _target(params)
                raise LoginRefusedError(
                    f"could not log in to {target}: refused {attempt} times in "
                    f"{time.monotonic() - started:.0f} s although the secret was read again "
                    f"before each login: {refused}. The secret and the database disagree "
                    "beyond a rotation's window: check the secret's AWSCURRENT version and "
                    "the last rotation",
                    sqlstate=refused.sqlstate,
                ) from None
            attempt += 1
            delay = retry.delay_before(attempt)
            _log(
                "login refused, reading the secret again",
                attempt=attempt - 1,
                of=retry.attempts,
                sqlstate=refused.sqlstate,
                retry_in_s=delay,
                error=str(refused),
            )
            time.sleep(delay)


def _connect(params: dict[str, Any], *, budget_seconds: float) -> psycopg.Connection[Any]:
    """Connects, retrying with backoff until `budget_seconds` have passed (one try at least).

    Raises LoginRefusedError at once when the server refuses the login, ConnectError otherwise.
    """
    target = _target(params)
    _log("connecting", target=target, sslmode=params["sslmode"], budget_s=budget_seconds)
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
            error = str(exc).replace(params["password"], "***") if params["password"] else str(exc)
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
            _log("connect failed, retrying", attempt=attempt, retry_in_s=delay, error=error)
            time.sleep(delay)


def _login_refused_sqlstate(exc: psycopg.OperationalError, error: str) -> str | None:
    """28P01 or 28000 when the server refused the login, else None."""
    if exc.sqlstate in LOGIN_REFUSED_SQLSTATES:
        return exc.sqlstate
    for sqlstate, message in _LOGIN_REFUSED_MESSAGES:
        if message.search(error):
            return sqlstate
    return None


def _target(params: dict[str, Any]) -> str:
    return f"{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"


def _log(message: str, **fields: Any) -> None:
    """One JSON line to CloudWatch; callers never pass credentials."""
    print(json.dumps({"message": message, **fields}, default=str), flush=True)
