"""``database.engine``: each engine takes only its own settings, its versions exist in
aws-cdk-lib, and each invalid combination stops synth with one line."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aws_cdk import aws_rds as rds

from cdk_constructs.data_engine.choices import (
    ENGINE_SPECS,
    INSTANCE_CLASSES,
    DatabaseEngine,
    EngineKind,
)
from stacks.config import APP_CONFIG
from stacks.config.sections import INSTANCE_FIELDS, SERVERLESS_FIELDS, DatabaseConfig
from tests.config_helpers import assert_one_line, error_of, with_dev

DEV = APP_CONFIG.environment("dev")


def with_database(**fields: Any) -> object:
    """dev with a fresh database section: the defaults of every field not given."""
    return with_dev(database=DatabaseConfig(**fields))


def _cdk_member(engine: DatabaseEngine, version: str) -> str:
    """The aws-cdk-lib enum member that names ``version`` of ``engine``."""
    return "VER_" + version.replace(".", "_")


CDK_ENUMS = {
    DatabaseEngine.AURORA_POSTGRESQL: rds.AuroraPostgresEngineVersion,
    DatabaseEngine.AURORA_MYSQL: rds.AuroraMysqlEngineVersion,
    DatabaseEngine.POSTGRES: rds.PostgresEngineVersion,
    DatabaseEngine.MYSQL: rds.MysqlEngineVersion,
}


@pytest.mark.parametrize("engine", list(DatabaseEngine))
def test_every_offered_version_is_in_aws_cdk_libs_enum(engine: DatabaseEngine) -> None:
    """A version aws-cdk-lib does not list is one RDS may not offer: it is not offered here."""
    spec = ENGINE_SPECS[engine]
    missing = [v for v in spec.versions if not hasattr(CDK_ENUMS[engine], _cdk_member(engine, v))]
    assert missing == []
    assert spec.default_version in spec.versions
    assert spec.scale_to_zero_versions <= set(spec.versions)
    assert spec.proxy_versions <= set(spec.versions)


def test_aurora_mysql_versions_are_cdks_full_mysql_aurora_names() -> None:
    member = rds.AuroraMysqlEngineVersion.VER_3_10_4
    assert member.aurora_mysql_full_version == "8.0.mysql_aurora.3.10.4"


def test_scale_to_zero_versions_are_the_documented_minimums() -> None:
    """0 ACU: Aurora PostgreSQL 16.3+ and 17.4+, Aurora MySQL 3.08.0+."""
    postgres = ENGINE_SPECS[DatabaseEngine.AURORA_POSTGRESQL].scale_to_zero_versions
    mysql = ENGINE_SPECS[DatabaseEngine.AURORA_MYSQL].scale_to_zero_versions
    assert {"16.3", "16.13", "17.4", "17.9"} <= postgres
    assert not {"16.1", "16.2"} & postgres
    assert {"3.08.0", "3.10.4", "3.12.0"} <= mysql
    assert not {"3.04.4", "3.04.6"} & mysql
    for spec in ENGINE_SPECS.values():
        assert bool(spec.scale_to_zero_versions) == (spec.kind is EngineKind.SERVERLESS_CLUSTER)


def test_the_default_engine_and_version_are_unchanged() -> None:
    database = DatabaseConfig()
    assert database.engine is DatabaseEngine.AURORA_POSTGRESQL
    assert database.version == "16.13"


@pytest.mark.parametrize(
    ("engine", "version"),
    [
        (DatabaseEngine.AURORA_MYSQL, "3.10.4"),
        (DatabaseEngine.POSTGRES, "17.9"),
        (DatabaseEngine.MYSQL, "8.4.7"),
    ],
)
def test_each_engine_defaults_to_its_own_version(engine: DatabaseEngine, version: str) -> None:
    assert DatabaseConfig(engine=engine).version == version


@pytest.mark.parametrize("engine", [DatabaseEngine.POSTGRES, DatabaseEngine.MYSQL])
@pytest.mark.parametrize(
    ("field", "value"),
    [("min_capacity", 0), ("max_capacity", 8), ("auto_pause_minutes", 30), ("readers", 1)],
)
def test_an_instance_engine_refuses_serverless_settings(
    engine: DatabaseEngine, field: str, value: object
) -> None:
    """Auto-pause (min_capacity 0), ACUs and readers are Serverless v2 settings."""
    error = error_of(lambda: with_database(engine=engine, **{field: value}))
    assert_one_line(error, "dev", f"database.{field}", f"{field}={SERVERLESS_FIELDS[field]!r}")
    assert "one DB instance" in str(error)


@pytest.mark.parametrize("engine", [DatabaseEngine.AURORA_POSTGRESQL, DatabaseEngine.AURORA_MYSQL])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("instance_class", "t4g.small"),
        ("allocated_storage_gib", 50),
        ("max_allocated_storage_gib", 200),
        ("multi_az", True),
    ],
)
def test_a_serverless_engine_refuses_instance_settings(
    engine: DatabaseEngine, field: str, value: object
) -> None:
    error = error_of(lambda: with_database(engine=engine, **{field: value}))
    assert_one_line(error, "dev", f"database.{field}", f"{field}={INSTANCE_FIELDS[field]!r}")


@pytest.mark.parametrize(
    ("engine", "version"),
    [(DatabaseEngine.MYSQL, "8.0.46"), (DatabaseEngine.AURORA_MYSQL, "16.13")],
)
def test_a_version_of_another_engine_is_refused(engine: DatabaseEngine, version: str) -> None:
    spec = ENGINE_SPECS[engine]
    error = error_of(lambda: with_database(engine=engine, engine_version=version))
    assert_one_line(error, "dev", "database.engine_version", spec.default_version)


def test_aurora_mysql_before_3_08_cannot_pause() -> None:
    error = error_of(
        lambda: with_database(
            engine=DatabaseEngine.AURORA_MYSQL, engine_version="3.04.6", min_capacity=0, proxy=False
        )
    )
    assert_one_line(error, "dev", "database.min_capacity", "3.08.0")


def test_aurora_mysql_lts_at_half_an_acu_is_accepted() -> None:
    with_database(engine=DatabaseEngine.AURORA_MYSQL, engine_version="3.04.6")


def test_a_proxy_in_front_of_a_version_it_cannot_front_is_refused() -> None:
    """RDS Proxy's table for RDS for PostgreSQL is only confirmed for 16 and 17 here."""
    error = error_of(
        lambda: with_database(engine=DatabaseEngine.POSTGRES, engine_version="18.3", proxy=True)
    )
    assert_one_line(error, "dev", "database.proxy", "proxy=False")
    with_database(engine=DatabaseEngine.POSTGRES, engine_version="18.3", proxy=False)


