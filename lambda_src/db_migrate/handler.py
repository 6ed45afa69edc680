"""CloudFormation custom resource (CDK provider framework onEvent) that migrates the database.

Create and Update apply the migrations bundled in `migrations/`; an exception fails the deploy,
so CloudFormation rolls back. Delete never touches the database: removing the resource (or the
stack) must not drop data.

Environment:
    DB_SECRET_ARN  Secrets Manager secret in the RDS JSON shape; only username and password are
                   used, so the endpoint can be an RDS Proxy rather than the secret's host.
    DB_HOST, DB_PORT, DB_NAME
    DB_SSLMODE     verify-full (RDS Proxy: its certificate chains to Amazon Root CA, which
                   certifi's bundle has) or require (direct Aurora connections).
    DB_CONNECT_BUDGET_SECONDS  optional, default 180: how long connecting is retried, which
                   covers an auto-paused Aurora Serverless v2 resuming.
"""

from __future__ import annotations

import json
import os
import time
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
DEFAULT_CONNECT_BUDGET_SECONDS = 180.0
MAX_BACKOFF_SECONDS = 15.0
PERMANENT_CONNECT_ERRORS = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "certificate verify failed",
)
"""Failures that waiting cannot fix: fail the deploy now instead of after the whole budget."""


class ConnectError(Exception):
    """The database could not be reached within the connect budget."""


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
    # Created per call, not at import: tests (moto) and the runtime both get a fresh client.
    params = _connection_params(boto3.client("secretsmanager"))
    budget = float(os.environ.get("DB_CONNECT_BUDGET_SECONDS", DEFAULT_CONNECT_BUDGET_SECONDS))
    with _connect(params, budget_seconds=budget) as conn:
        result = apply_migrations(conn, migrations)

    latest = max(m.version for m in migrations)
    _log(
        "migrations done",
        request_type=request_type,
        database=params["dbname"],
        applied=list(result.applied),
        already_applied=len(result.already_applied),
        latest_version=latest,
    )
    return {
        "PhysicalResourceId": f"schema-migrations-{params['dbname']}",
        "Data": {
            "LatestVersion": str(latest),
            "Applied": ",".join(str(version) for version in result.applied),
        },
    }


def _connection_params(secrets_client: SecretsManagerClient) -> dict[str, Any]:
    """libpq keyword arguments: the endpoint from the environment, the login from the secret."""
    sslmode = os.environ["DB_SSLMODE"]
    if sslmode not in SSL_MODES:
        raise ValueError(f"DB_SSLMODE must be one of {SSL_MODES}, not {sslmode!r}")
    secret_arn = os.environ["DB_SECRET_ARN"]
    secret_string = secrets_client.get_secret_value(SecretId=secret_arn)["SecretString"]
    try:
        secret = json.loads(secret_string)
        user, password = str(secret["username"]), str(secret["password"])
    except (ValueError, TypeError, KeyError):
        # Never chain the parse error: it can quote the secret.
        raise ValueError(f"secret {secret_arn} is not JSON with username and password") from None

    params: dict[str, Any] = {
        "host": os.environ["DB_HOST"],
        "port": int(os.environ["DB_PORT"]),
        "dbname": os.environ["DB_NAME"],
        "user": user,
        "password": password,
        "sslmode": sslmode,
        "application_name": "db_migrate",
    }
    if sslmode == "verify-full":
        params["sslrootcert"] = certifi.where()
    return params


def _connect(params: dict[str, Any], *, budget_seconds: float) -> psycopg.Connection[Any]:
    """Connects, retrying with backoff until `budget_seconds` have passed."""
    target = f"{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
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
                connect_timeout=max(2, min(CONNECT_TIMEOUT_SECONDS, int(remaining))),
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            # libpq does not echo passwords, but scrub anyway: this text reaches CloudFormation.
            error = str(exc).replace(params["password"], "***") if params["password"] else str(exc)
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


def _log(message: str, **fields: Any) -> None:
    """One JSON line to CloudWatch; callers never pass credentials."""
    print(json.dumps({"message": message, **fields}, default=str), flush=True)
