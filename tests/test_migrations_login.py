"""The handler's login while the master secret rotates: refused logins are retried with the
secret read again, a bounded number of times."""

from __future__ import annotations

import json
import os
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest
from psycopg import sql

from cdk_constructs.schema_migrations import MIGRATION_TIMEOUT
from db_migrate import connection, handler
from db_migrate.connection import ConnectError, LoginRefusedError, LoginRetry
from devkit.postgres import PgDatabase
from tests.migrations_helpers import (
    BUNDLED_DATA,
    BUNDLED_VERSIONS,
    PASSWORD,
    count_secret_reads,
    event,
    history,
    table_exists,
    wait_until,
)
from tests.migrations_helpers import aws_secret as aws_secret
from tests.migrations_helpers import reachable as reachable

# --- a login refused while the master secret rotates ----------------------------------------------
#
# The first deploy of a retained environment creates the master secret's rotation schedule, and
# creating one rotates the secret at once. AWS::SecretsManager::RotationSchedule, property
# RotateImmediatelyOnUpdate
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-rotationschedule.html#cfn-secretsmanager-rotationschedule-rotateimmediatelyonupdate):
#   "The default for RotateImmediatelyOnUpdate is true. If you don't specify this value, Secrets
#   Manager rotates the secret immediately."
# A single-user rotation changes the password in the database (setSecret) before it moves
# AWSCURRENT to the new version (finishSecret): in between, the secret's current password is
# refused. The runner reads the secret again and logs in again, a bounded number of times.

FAST_LOGIN_RETRY = LoginRetry(attempts=3, first_delay_seconds=0.05, max_delay_seconds=0.05)
OLD_PASSWORD = "0ld-Rotated-Away-pw!"
NEW_PASSWORD = "N3w-After-Rotation-pw!"


def wait_until_a_password_is_required(conninfo: str) -> None:
    """pg_reload_conf() only signals the server: wait until it refuses a password-less login."""

    def refused() -> bool:
        try:
            psycopg.connect(conninfo).close()
        except psycopg.OperationalError as exc:
            return "password" in str(exc)
        return False

    wait_until(refused)


@pytest.fixture
def password_role(pg_database: PgDatabase) -> Iterator[str]:
    """A superuser (as Aurora's master user) that must log in with its password, OLD_PASSWORD.

    The test server trusts every login; a pg_hba.conf line for this role alone makes the server
    check its password (SCRAM), and goes again after the test, as the role does.
    """
    role = f"migrator_{uuid.uuid4().hex[:12]}"
    with pg_database.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(OLD_PASSWORD)
            )
        )
        row = conn.execute("SHOW hba_file").fetchone()
        assert row is not None
        hba = Path(str(row[0]))
        original = hba.read_text()
        try:
            hba.write_text(f"local all {role} scram-sha-256\n{original}")
            conn.execute("SELECT pg_reload_conf()")
            wait_until_a_password_is_required(pg_database.conninfo_as(role))
            yield role
        finally:
            hba.write_text(original)
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


class SecretRotation:
    """The steps of a Secrets Manager single-user rotation, on moto's secret and the real role."""

    def __init__(self, secret_arn: str, database: PgDatabase, role: str) -> None:
        self.secret_arn = secret_arn
        self.database = database
        self.role = role
        self.client = boto3.client("secretsmanager")
        self.client.put_secret_value(
            SecretId=secret_arn,
            SecretString=json.dumps({"username": role, "password": OLD_PASSWORD}),
        )
        self.pending_version = str(uuid.uuid4())

    def create_secret(self) -> None:
        """createSecret: the new password as the AWSPENDING version."""
        self.client.put_secret_value(
            SecretId=self.secret_arn,
            ClientRequestToken=self.pending_version,
            SecretString=json.dumps({"username": self.role, "password": NEW_PASSWORD}),
            VersionStages=["AWSPENDING"],
        )

    def set_secret(self) -> None:
        """setSecret: the database takes the pending password; AWSCURRENT still has the old."""
        with self.database.connect() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(self.role), sql.Literal(NEW_PASSWORD)
                )
            )

    def finish_secret(self) -> None:
        """finishSecret: AWSCURRENT moves to the pending version."""
        stages = self.client.describe_secret(SecretId=self.secret_arn)["VersionIdsToStages"]
        (current,) = [version for version, labels in stages.items() if "AWSCURRENT" in labels]
        self.client.update_secret_version_stage(
            SecretId=self.secret_arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId=self.pending_version,
            RemoveFromVersionId=current,
        )


def assert_no_password_in(*texts: str) -> None:
    for text in texts:
        for password in (PASSWORD, OLD_PASSWORD, NEW_PASSWORD):
            assert password not in text