def test_a_paused_aurora_mysql_cluster_cannot_have_a_proxy() -> None:
    error = error_of(
        lambda: with_database(engine=DatabaseEngine.AURORA_MYSQL, min_capacity=0, proxy=True)
    )
    assert_one_line(error, "dev", "database.proxy", "proxy=False with min_capacity 0")


@pytest.mark.parametrize(("allocated", "maximum"), [(30, 32), (100, 109), (400, 400)])
def test_storage_autoscaling_needs_10_percent_headroom(allocated: int, maximum: int) -> None:
    error = error_of(
        lambda: with_database(
            engine=DatabaseEngine.MYSQL,
            allocated_storage_gib=allocated,
            max_allocated_storage_gib=max(maximum, 22),
        )
    )
    assert_one_line(error, "dev", "database.max_allocated_storage_gib", "* 1.1")


def test_storage_at_exactly_10_percent_headroom_is_accepted() -> None:
    with_database(
        engine=DatabaseEngine.MYSQL, allocated_storage_gib=100, max_allocated_storage_gib=110
    )


@pytest.mark.parametrize("name", ["db.t4g.micro", "t3.micro", "m5.large", ""])
def test_an_instance_class_not_offered_is_refused(name: str) -> None:
    error = error_of(lambda: with_database(engine=DatabaseEngine.POSTGRES, instance_class=name))
    assert_one_line(error, "dev", "database.instance_class", "t4g.micro", "r7g.large")


def test_every_offered_instance_class_is_an_ec2_size_name() -> None:
    for name in INSTANCE_CLASSES:
        family, size = name.split(".")
        assert family.endswith("g")  # Graviton, as the platform's other compute
        assert size in {"micro", "small", "medium", "large", "xlarge", "2xlarge"}


def test_an_instance_engine_has_no_restore_test_but_keeps_its_backups() -> None:
    prod = APP_CONFIG.environment("prod")
    database = DatabaseConfig(engine=DatabaseEngine.POSTGRES, proxy=False)
    production = {"retain_data": True, "web": replace(DEV.web, allow_plain_http=True)}
    error = error_of(lambda: with_dev(database=database, backup=prod.backup, **production))
    assert_one_line(error, "dev", "backup.restore_test", "restore_test=False")
    unset = replace(prod.backup, restore_test=None)
    with_dev(database=database, backup=unset, **production)


def test_the_shipped_examples_use_the_instance_engines() -> None:
    spa, classic = APP_CONFIG.environment("spa"), APP_CONFIG.environment("classic")
    assert (spa.database.engine, spa.database.multi_az, spa.database.proxy) == (
        DatabaseEngine.POSTGRES,
        True,
        True,
    )
    assert classic.database.engine is DatabaseEngine.MYSQL
    assert classic.retain_data
    assert classic.api.kind == DEV.api.kind
    assert classic.web.runtime == DEV.web.runtime
