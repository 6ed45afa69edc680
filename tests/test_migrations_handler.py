"""The custom resource handler: Create/Update/Delete, its environment, the engine family."""

from __future__ import annotations

import json
import re
import traceback
from pathlib import Path

import boto3
import pytest

from cdk_constructs.data_engine.choices import SslMode
from db_migrate import handler
from db_migrate.connection import ConnectError, Endpoint, MigrationRun
from db_migrate.dialects import DEFAULT_FAMILY, DIALECTS, Dialect, EngineFamily
from db_migrate.migrate import MigrationError, MigrationResult
from devkit.postgres import PgDatabase
from tests.migrations_helpers import (
    BUNDLED,
    BUNDLED_DATA,
    BUNDLED_VERSIONS,
    PASSWORD,
    event,
    history,
    migrate,
    table_exists,
    write_migrations,
)
from tests.migrations_helpers import aws_secret as aws_secret
from tests.migrations_helpers import reachable as reachable


def test_create_applies_the_bundled_migrations(
    reachable: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    response = handler.on_event(event("Create"), None)

    assert response == {
        "PhysicalResourceId": f"schema-migrations-{reachable.dbname}",
        "Data": BUNDLED_DATA,
    }
    with reachable.connect() as conn:
        assert [row[0] for row in history(conn)] == list(BUNDLED_VERSIONS)
    output = capsys.readouterr()
    assert f'"applied": {list(BUNDLED_VERSIONS)}' in output.out
    assert PASSWORD not in output.out + output.err


@pytest.mark.usefixtures("reachable")
def test_update_with_nothing_new_applies_nothing() -> None:
    created = handler.on_event(event("Create"), None)

    response = handler.on_event(event("Update", created["PhysicalResourceId"]), None)

    assert response == {
        "PhysicalResourceId": created["PhysicalResourceId"],
        "Data": {**BUNDLED_DATA, "Applied": ""},
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
    with pytest.raises(ConnectError) as raised:
        handler.on_event(event("Create"), None)

    message = str(raised.value)
    attempts = re.search(r"after (\d+) attempts", message)
    assert attempts is not None
    assert int(attempts[1]) >= 2
    assert "nowhere" in message
    output = capsys.readouterr()
    assert PASSWORD not in "".join(traceback.format_exception(raised.value)) + output.out
    assert PASSWORD not in output.err


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
    dialect = DIALECTS[DEFAULT_FAMILY]
    monkeypatch.setitem(
        DIALECTS, DEFAULT_FAMILY, Dialect(migrations_dir=tmp_path, migrate=dialect.migrate)
    )
    with pytest.raises(MigrationError, match="no migrations are bundled"):
        handler.on_event(event("Create"), None)


# --- the engine family picks the migration set and the dialect ---------------------------------


class RecordingDialect:
    """A family's run that records what the handler gave it instead of logging in."""

    def __init__(self) -> None:
        self.calls: list[tuple[Endpoint, list[str]]] = []

    def __call__(self, run: MigrationRun) -> MigrationResult:
        self.calls.append((run.endpoint, [migration.filename for migration in run.migrations]))
        return MigrationResult(applied=(7,), already_applied=())


def refuse(run: MigrationRun) -> MigrationResult:
    raise AssertionError("the wrong family's run")


@pytest.mark.parametrize(
    ("variable", "family"),
    [
        (None, EngineFamily.POSTGRESQL),
        ("postgresql", EngineFamily.POSTGRESQL),
        ("mysql", EngineFamily.MYSQL),
    ],
    ids=["unset", "postgresql", "mysql"],
)
@pytest.mark.usefixtures("aws_secret")
def test_the_engine_family_picks_the_migration_set_and_the_dialect(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str | None, family: EngineFamily
) -> None:
    """Without DB_ENGINE_FAMILY (every runner deployed so far) the family is PostgreSQL; the
    CDK app sets ``mysql`` for Aurora MySQL and RDS for MySQL."""
    if variable is not None:
        monkeypatch.setenv("DB_ENGINE_FAMILY", variable)
    directory = write_migrations(tmp_path / "family", {"0007_only_here.sql": "SELECT 7;"})
    run = RecordingDialect()
    for other in EngineFamily:  # any other family's run fails the test
        monkeypatch.setitem(DIALECTS, other, Dialect(migrations_dir=tmp_path, migrate=refuse))
    monkeypatch.setitem(DIALECTS, family, Dialect(migrations_dir=directory, migrate=run))

    response = handler.on_event(event("Create"), None)

    assert response["Data"] == {"LatestVersion": "7", "Applied": "7"}
    ((endpoint, applied),) = run.calls
    assert applied == ["0007_only_here.sql"]
    assert endpoint.sslmode == "verify-full"


def test_the_runner_accepts_the_tls_modes_the_app_sets() -> None:
    assert set(handler.SSL_MODES) == {mode.value for mode in SslMode}


def test_each_family_has_its_own_migration_set() -> None:
    assert DEFAULT_FAMILY is EngineFamily.POSTGRESQL
    for family, dialect in DIALECTS.items():
        assert dialect.migrations_dir.name == family.value
    assert DIALECTS[EngineFamily.POSTGRESQL].migrations_dir == BUNDLED
    assert {family.value for family in EngineFamily} == {"postgresql", "mysql"}


@pytest.mark.usefixtures("aws_secret")
def test_an_unknown_engine_family_fails_the_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_ENGINE_FAMILY", "oracle")
    with pytest.raises(ValueError, match="'oracle' is not a valid EngineFamily"):
        handler.on_event(event("Create"), None)