@pytest.mark.parametrize(
    "database_ahead",
    [True, False],
    ids=["password-changed-before-the-run", "password-changed-between-read-and-login"],
)
def test_login_refused_mid_rotation_reads_the_secret_again_and_migrates(
    reachable: PgDatabase,
    aws_secret: str,
    password_role: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_ahead: bool,
) -> None:
    monkeypatch.setattr(handler, "LOGIN_RETRY", FAST_LOGIN_RETRY)
    rotation = SecretRotation(aws_secret, reachable, password_role)
    rotation.create_secret()
    if database_ahead:
        # The rotation is between setSecret and finishSecret when the runner starts.
        rotation.set_secret()
        reads = count_secret_reads(monkeypatch, after_first_read=rotation.finish_secret)
    else:
        # The whole rotation lands between the runner's first read and its login.
        def rotate() -> None:
            rotation.set_secret()
            rotation.finish_secret()

        reads = count_secret_reads(monkeypatch, after_first_read=rotate)

    response = handler.on_event(event("Create"), None)

    assert response["Data"] == BUNDLED_DATA
    assert reads == [OLD_PASSWORD, NEW_PASSWORD]
    with reachable.connect() as conn:
        assert [row[0] for row in history(conn)] == list(BUNDLED_VERSIONS)
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'items'")
        assert owner.fetchone() == (password_role,)  # migrated as the secret's user
    output = capsys.readouterr()
    refusals = [
        json.loads(line)
        for line in output.out.splitlines()
        if '"login refused, reading the secret again"' in line
    ]
    assert [(r["attempt"], r["sqlstate"]) for r in refusals] == [(1, "28P01")]
    assert_no_password_in(output.out, output.err)


def test_login_refused_every_time_gives_up_after_the_bounded_attempts(
    reachable: PgDatabase,
    aws_secret: str,
    password_role: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(handler, "LOGIN_RETRY", FAST_LOGIN_RETRY)
    rotation = SecretRotation(aws_secret, reachable, password_role)
    rotation.create_secret()
    rotation.set_secret()  # ... and the rotation never finishes: AWSCURRENT stays wrong
    reads = count_secret_reads(monkeypatch)

    started = time.monotonic()
    with pytest.raises(LoginRefusedError) as raised:
        handler.on_event(event("Create"), None)
    elapsed = time.monotonic() - started

    assert reads == [OLD_PASSWORD] * FAST_LOGIN_RETRY.attempts
    assert FAST_LOGIN_RETRY.total_delay_seconds <= elapsed < 10
    assert raised.value.sqlstate == "28P01"
    message = str(raised.value)
    assert f"could not log in to {password_role}@" in message
    assert f"refused {FAST_LOGIN_RETRY.attempts} times" in message
    assert "secret was read again before each login" in message
    assert "[28P01 invalid_password]" in message
    assert "password authentication failed" in message
    with reachable.connect() as conn:
        assert not table_exists(conn, "schema_migrations")
    output = capsys.readouterr()
    assert_no_password_in("".join(traceback.format_exception(raised.value)), output.out, output.err)


def test_unknown_login_gives_up_after_the_bounded_attempts(
    reachable: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Changed with the login retry: a refused login (here 28000, no such role) used to fail at
    # once; it is now retried LOGIN_RETRY.attempts times with the secret read again, then fails.
    monkeypatch.setenv("DB_CONNECT_BUDGET_SECONDS", "60")
    monkeypatch.setattr(handler, "LOGIN_RETRY", FAST_LOGIN_RETRY)
    boto3.client("secretsmanager").put_secret_value(
        SecretId=os.environ["DB_SECRET_ARN"],
        SecretString=json.dumps({"username": "nobody", "password": PASSWORD}),
    )
    reads = count_secret_reads(monkeypatch)
    started = time.monotonic()
    with pytest.raises(LoginRefusedError, match="refused 3 times") as raised:
        handler.on_event(event("Create"), None)
    assert time.monotonic() - started < 10  # not the 60 s connect budget
    assert len(reads) == FAST_LOGIN_RETRY.attempts
    assert raised.value.sqlstate == "28000"
    assert 'role "nobody" does not exist' in str(raised.value)
    assert PASSWORD not in str(raised.value)
    with reachable.connect() as conn:
        assert not table_exists(conn, "schema_migrations")


def test_other_connection_errors_still_fail_at_once_without_reading_the_secret_again(
    reachable: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_CONNECT_BUDGET_SECONDS", "60")
    monkeypatch.setenv("DB_NAME", "no_such_database")
    reads = count_secret_reads(monkeypatch)
    started = time.monotonic()
    with pytest.raises(ConnectError, match="after 1 attempts") as raised:
        handler.on_event(event("Create"), None)
    assert not isinstance(raised.value, LoginRefusedError)
    assert 'database "no_such_database" does not exist' in str(raised.value)
    assert time.monotonic() - started < 10
    assert len(reads) == 1


def test_login_retry_is_bounded_well_under_the_function_timeout() -> None:
    retry = handler.LOGIN_RETRY
    assert retry.attempts > 1
    delays = [retry.delay_before(attempt) for attempt in range(2, retry.attempts + 1)]
    assert delays == [2, 4, 8, 15, 15]
    # Worst case of the connect phase: the whole budget for an unreachable database, one
    # connect timeout past it, every backoff between refused logins, one short try per login.
    worst_case = (
        handler.DEFAULT_CONNECT_BUDGET_SECONDS
        + connection.CONNECT_TIMEOUT_SECONDS
        + retry.total_delay_seconds
        + retry.attempts * connection.MIN_CONNECT_TIMEOUT_SECONDS
    )
    assert worst_case <= MIGRATION_TIMEOUT.to_seconds() / 2
    with pytest.raises(ValueError, match="invalid"):
        LoginRetry(attempts=0)
