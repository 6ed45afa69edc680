"""CloudFormation custom resource (CDK provider framework onEvent) that migrates the database.

Create and Update apply the engine family's migrations bundled in `migrations/<family>/`; an
exception fails the deploy, so CloudFormation rolls back. Delete never touches the database:
removing the resource (or the stack) must not drop data.

Environment:
    DB_SECRET_ARN  Secrets Manager secret in the RDS JSON shape; only username and password are
                   used, so the endpoint comes from DB_HOST rather than the secret's host.
    DB_HOST, DB_PORT, DB_NAME
                   The cluster writer endpoint: the master user's password login never goes
                   through RDS Proxy (whose default auth scheme is IAM_AUTH).
    DB_SSLMODE     require (the writer directly: encrypted, the Aurora CA bundle is not in the
                   Lambda trust store) or verify-full (an endpoint whose certificate chains to
                   Amazon Root CA, which certifi's bundle has, as RDS Proxy's does).
    DB_ENGINE_FAMILY  optional, default postgresql: which dialect (``dialects``) migrates, with
                   its migration set ``migrations/<family>/``: postgresql or mysql (Aurora
                   MySQL, RDS for MySQL; see ``mysql`` for what a MySQL run guarantees).
    DB_CONNECT_BUDGET_SECONDS  optional, default 180: how long connecting is retried, which
                   covers an auto-paused Aurora Serverless v2 resuming.

A refused login is retried with the secret read again each time, `LOGIN_RETRY.attempts` logins
at most (see ``connection``): a rotation of the secret may be switching the password.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import boto3

from .connection import Endpoint, Login, LoginRetry, MigrationRun, log
from .dialects import DEFAULT_FAMILY, DIALECTS, EngineFamily
from .migrate import MigrationError, load_migrations

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

SSL_MODES = ("verify-full", "require")
DEFAULT_CONNECT_BUDGET_SECONDS = 180.0
LOGIN_RETRY = LoginRetry()
"""2 + 4 + 8 + 15 + 15 = 44 s of waiting at most, for a window of a few rotation function
invocations (a single-user rotation's setSecret, testSecret, finishSecret)."""


def on_event(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The provider framework's onEvent: returns PhysicalResourceId and Data, or raises."""
    request_type = event["RequestType"]
    if request_type == "Delete":
        log("delete: nothing to do, data is kept", physical_id=event.get("PhysicalResourceId"))
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request_type not in ("Create", "Update"):
        raise ValueError(f"unknown RequestType {request_type!r}")

    dialect = DIALECTS[EngineFamily(os.environ.get("DB_ENGINE_FAMILY", DEFAULT_FAMILY))]
    migrations = load_migrations(dialect.migrations_dir)
    if not migrations:
        raise MigrationError(f"no migrations are bundled in {dialect.migrations_dir}")
    endpoint = _endpoint()
    # Created per call, not at import: tests (moto) and the runtime both get a fresh client.
    secrets_client = boto3.client("secretsmanager")
    secret_arn = os.environ["DB_SECRET_ARN"]
    budget = float(os.environ.get("DB_CONNECT_BUDGET_SECONDS", DEFAULT_CONNECT_BUDGET_SECONDS))
    result = dialect.migrate(
        MigrationRun(
            read=lambda: read_login(secrets_client, secret_arn),
            endpoint=endpoint,
            migrations=migrations,
            budget_seconds=budget,
            retry=LOGIN_RETRY,
        )
    )

    latest = max(m.version for m in migrations)
    log(
        "migrations done",
        request_type=request_type,
        database=endpoint.dbname,
        applied=list(result.applied),
        already_applied=len(result.already_applied),
        latest_version=latest,
    )
    return {
        "PhysicalResourceId": f"schema-migrations-{endpoint.dbname}",
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


def _endpoint() -> Endpoint:
    """The endpoint from the environment (no login)."""
    sslmode = os.environ["DB_SSLMODE"]
    if sslmode not in SSL_MODES:
        raise ValueError(f"DB_SSLMODE must be one of {SSL_MODES}, not {sslmode!r}")
    return Endpoint(
        host=os.environ["DB_HOST"],
        port=int(os.environ["DB_PORT"]),
        dbname=os.environ["DB_NAME"],
        sslmode=sslmode,
    )
