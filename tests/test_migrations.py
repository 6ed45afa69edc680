"""The migration runner, bundled migrations and custom resource handler, on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws
from psycopg import sql
from psycopg.rows import TupleRow

from cdk_constructs.schema_migrations import MIGRATION_TIMEOUT
from db_migrate import handler
from db_migrate.migrate import (
    ADVISORY_LOCK_KEY,
    ChecksumMismatchError,
    MigrationError,
    MigrationFailedError,
    MigrationResult,
    apply_migrations,
    load_migrations,
)
from stacks.data_stack import API_DB_USER
from tests.postgres import PgDatabase

BUNDLED = handler.MIGRATIONS_DIR
BUNDLED_VERSIONS = (1, 2)
PASSWORD = "Sup3r-s3cret-pw!"  # a made-up password that must never be echoed

Conn = psycopg.Connection[TupleRow]


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def migrate(database: PgDatabase, directory: Path = BUNDLED) -> MigrationResult:
    """One runner on a fresh connection; not in autocommit, which the runner must switch on."""
    with psycopg.connect(database.conninfo) as conn:
        return apply_migrations(conn, load_migrations(directory))


def table_exists(conn: Conn, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def history(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    ).fetchall()


def advisory_locks(conn: Conn, key: int) -> tuple[int, int]:
    """(granted, waiting) sessions on advisory lock `key` in the current database."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
        " FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND d.datname = current_database()"
        " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        (key,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the runners to overlap"
        time.sleep(0.01)


# --- load_migrations -------------------------------------------------------------------------


def test_load_migrations_orders_by_version_and_skips_other_files(tmp_path: Path) -> None:
    write_migrations(
        tmp_path, {"0010_later.sql": "SELECT 10;", "0002_first.sql": "SELECT 2;", "notes.md": "x"}
    )
    migrations = load_migrations(tmp_path)
    assert [(m.version, m.name, m.sql) for m in migrations] == [
        (2, "first", "SELECT 2;"),
        (10, "later", "SELECT 10;"),
    ]
    assert migrations[0].checksum == hashlib.sha256(b"SELECT 2;").hexdigest()


@pytest.mark.parametrize(
    "filename", ["1_items.sql", "00001_items.sql", "0001-items.sql", "0001_Items.sql", "0001_.sql"]
)
def test_load_migrations_rejects_a_badly_named_file(tmp_path: Path, filename: str) -> None:
    write_migrations(tmp_path, {"0001_ok.sql": "SELECT 1;", filename: "SELECT 1;"})
    with pytest.raises(MigrationError, match=re.escape(filename)):
        load_migrations(tmp_path)


def test_load_migrations_rejects_duplicate_versions(tmp_path: Path) -> None:
    write_migrations(tmp_path, {"0003_a.sql": "SELECT 1;", "0003_b.sql": "SELECT 2;"})
    with pytest.raises(MigrationError, match=r"0003_a\.sql.*0003_b\.sql.*version 3"):
        load_migrations(tmp_path)


# --- apply_migrations --------------------------------------------------------------------------


def test_fresh_database_gets_every_bundled_migration(pg_database: PgDatabase) -> None:
    result = migrate(pg_database)

    assert result == MigrationResult(applied=BUNDLED_VERSIONS, already_applied=())
    files = sorted(BUNDLED.glob("*.sql"))
    expected = [
        (int(f.name[:4]), f.stem[5:], hashlib.sha256(f.read_bytes()).hexdigest()) for f in files
    ]
    with pg_database.connect() as conn:
        assert history(conn) == expected
        assert table_exists(conn, "items")


def test_second_run_applies_nothing(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as conn:
        conn.execute("INSERT INTO items (name) VALUES ('kept')")
        before = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()

    result = migrate(pg_database)

    assert result == MigrationResult(applied=(), already_applied=BUNDLED_VERSIONS)
    with pg_database.connect() as conn:
        assert conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall() == (
            before
        )
        assert conn.execute("SELECT name FROM items").fetchall() == [("kept",)]


def test_edited_applied_migration_stops_the_run_before_anything_is_applied(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(BUNDLED, directory)
    migrate(pg_database, directory)
    applied_checksum = hashlib.sha256((directory / "0001_items.sql").read_bytes()).hexdigest()
    with (directory / "0001_items.sql").open("a") as edited:
        edited.write("\n-- edited after it was applied\n")
    edited_checksum = hashlib.sha256((directory / "0001_items.sql").read_bytes()).hexdigest()
    write_migrations(directory, {"0003_extra.sql": "CREATE TABLE extra (id integer);"})

    with pytest.raises(ChecksumMismatchError) as raised:
        migrate(pg_database, directory)

    message = str(raised.value)
    assert "migration 1 (0001_items.sql)" in message
    assert applied_checksum in message
    assert edited_checksum in message
    with pg_database.connect() as conn:
        assert not table_exists(conn, "extra")
        assert [row[0] for row in history(conn)] == list(BUNDLED_VERSIONS)


def test_applied_version_without_its_file_is_refused(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();", "0002_b.sql": "CREATE TABLE b ();"}
    )
    migrate(pg_database, directory)
    (directory / "0002_b.sql").unlink()
    write_migrations(directory, {"0003_c.sql": "CREATE TABLE c ();"})

    with pytest.raises(MigrationError, match=r"applied migration versions \[2\] that have no file"):
        migrate(pg_database, directory)
    with pg_database.connect() as conn:
        assert not table_exists(conn, "c")


def test_pending_migration_older_than_the_latest_applied_is_refused(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();", "0003_c.sql": "CREATE TABLE c ();"}
    )
    migrate(pg_database, directory)
    write_migrations(directory, {"0002_b.sql": "CREATE TABLE b ();"})

    with pytest.raises(MigrationError, match=r"0002_b\.sql is older than .* version 3"):
        migrate(pg_database, directory)
    with pg_database.connect() as conn:
        assert not table_exists(conn, "b")


def test_failing_migration_leaves_no_trace_and_stops_the_run(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "0001_first.sql": "CREATE TABLE first (id integer);",
            "0002_broken.sql": "CREATE TABLE half_done (id integer);\nSELECT 1 / 0;",
            "0003_after.sql": "CREATE TABLE after (id integer);",
        },
    )
    with pg_database.connect() as conn:
        with pytest.raises(MigrationFailedError) as raised:
            apply_migrations(conn, load_migrations(directory))
        # The session lock is released although the run failed and the session is still open.
        with pg_database.connect() as other:
            assert advisory_locks(other, ADVISORY_LOCK_KEY) == (0, 0)

    message = str(raised.value)
    assert "migration 2 (0002_broken.sql)" in message
    assert "[22012] division by zero" in message
    assert "applied earlier in this run: 1" in message
    with pg_database.connect() as conn:
        assert table_exists(conn, "first")
        assert not table_exists(conn, "half_done")
        assert not table_exists(conn, "after")
        assert [row[0] for row in history(conn)] == [1]

    # Never applied, so the broken file may still be fixed in place.
    write_migrations(directory, {"0002_broken.sql": "CREATE TABLE half_done (id integer);"})
    assert migrate(pg_database, directory) == MigrationResult(applied=(2, 3), already_applied=(1,))


def test_migration_and_its_history_row_commit_together(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    # The SQL succeeds, then recording it fails (its version is taken): both must roll back.
    squatter = "INSERT INTO schema_migrations (version, name, checksum) VALUES (1, 'other', '-');"
    directory = write_migrations(
        tmp_path / "m", {"0001_made.sql": f"CREATE TABLE made (id integer);\n{squatter}"}
    )

    with pytest.raises(MigrationFailedError, match=r"\[23505\] duplicate key"):
        migrate(pg_database, directory)
    with pg_database.connect() as conn:
        assert not table_exists(conn, "made")
        assert history(conn) == []


def test_concurrent_runners_apply_each_migration_exactly_once(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    gate = 4242  # the first migration blocks on this lock until the test lets it go
    directory = write_migrations(
        tmp_path / "m",
        {
            "0001_slow.sql": f"SELECT pg_advisory_xact_lock({gate});\nCREATE TABLE runs (n int);",
            "0002_count.sql": "INSERT INTO runs VALUES (1);",  # would count a second execution
        },
    )
    migrations = load_migrations(directory)

    def run() -> MigrationResult:
        with pg_database.connect() as conn:
            return apply_migrations(conn, migrations)

    # The observer closes first on the way out, so a failed wait cannot leave a runner blocked.
    with ThreadPoolExecutor(max_workers=2) as pool, pg_database.connect() as observer:
        observer.execute("SELECT pg_advisory_lock(%s)", (gate,))
        first = pool.submit(run)
        wait_until(lambda: advisory_locks(observer, ADVISORY_LOCK_KEY) == (1, 0))
        wait_until(lambda: advisory_locks(observer, gate) == (1, 1))  # first is mid-migration
        second = pool.submit(run)
        wait_until(lambda: advisory_locks(observer, ADVISORY_LOCK_KEY) == (1, 1))  # second waits
        observer.execute("SELECT pg_advisory_unlock(%s)", (gate,))
        results = [first.result(timeout=30), second.result(timeout=30)]

    assert results == [
        MigrationResult(applied=(1, 2), already_applied=()),
        MigrationResult(applied=(), already_applied=(1, 2)),
    ]
    with pg_database.connect() as conn:
        assert conn.execute("SELECT n FROM runs").fetchall() == [(1,)]
        assert [row[0] for row in history(conn)] == [1, 2]


def test_waiting_for_another_runner_is_bounded(pg_database: PgDatabase) -> None:
    with pg_database.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        with (
            pg_database.connect() as conn,
            pytest.raises(MigrationError, match="another migration run still held the lock"),
        ):
            apply_migrations(conn, load_migrations(BUNDLED), lock_timeout_seconds=1)
        assert not table_exists(holder, "schema_migrations")


# --- the bundled schema ------------------------------------------------------------------------


def test_items_defaults_constraints_and_pagination_index(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as conn:
        row = conn.execute(
            "INSERT INTO items (name) VALUES (%s)"
            " RETURNING id IS NOT NULL, description, version, created_at = updated_at",
            ("n" * 200,),
        ).fetchone()
        assert row == (True, "", 1, True)
        conn.execute("INSERT INTO items (name, description) VALUES ('ok', %s)", ("d" * 2000,))

        invalid = [
            ("", "", 1),
            (" \t\n", "", 1),
            ("n" * 201, "", 1),
            ("ok", "d" * 2001, 1),
            ("ok", "", 0),
        ]
        for name, description, version in invalid:
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "INSERT INTO items (name, description, version) VALUES (%s, %s, %s)",
                    (name, description, version),
                )
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)

        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'items'"
        ).fetchall()
        assert any(str(d).endswith("USING btree (created_at, id)") for (d,) in indexes)


def test_app_api_reads_and_writes_items(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    # The user the CDK app grants rds-db:connect for is the one the migrations create.
    with pg_database.connect(API_DB_USER) as api:
        row = api.execute("INSERT INTO items (name) VALUES ('a') RETURNING id").fetchone()
        assert row is not None
        item_id = row[0]
        api.execute("UPDATE items SET version = version + 1 WHERE id = %s", (item_id,))
        assert api.execute("SELECT name, version FROM items").fetchall() == [("a", 2)]
        api.execute("DELETE FROM items WHERE id = %s", (item_id,))
        assert api.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_app_api_cannot_change_the_schema_or_its_history(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    denied = [
        "CREATE TABLE sneaky (id integer)",
        "DROP TABLE items",
        "ALTER TABLE items ADD COLUMN sneaky integer",
        "SELECT * FROM schema_migrations",
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'x', 'x')",
        "CREATE TEMPORARY TABLE scratch (id integer)",
    ]
    with pg_database.connect("app_api") as api:
        for statement in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                api.execute(statement)
    with pg_database.connect() as conn:
        assert table_exists(conn, "items")
        assert not table_exists(conn, "sneaky")


@pytest.fixture
def rds_iam_role(pg_database: PgDatabase) -> Iterator[None]:
    """Aurora's rds_iam role; roles are cluster-wide, so it goes again after the test."""
    with pg_database.connect() as conn:
        conn.execute("CREATE ROLE rds_iam NOLOGIN")
    yield
    with pg_database.connect() as conn:
        conn.execute("DROP ROLE rds_iam")


@pytest.mark.usefixtures("rds_iam_role")
def test_app_api_joins_rds_iam_where_it_exists(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as conn:
        assert conn.execute("SELECT pg_has_role('app_api', 'rds_iam', 'MEMBER')").fetchone() == (
            True,
        )


# --- the custom resource handler ---------------------------------------------------------------


def event(request_type: str, physical_id: str | None = None) -> dict[str, Any]:
    """A provider framework onEvent payload."""
    payload: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
        "LogicalResourceId": "SchemaMigrations",
        "ResourceType": "Custom::SchemaMigrations",
        "ResourceProperties": {},
    }
    if physical_id is not None:
        payload["PhysicalResourceId"] = physical_id
    return payload


@pytest.fixture
def aws_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The handler's environment with its secret in moto; the database is unreachable. The ARN."""
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "DB_HOST": str(tmp_path / "nowhere"),  # a Unix socket directory without a server
        "DB_PORT": "5432",
        "DB_NAME": "app",
        "DB_SSLMODE": "verify-full",
        "DB_CONNECT_BUDGET_SECONDS": "0.3",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="db-admin",
            # host and dbname point elsewhere: the endpoint comes from the env variables.
            SecretString=json.dumps(
                {
                    "username": "postgres",
                    "password": PASSWORD,
                    "host": "db.invalid",
                    "port": 5432,
                    "dbname": "postgres",
                    "engine": "postgres",
                }
            ),
        )
        monkeypatch.setenv("DB_SECRET_ARN", secret["ARN"])
        yield secret["ARN"]


@pytest.fixture
def reachable(
    aws_secret: str, monkeypatch: pytest.MonkeyPatch, pg_database: PgDatabase
) -> PgDatabase:
    """Points the handler at the test database."""
    monkeypatch.setenv("DB_HOST", pg_database.host)
    monkeypatch.setenv("DB_PORT", str(pg_database.port))
    monkeypatch.setenv("DB_NAME", pg_database.dbname)
    return pg_database


def test_create_applies_the_bundled_migrations(
    reachable: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    response = handler.on_event(event("Create"), None)

    assert response == {
        "PhysicalResourceId": f"schema-migrations-{reachable.dbname}",
        "Data": {"LatestVersion": "2", "Applied": "1,2"},
    }
    with reachable.connect() as conn:
        assert [row[0] for row in history(conn)] == list(BUNDLED_VERSIONS)
    output = capsys.readouterr()
    assert '"applied": [1, 2]' in output.out
    assert PASSWORD not in output.out + output.err


@pytest.mark.usefixtures("reachable")
def test_update_with_nothing_new_applies_nothing() -> None:
    created = handler.on_event(event("Create"), None)

    response = handler.on_event(event("Update", created["PhysicalResourceId"]), None)

    assert response == {
        "PhysicalResourceId": created["PhysicalResourceId"],
        "Data": {"LatestVersion": "2", "Applied": ""},
    }


@pytest.mark.usefixtures("aws_secret")
def test_delete_never_touches_the_database(
    pg_database: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(pg_database)
    # Neither the secret nor a database is there (DB_HOST is nowhere): Delete must need neither.
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone")

    response = handler.on_event(event("Delete", "schema-migrations-app"), None)

    assert response == {"PhysicalResourceId": "schema-migrations-app"}
    with pg_database.connect() as conn:
        assert table_exists(conn, "items")
        assert [row[0] for row in history(conn)] == list(BUNDLED_VERSIONS)


@pytest.mark.usefixtures("aws_secret")
def test_unreachable_database_fails_after_retries_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(handler.ConnectError) as raised:
        handler.on_event(event("Create"), None)

    message = str(raised.value)
    attempts = re.search(r"after (\d+) attempts", message)
    assert attempts is not None
    assert int(attempts[1]) >= 2
    assert "nowhere" in message
    output = capsys.readouterr()
    assert PASSWORD not in "".join(traceback.format_exception(raised.value)) + output.out
    assert PASSWORD not in output.err


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

FAST_LOGIN_RETRY = handler.LoginRetry(attempts=3, first_delay_seconds=0.05, max_delay_seconds=0.05)
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


def count_secret_reads(
    monkeypatch: pytest.MonkeyPatch, after_first_read: Callable[[], None] = lambda: None
) -> list[str]:
    """Wraps the handler's secret reader; returns the passwords it read, in order."""
    passwords: list[str] = []
    read_login = handler.read_login

    def reading(client: Any, secret_arn: str) -> handler.Login:
        login = read_login(client, secret_arn)
        passwords.append(login.password)
        if len(passwords) == 1:
            after_first_read()
        return login

    monkeypatch.setattr(handler, "read_login", reading)
    return passwords


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

    assert response["Data"] == {"LatestVersion": "2", "Applied": "1,2"}
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
    with pytest.raises(handler.LoginRefusedError) as raised:
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
    with pytest.raises(handler.LoginRefusedError, match="refused 3 times") as raised:
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
    with pytest.raises(handler.ConnectError, match="after 1 attempts") as raised:
        handler.on_event(event("Create"), None)
    assert not isinstance(raised.value, handler.LoginRefusedError)
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
        + handler.CONNECT_TIMEOUT_SECONDS
        + retry.total_delay_seconds
        + retry.attempts * handler.MIN_CONNECT_TIMEOUT_SECONDS
    )
    assert worst_case <= MIGRATION_TIMEOUT.to_seconds() / 2
    with pytest.raises(ValueError, match="invalid"):
        handler.LoginRetry(attempts=0)


@pytest.mark.parametrize(
    "secret_string",
    [PASSWORD, json.dumps({"username": "postgres", "pw": PASSWORD})],
    ids=["not-json", "no-password-key"],
)
def test_malformed_secret_fails_without_quoting_it(aws_secret: str, secret_string: str) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=aws_secret, SecretString=secret_string)

    with pytest.raises(ValueError, match="is not JSON with username and password") as raised:
        handler.on_event(event("Create"), None)
    assert PASSWORD not in "".join(traceback.format_exception(raised.value))


@pytest.mark.usefixtures("aws_secret")
def test_sslmode_must_verify_or_require_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_SSLMODE", "disable")
    with pytest.raises(ValueError, match="DB_SSLMODE must be one of"):
        handler.on_event(event("Create"), None)


@pytest.mark.usefixtures("aws_secret")
def test_missing_bundled_migrations_fail_the_deploy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(handler, "MIGRATIONS_DIR", tmp_path)
    with pytest.raises(MigrationError, match="no migrations are bundled"):
        handler.on_event(event("Create"), None)
